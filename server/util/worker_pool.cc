#include "server/util/worker_pool.h"

#include "absl/strings/str_cat.h"

namespace securelink::invitations {

WorkerPool::WorkerPool(int threads, int queue_capacity) : queue_capacity_(queue_capacity) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  Shutdown();
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkerPool::TrySubmit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  // Free workers take a task at once; only tasks beyond them count against the capacity. Free is
  // counted as "not running a task" (not "already waiting"), so a worker that is between tasks,
  // or not yet started, still counts.
  const int free_workers = static_cast<int>(threads_.size()) - busy_workers_;
  if (static_cast<int>(queue_.size()) >= queue_capacity_ + free_workers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server is overloaded (", queue_capacity_,
                     " requests already waiting for the database); retry with backoff"));
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void WorkerPool::Shutdown() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

int WorkerPool::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

int WorkerPool::busy_workers() const {
  absl::MutexLock lock(&mu_);
  return busy_workers_;
}

void WorkerPool::Run() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_workers_;
    }
    task();
    absl::MutexLock lock(&mu_);
    --busy_workers_;
  }
}

}  // namespace securelink::invitations
