// GroupCommitInvitationStore's batching, against a store that records the batches it is given:
// who writes when, who shares a batch, and that each caller gets its own row's result.
#include "storage/group_commit_invitation_store.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/wait.h"

namespace securelink::invitations {
namespace {

using ::securelink::testing::WaitFor;
using ::testing::ElementsAre;

// Answers each row with its own invitation (ALREADY_EXISTS for an address starting with
// "taken"), or every row with `batch_error` when set. While `hold` is set, each batch waits
// for its release.
class RecordingStore final : public InvitationStore {
 public:
  std::vector<absl::StatusOr<InsertResult>> InsertEach(const std::vector<NewInvitation>& rows,
                                                       absl::Time) override {
    {
      absl::MutexLock lock(&mu_);
      batch_sizes_.push_back(static_cast<int>(rows.size()));
      ++writing_;
    }
    if (hold_) release_.WaitForNotification();
    std::vector<absl::StatusOr<InsertResult>> results;
    for (const NewInvitation& row : rows) {
      if (!batch_error_.ok()) {
        results.push_back(batch_error_);
      } else if (absl::StartsWith(row.invitation.email, "taken")) {
        results.push_back(absl::AlreadyExistsError(row.invitation.email));
      } else {
        results.push_back(InsertResult{row.invitation, "", false});
      }
    }
    absl::MutexLock lock(&mu_);
    --writing_;
    return results;
  }
  absl::StatusOr<InsertResult> Insert(const NewInvitation& row, absl::Time now) override {
    return std::move(InsertEach({row}, now).front());
  }
  absl::StatusOr<std::vector<BatchOutcome>> InsertBatch(const std::vector<NewInvitation>&,
                                                        absl::Time, bool) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<int> ExpireDue(absl::Time, int) override { return 0; }
  absl::StatusOr<std::vector<Invitation>> TakeOverDueAccepts(absl::Time, int,
                                                             absl::Duration) override {
    return std::vector<Invitation>();
  }
  absl::StatusOr<std::optional<ResendRecord>> FindResend(absl::string_view) override {
    return std::nullopt;
  }
  absl::StatusOr<Invitation> Get(absl::string_view) override { return absl::NotFoundError(""); }
  absl::StatusOr<Invitation> GetByTokenHash(absl::string_view) override {
    return absl::NotFoundError("");
  }
  absl::StatusOr<InvitationPage> List(const InvitationQuery&, absl::Time) override {
    return InvitationPage();
  }
  absl::StatusOr<Invitation> Update(absl::string_view, absl::Time, const Decision&) override {
    return absl::UnimplementedError("");
  }

  void Hold() { hold_ = true; }
  void Release() { release_.Notify(); }
  void FailEveryRowWith(absl::Status status) { batch_error_ = std::move(status); }
  std::vector<int> batch_sizes() const {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  int writing() const {
    absl::MutexLock lock(&mu_);
    return writing_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  int writing_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> hold_{false};
  absl::Notification release_;
  absl::Status batch_error_;
};

NewInvitation Row(const std::string& email) {
  NewInvitation row;
  row.invitation.id = absl::StrCat("id-", email);
  row.invitation.email = email;
  return row;
}

// Runs one Insert per email on its own thread; results by email once joined.
class Callers {
 public:
  Callers(InvitationStore& store, std::vector<std::string> emails) : results_(emails.size()) {
    for (size_t i = 0; i < emails.size(); ++i) {
      threads_.emplace_back([&store, this, i, email = emails[i]] {
        results_[i] = store.Insert(Row(email), absl::Now());
      });
    }
  }
  const std::vector<absl::StatusOr<InsertResult>>& Join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    return results_;
  }
  ~Callers() { Join(); }

 private:
  std::vector<absl::StatusOr<InsertResult>> results_;
  std::vector<std::thread> threads_;
};

TEST(GroupCommit, ALoneCallerWritesAtOnceInABatchOfItsOwn) {
  RecordingStore store;
  GroupCommitInvitationStore batcher(store, {.max_batch = 32, .max_batches_in_flight = 1});
  absl::StatusOr<InsertResult> result = batcher.Insert(Row("alone@example.com"), absl::Now());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->invitation.id, "id-alone@example.com");
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1));
  // And again: a finished batch leaves no one to wait for.
  ASSERT_TRUE(batcher.Insert(Row("again@example.com"), absl::Now()).ok());
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1, 1));
}

