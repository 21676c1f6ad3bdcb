#include "server/worker_pool.h"

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
  // Idle workers take a task at once; only tasks beyond them count against the capacity.
  if (static_cast<int>(queue_.size()) >= queue_capacity_ + idle_workers_) {
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

void WorkerPool::Run() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      ++idle_workers_;
      mu_.Await(absl::Condition(
          +[](WorkerPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      --idle_workers_;
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace securelink::invitations
