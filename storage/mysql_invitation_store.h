// InvitationStore on MySQL/MariaDB through the connection pool.
#ifndef SECURELINK_STORAGE_MYSQL_INVITATION_STORE_H_
#define SECURELINK_STORAGE_MYSQL_INVITATION_STORE_H_

#include "storage/connection_pool.h"
#include "storage/invitation_store.h"

namespace securelink::invitations {

class MysqlInvitationStore final : public InvitationStore {
 public:
  // `pool` must outlive the store and point at a migrated schema.
  explicit MysqlInvitationStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<InsertResult> Insert(const NewInvitation& row, absl::Time now) override;
  std::vector<absl::StatusOr<InsertResult>> InsertEach(const std::vector<NewInvitation>& rows,
                                                       absl::Time now) override;
  absl::StatusOr<std::vector<BatchOutcome>> InsertBatch(const std::vector<NewInvitation>& rows,
                                                        absl::Time now, bool dry_run) override;
  absl::StatusOr<int> ExpireDue(absl::Time now, int limit) override;
  absl::StatusOr<std::vector<Invitation>> TakeOverDueAccepts(absl::Time now, int limit,
                                                             absl::Duration lease) override;
  absl::StatusOr<std::optional<ResendRecord>> FindResend(absl::string_view request_id) override;
  absl::StatusOr<Invitation> Get(absl::string_view id) override;
  absl::StatusOr<Invitation> GetByTokenHash(absl::string_view token_hash) override;
  absl::StatusOr<InvitationPage> List(const InvitationQuery& query, absl::Time now) override;
  absl::StatusOr<Invitation> Update(absl::string_view id, absl::Time now,
                                    const Decision& decide) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_INVITATION_STORE_H_
