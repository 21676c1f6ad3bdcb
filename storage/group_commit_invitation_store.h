// Group commit for CreateInvitation: concurrent Inserts are written together, as one transaction
// of multi-row statements (InvitationStore::InsertEach), instead of one commit each.
//
// No timer: the first caller writes at once, alone. Callers that arrive while batches are being
// written wait, and the next free batch takes all of them (up to max_batch). So a lone caller
// never waits for company, and under load a batch grows with what arrived during the last commit.
#ifndef SECURELINK_STORAGE_GROUP_COMMIT_INVITATION_STORE_H_
#define SECURELINK_STORAGE_GROUP_COMMIT_INVITATION_STORE_H_

#include <deque>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/forwarding_invitation_store.h"

namespace securelink::invitations {

struct GroupCommitOptions {
  int max_batch = 32;              // rows in one transaction
  int max_batches_in_flight = 2;   // transactions writing at once (one commits, one is built)
};

// Every call but Insert goes straight to the wrapped store.
class GroupCommitInvitationStore final : public ForwardingInvitationStore {
 public:
  // `store` must outlive this object.
  GroupCommitInvitationStore(InvitationStore& store, GroupCommitOptions options);

  // Joins the next batch (or writes at once when a batch slot is free) and returns this row's
  // own result, decided as InvitationStore::Insert decides it.
  absl::StatusOr<InsertResult> Insert(const NewInvitation& row, absl::Time now) override;

  // Callers waiting for a batch slot (tests synchronise on it).
  int WaitingForTesting() const;

 private:
  struct Waiter {
    const NewInvitation* row;
    absl::Time now;
    std::optional<absl::StatusOr<InsertResult>> result;
    std::vector<Waiter*> batch;  // non-empty: this caller writes it (it is batch[0])
  };

  // Writes `batch` (the caller is batch[0]) and hands the slot to the next batch, if any.
  void WriteBatches(Waiter& leader) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Waiter*> TakeBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const GroupCommitOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Waiter*> waiting_ ABSL_GUARDED_BY(mu_);
  int batches_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_GROUP_COMMIT_INVITATION_STORE_H_