TEST(GroupCommit, CallersArrivingDuringACommitShareTheNextBatchEachWithItsOwnResult) {
  RecordingStore store;
  store.Hold();
  GroupCommitInvitationStore batcher(store, {.max_batch = 32, .max_batches_in_flight = 1});
  Callers first(batcher, {"first@example.com"});
  ASSERT_TRUE(WaitFor([&] { return store.writing() == 1; }));
  Callers later(batcher, {"a@example.com", "b@example.com", "taken@example.com",
                          "c@example.com", "d@example.com"});
  ASSERT_TRUE(WaitFor([&] { return batcher.WaitingForTesting() == 5; }));
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1));  // nobody joins a batch already writing
  store.Release();

  ASSERT_TRUE(first.Join()[0].ok());
  const auto& results = later.Join();
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1, 5));
  const std::vector<std::string> emails = {"a@example.com", "b@example.com", "taken@example.com",
                                           "c@example.com", "d@example.com"};
  for (size_t i = 0; i < emails.size(); ++i) {
    if (emails[i] == "taken@example.com") {
      // The refused row fails alone; its neighbours are written.
      EXPECT_EQ(results[i].status().code(), absl::StatusCode::kAlreadyExists);
    } else {
      ASSERT_TRUE(results[i].ok()) << emails[i] << ": " << results[i].status();
      EXPECT_EQ(results[i]->invitation.id, "id-" + emails[i]);
    }
  }
}

TEST(GroupCommit, ABatchNeverExceedsMaxBatch) {
  RecordingStore store;
  store.Hold();
  GroupCommitInvitationStore batcher(store, {.max_batch = 2, .max_batches_in_flight = 1});
  Callers first(batcher, {"first@example.com"});
  ASSERT_TRUE(WaitFor([&] { return store.writing() == 1; }));
  Callers later(batcher, {"a@example.com", "b@example.com", "c@example.com", "d@example.com",
                          "e@example.com"});
  ASSERT_TRUE(WaitFor([&] { return batcher.WaitingForTesting() == 5; }));
  store.Release();
  first.Join();
  for (const auto& result : later.Join()) EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1, 2, 2, 1));
}

TEST(GroupCommit, AsManyBatchesWriteAtOnceAsAllowedAndTheRestWait) {
  RecordingStore store;
  store.Hold();
  GroupCommitInvitationStore batcher(store, {.max_batch = 32, .max_batches_in_flight = 2});
  Callers two(batcher, {"a@example.com", "b@example.com"});
  ASSERT_TRUE(WaitFor([&] { return store.writing() == 2; }));
  Callers third(batcher, {"c@example.com"});
  ASSERT_TRUE(WaitFor([&] { return batcher.WaitingForTesting() == 1; }));
  EXPECT_EQ(store.writing(), 2);
  store.Release();
  for (const auto& result : two.Join()) EXPECT_TRUE(result.ok());
  ASSERT_TRUE(third.Join()[0].ok());
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1, 1, 1));
}

TEST(GroupCommit, AnErrorOfTheWholeBatchReachesEachOfItsCallers) {
  RecordingStore store;
  store.Hold();
  GroupCommitInvitationStore batcher(store, {.max_batch = 32, .max_batches_in_flight = 1});
  Callers first(batcher, {"first@example.com"});
  ASSERT_TRUE(WaitFor([&] { return store.writing() == 1; }));
  Callers later(batcher, {"a@example.com", "b@example.com", "c@example.com"});
  ASSERT_TRUE(WaitFor([&] { return batcher.WaitingForTesting() == 3; }));
  store.FailEveryRowWith(absl::UnavailableError("database unreachable"));
  store.Release();
  first.Join();
  for (const auto& result : later.Join()) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_THAT(store.batch_sizes(), ElementsAre(1, 3));
}

}  // namespace
}  // namespace securelink::invitations
