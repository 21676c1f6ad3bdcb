// A background loop on a thread of its own: the task runs at Start and then every interval until
// Stop. The one home of the loop the sweeper, the accept recoverer and the outbox sampler share.
#ifndef SECURELINK_SERVER_UTIL_PERIODIC_TASK_H_
#define SECURELINK_SERVER_UTIL_PERIODIC_TASK_H_

#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace securelink::invitations {

class PeriodicTask {
 public:
  PeriodicTask(absl::Duration interval, std::function<void()> task)
      : interval_(interval), task_(std::move(task)) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Starts the thread: the task at once, then every interval (counted from the end of a run).
  void Start() {
    thread_ = std::thread([this] {
      while (true) {
        task_();
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping), interval_)) return;
      }
    });
  }

  // Lets a run in progress finish, then joins the thread. Idempotent.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  const absl::Duration interval_;
  const std::function<void()> task_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_PERIODIC_TASK_H_
