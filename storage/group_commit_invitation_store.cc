#include "storage/group_commit_invitation_store.h"

#include <algorithm>
#include <utility>

namespace securelink::invitations {

GroupCommitInvitationStore::GroupCommitInvitationStore(InvitationStore& store,
                                                       GroupCommitOptions options)
    : ForwardingInvitationStore(store),
      options_{std::max(1, options.max_batch), std::max(1, options.max_batches_in_flight)} {}

int GroupCommitInvitationStore::WaitingForTesting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiting_.size());
}

std::vector<GroupCommitInvitationStore::Waiter*> GroupCommitInvitationStore::TakeBatch() {
  const size_t size = std::min(waiting_.size(), static_cast<size_t>(options_.max_batch));
  std::vector<Waiter*> batch(waiting_.begin(), waiting_.begin() + size);
  waiting_.erase(waiting_.begin(), waiting_.begin() + size);
  return batch;
}

absl::StatusOr<InsertResult> GroupCommitInvitationStore::Insert(const NewInvitation& row,
                                                                absl::Time now) {
  Waiter self{&row, now, std::nullopt, {}};
  {
    absl::MutexLock lock(&mu_);
    if (batches_in_flight_ < options_.max_batches_in_flight) {
      // A free slot means nobody is waiting (a finishing batch hands its slot to the waiters).
      ++batches_in_flight_;
      self.batch = {&self};
    } else {
      waiting_.push_back(&self);
      mu_.Await(absl::Condition(
          +[](Waiter* w) { return w->result.has_value() || !w->batch.empty(); }, &self));
    }
  }
  if (!self.result.has_value()) WriteBatches(self);
  return *std::move(self.result);
}

namespace {

// A copy of `status` that shares nothing with it: message and payloads copied as flat strings.
absl::Status Unshared(const absl::Status& status) {
  absl::Status copy(status.code(), std::string(status.message()));
  status.ForEachPayload([&copy](absl::string_view type_url, const absl::Cord& payload) {
    copy.SetPayload(type_url, absl::Cord(std::string(payload)));
  });
  return copy;
}

}  // namespace

void GroupCommitInvitationStore::WriteBatches(Waiter& leader) {
  std::vector<NewInvitation> rows;
  rows.reserve(leader.batch.size());
  absl::Time now = absl::InfinitePast();
  for (const Waiter* w : leader.batch) {
    rows.push_back(*w->row);
    now = std::max(now, w->now);
  }
  std::vector<absl::StatusOr<InsertResult>> results = store_.InsertEach(rows, now);

  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < leader.batch.size(); ++i) {
    absl::StatusOr<InsertResult> result =
        i < results.size() ? std::move(results[i])
                           : absl::InternalError("the batch returned too few results");
    // A batch-wide error is one absl::Status for every row; each caller gets a copy of its own,
    // so that no status is shared between the callers' threads (ThreadSanitizer cannot follow
    // the reference count's ordering across them and stops the server).
    if (!result.ok()) result = Unshared(result.status());
    leader.batch[i]->result = std::move(result);
  }
  if (waiting_.empty()) {
    --batches_in_flight_;
    return;
  }
  // The slot passes to the callers who arrived meanwhile; the first of them writes their batch.
  std::vector<Waiter*> next = TakeBatch();
  Waiter* next_leader = next.front();
  next_leader->batch = std::move(next);
}

}  // namespace securelink::invitations
