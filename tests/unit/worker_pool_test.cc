// The worker pool bounds queued work and refuses the excess at once.
#include "server/util/worker_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

TEST(WorkerPool, RunsSubmittedTasks) {
  std::atomic<int> ran{0};
  absl::Notification done;
  {
    WorkerPool pool(2, 10);
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(pool.TrySubmit([&] {
        if (++ran == 10) done.Notify();
      }).ok());
    }
    done.WaitForNotification();
  }
  EXPECT_EQ(ran.load(), 10);
}

TEST(WorkerPool, RefusesWorkBeyondTheQueueWithResourceExhausted) {
  WorkerPool pool(1, 1);
  absl::Notification started, release;
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }).ok());
  started.WaitForNotification();               // the only worker is busy
  ASSERT_TRUE(pool.TrySubmit([] {}).ok());     // fills the queue
  absl::Status refused = pool.TrySubmit([] {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool.queue_depth(), 1);
  release.Notify();
}

TEST(WorkerPool, WithoutAQueueAFreeWorkerStillTakesWorkRightAfterStart) {
  // The worker threads may not even have started waiting yet: they still count as free.
  for (int i = 0; i < 50; ++i) {
    WorkerPool pool(1, 0);
    absl::Notification done;
    ASSERT_TRUE(pool.TrySubmit([&] { done.Notify(); }).ok()) << "round " << i;
    done.WaitForNotification();
  }
}

TEST(WorkerPool, DrainsQueuedWorkOnShutdownAndRefusesNewWork) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1, 100);
    absl::Notification release;
    ASSERT_TRUE(pool.TrySubmit([&] { release.WaitForNotification(); }).ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.TrySubmit([&] { ++ran; }).ok());
    pool.Shutdown();
    EXPECT_EQ(pool.TrySubmit([] {}).code(), absl::StatusCode::kUnavailable);
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 5);
}

}  // namespace
}  // namespace securelink::invitations
