// The base of InvitationStore decorators: every call goes to the wrapped store unchanged, so a
// decorator overrides only the calls it is about.
#ifndef SECURELINK_STORAGE_FORWARDING_INVITATION_STORE_H_
#define SECURELINK_STORAGE_FORWARDING_INVITATION_STORE_H_

#include <optional>
#include <vector>

#include "storage/invitation_store.h"

namespace securelink::invitations {

class ForwardingInvitationStore : public InvitationStore {
 public:
  // `store` must outlive this object.
  explicit ForwardingInvitationStore(InvitationStore& store) : store_(store) {}

  absl::StatusOr<InsertResult> Insert(const NewInvitation& row, absl::Time now) override {
    return store_.Insert(row, now);
  }
  std::vector<absl::StatusOr<InsertResult>> InsertEach(const std::vector<NewInvitation>& rows,
                                                       absl::Time now) override {
    return store_.InsertEach(rows, now);
  }
  absl::StatusOr<std::vector<BatchOutcome>> InsertBatch(const std::vector<NewInvitation>& rows,
                                                        absl::Time now, bool dry_run) override {
    return store_.InsertBatch(rows, now, dry_run);
  }
  absl::StatusOr<int> ExpireDue(absl::Time now, int limit) override {
    return store_.ExpireDue(now, limit);
  }
  absl::StatusOr<std::vector<Invitation>> TakeOverDueAccepts(absl::Time now, int limit,
                                                             absl::Duration lease) override {
    return store_.TakeOverDueAccepts(now, limit, lease);
  }
  absl::StatusOr<std::optional<ResendRecord>> FindResend(absl::string_view request_id) override {
    return store_.FindResend(request_id);
  }
  absl::StatusOr<Invitation> Get(absl::string_view id) override { return store_.Get(id); }
  absl::StatusOr<Invitation> GetByTokenHash(absl::string_view token_hash) override {
    return store_.GetByTokenHash(token_hash);
  }
  absl::StatusOr<InvitationPage> List(const InvitationQuery& query, absl::Time now) override {
    return store_.List(query, now);
  }
  absl::StatusOr<Invitation> Update(absl::string_view id, absl::Time now,
                                    const Decision& decide) override {
    return store_.Update(id, now, decide);
  }

 protected:
  InvitationStore& store_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_FORWARDING_INVITATION_STORE_H_
