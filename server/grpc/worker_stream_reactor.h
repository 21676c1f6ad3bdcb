// The plumbing the server-streaming RPCs share: a write reactor whose blocking work runs on the
// WorkerPool, that writes one message at a time, ends exactly once however cancellation, worker
// tasks and gRPC's reactions interleave, and deletes itself once nothing refers to it.
#ifndef SECURELINK_SERVER_GRPC_WORKER_STREAM_REACTOR_H_
#define SECURELINK_SERVER_GRPC_WORKER_STREAM_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/util/worker_pool.h"

namespace securelink::invitations {

// A subclass keeps its state under mu_ (ABSL_GUARDED_BY(mu_)), takes mu_ only through Locked,
// and supplies:
//  - the first step, handed to StartOnWorker at the end of its constructor (authentication and
//    anything else that blocks);
//  - NextLocked: what comes next when the stream may write;
//  - WrittenLocked: what a delivered message frees or allows;
//  - its own ending statuses, through FinishLocked, and optionally OnFinishLocked and
//    OnStreamDone to give back what it holds.
// The base answers gRPC's reactions (OnWriteDone, OnCancel, OnDone): a client that goes away or
// cancels ends the stream CANCELLED, at once or, with a write in flight, when it completes.
template <typename Response>
class WorkerStreamReactor : public grpc::ServerWriteReactor<Response> {
 public:
  WorkerStreamReactor(const WorkerStreamReactor&) = delete;
  WorkerStreamReactor& operator=(const WorkerStreamReactor&) = delete;

  void OnWriteDone(bool ok) final {
    Locked lock(this);
    writing_ = false;
    if (!ok) {
      cancelled_ = true;  // the client is gone
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
    } else if (cancelled_) {
      // OnCancel came while this write was in flight and left finishing to us; pumping would
      // return at once for a cancelled stream, and the call would never end.
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
    } else {
      WrittenLocked();
      PumpLocked();
    }
  }

  void OnCancel() final {
    Locked lock(this);
    cancelled_ = true;
    // With a write in flight gRPC still owns the message: OnWriteDone finishes instead.
    if (!writing_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
    }
  }

  void OnDone() final {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      ++refs_;  // held across OnStreamDone; worker tasks, alarms or notifications may hold others
    }
    OnStreamDone();
    Unref();
  }

 protected:
  // Holds mu_ for a scope. What the scope decided (WriteLocked, FinishLocked) is performed after
  // mu_ is released, as the very last thing the guard does: performing it may run OnDone, and so
  // delete the reactor, on another thread before it returns. The scope must therefore be the last
  // use of the reactor unless the caller holds a reference (worker tasks, alarms and feed
  // notifications do; gRPC runs OnDone only after its reaction in progress has returned).
  class ABSL_SCOPED_LOCKABLE Locked {
   public:
    explicit Locked(WorkerStreamReactor* reactor) ABSL_EXCLUSIVE_LOCK_FUNCTION(reactor->mu_)
        : reactor_(reactor) {
      reactor_->mu_.Lock();
    }
    ~Locked() ABSL_UNLOCK_FUNCTION() {
      const Response* write = std::exchange(reactor_->write_, nullptr);
      std::optional<grpc::Status> finish = std::exchange(reactor_->finish_, std::nullopt);
      reactor_->mu_.Unlock();
      // Finishing wins over writing.
      if (finish.has_value()) {
        reactor_->Finish(*finish);
      } else if (write != nullptr) {
        reactor_->StartWrite(write);
      }
    }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

   private:
    WorkerStreamReactor* const reactor_;
  };

  // `ctx` and `workers` must outlive the reactor (gRPC keeps the context until OnDone).
  WorkerStreamReactor(grpc::CallbackServerContext* ctx, WorkerPool& workers)
      : ctx_(ctx), workers_(workers) {}
  ~WorkerStreamReactor() override = default;

  // Runs `set_up` on a worker as the stream's first step; ends the call with `when_refused` if
  // the pool has no room. Call it last in the most-derived constructor: `set_up` may run at once.
  void StartOnWorker(std::function<void()> set_up, const grpc::Status& when_refused)
      ABSL_LOCKS_EXCLUDED(mu_) {
    Locked lock(this);
    if (!ScheduleLocked(std::move(set_up))) FinishLocked(when_refused);
  }

  // Runs `task` on the worker pool, keeping the reactor alive until it returns. False, and
  // `task` dropped unrun, when the pool refused it: the caller decides what that means.
  [[nodiscard]] bool ScheduleLocked(std::function<void()> task)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++refs_;
    absl::Status queued = workers_.TrySubmit([this, task = std::move(task)] {
      task();
      Unref();
    });
    if (!queued.ok()) --refs_;
    return queued.ok();
  }

  // Asks NextLocked for more, unless a write is in flight or the stream has ended or been
  // cancelled. Call it whenever something NextLocked may be waiting for has happened.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || cancelled_) return;
    NextLocked();
  }

  // Writes `message` once mu_ is released; it must stay valid, unchanged, until WrittenLocked.
  // Only from NextLocked (nothing else knows that no write is in flight).
  void WriteLocked(const Response* message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    write_ = message;
  }

  // Ends the call with `status` once mu_ is released, unless its ending was decided already.
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    finish_ = status;
    OnFinishLocked();
  }

  // Keeps the reactor alive until the matching Unref, for holders other than worker tasks
  // (alarms, feed notifications). The last Unref after OnDone deletes it.
  void Ref() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++refs_;
  }
  void Unref() ABSL_LOCKS_EXCLUDED(mu_) {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      last = --refs_ == 0 && done_;
    }
    if (last) delete this;
  }

  bool finished_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_; }
  bool cancelled_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return cancelled_; }
  bool done_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; }
  // True when work for the stream would be wasted: it has ended, or its caller cancelled or ran
  // out of time (gRPC may not have run OnCancel yet). For worker tasks to check before starting.
  bool StoppedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return finished_ || cancelled_ || ctx_->IsCancelled();
  }

  grpc::CallbackServerContext* context() const { return ctx_; }

  // Under mu_, whenever no write is in flight and the stream has neither ended nor been
  // cancelled: WriteLocked the next message, FinishLocked an ending, schedule work that will
  // pump again when it has more, or nothing while waiting for something else to pump.
  virtual void NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // Under mu_: the message of the last WriteLocked was sent and the stream goes on (PumpLocked
  // follows).
  virtual void WrittenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // Under mu_, once, when the stream's ending has been decided (before it is performed).
  virtual void OnFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {}
  // After gRPC's OnDone, without mu_ and with a reference held: give back what the stream holds
  // outside the reactor. Worker tasks, alarms and notifications may still be running.
  virtual void OnStreamDone() {}

  absl::Mutex mu_;

 private:
  grpc::CallbackServerContext* const ctx_;
  WorkerPool& workers_;
  // Decided under mu_, performed by Locked after releasing it.
  const Response* write_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int refs_ ABSL_GUARDED_BY(mu_) = 0;  // worker tasks, alarms, notifications, OnDone in progress
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_WORKER_STREAM_REACTOR_H_
