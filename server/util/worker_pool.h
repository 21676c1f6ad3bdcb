// A fixed set of threads with a bounded queue for blocking (database) work, so gRPC's callback
// threads never block, and overload is refused at once instead of queued without bound.
#ifndef SECURELINK_SERVER_UTIL_WORKER_POOL_H_
#define SECURELINK_SERVER_UTIL_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace securelink::invitations {

struct WorkerPoolOptions {
  // Workers, each holding at most one database connection at a time: the pool's size is the
  // target call rate times the time one call spends in the database.
  int threads = 16;
  // Tasks that may wait for a busy worker; beyond it calls are refused at once
  // (RESOURCE_EXHAUSTED) rather than queued without bound.
  int queue_capacity = 1024;
};

class WorkerPool {
 public:
  // Starts `threads` workers; at most `queue_capacity` tasks wait for a busy worker.
  WorkerPool(int threads, int queue_capacity);
  explicit WorkerPool(const WorkerPoolOptions& options)
      : WorkerPool(options.threads, options.queue_capacity) {}
  // Runs every queued task, then joins the workers.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`. RESOURCE_EXHAUSTED (and `task` is dropped unrun) when the queue is full;
  // UNAVAILABLE after Shutdown().
  absl::Status TrySubmit(std::function<void()> task);

  // Stops accepting tasks; queued ones still run. Idempotent.
  void Shutdown();

  // Tasks waiting to start. For metrics and tests.
  int queue_depth() const;
  // Workers running a task right now. For metrics and tests.
  int busy_workers() const;
  int queue_capacity() const { return queue_capacity_; }
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();

  const int queue_capacity_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int busy_workers_ ABSL_GUARDED_BY(mu_) = 0;  // running a task
  std::vector<std::thread> threads_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_WORKER_POOL_H_
