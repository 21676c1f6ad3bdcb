#include "server/grpc_bulk_invite.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "server/grpc_status.h"
#include "server/stream_actions.h"

namespace securelink::invitations {
namespace {

// How many decided results may wait for the reader before production pauses, and the level at
// which it resumes: roughly two chunks, so the database stays busy but memory stays bounded.
constexpr size_t kPauseAbove = 1000;
constexpr size_t kResumeBelow = 500;

v1::BulkInviteOutcome ToProto(BulkOutcome outcome) {
  switch (outcome) {
    case BulkOutcome::kCreated: return v1::BULK_INVITE_OUTCOME_CREATED;
    case BulkOutcome::kSkippedPending: return v1::BULK_INVITE_OUTCOME_SKIPPED_PENDING;
    case BulkOutcome::kSkippedDuplicate: return v1::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE;
    case BulkOutcome::kInvalidEmail: return v1::BULK_INVITE_OUTCOME_INVALID_EMAIL;
    case BulkOutcome::kFailed: return v1::BULK_INVITE_OUTCOME_FAILED;
  }
  return v1::BULK_INVITE_OUTCOME_UNSPECIFIED;
}

Role RoleFrom(v1::Role role) {
  switch (role) {
    case v1::ROLE_SUPER_ADMIN: return Role::kSuperAdmin;
    case v1::ROLE_TENANT_ADMIN: return Role::kTenantAdmin;
    case v1::ROLE_VPN_USER: return Role::kVpnUser;
    default: return Role::kUnspecified;
  }
}

BulkInviteInput InputFrom(const v1::BulkInviteRequest& request) {
  BulkInviteInput in;
  switch (request.source_case()) {
    case v1::BulkInviteRequest::kEmails:
      in.source = BulkSource::kEmails;
      in.emails.assign(request.emails().emails().begin(), request.emails().emails().end());
      break;
    case v1::BulkInviteRequest::kText:
      in.source = BulkSource::kText;
      in.document = request.text();
      break;
    case v1::BulkInviteRequest::kCsv:
      in.source = BulkSource::kCsv;
      in.document = request.csv();
      break;
    default:
      break;
  }
  in.role = RoleFrom(request.role());
  in.tenant_id = request.tenant_id();
  if (request.has_ttl()) {
    in.ttl = absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
  }
  in.validate_only = request.validate_only();
  in.suppress_email = request.suppress_email();
  return in;
}

using Actions = StreamActions<v1::BulkInviteResponse>;

class BulkInviteReactor final : public grpc::ServerWriteReactor<v1::BulkInviteResponse> {
 public:
  BulkInviteReactor(grpc::CallbackServerContext* ctx,
                    std::function<absl::StatusOr<Caller>()> authenticate, BulkInviteInput input,
                    BulkInviter& inviter, WorkerPool& workers)
      : ctx_(ctx), inviter_(inviter), workers_(workers) {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      // Parsing up to 4 MiB is work too: it runs on a worker like the chunks.
      if (!ScheduleLocked([this, authenticate = std::move(authenticate),
                           input = std::move(input)]() mutable {
            PlanTask(authenticate, std::move(input));
          })) {
        FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  "the server is overloaded; retry BulkInvite with backoff"),
                     actions);
      }
    }
    actions.PerformOn(*this);
  }

  void OnWriteDone(bool ok) override {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        cancelled_ = true;  // the client is gone
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"), actions);
      } else {
        ready_.pop_front();
        if (cancelled_) {
          FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"),
                       actions);
        } else {
          if (plan_.has_value() && !producing_ && next_ < plan_->size() &&
              ready_.size() < kResumeBelow) {
            ProduceNextLocked(actions);
          }
          PumpLocked(actions);
        }
      }
    }
    actions.PerformOn(*this);
  }

  void OnCancel() override {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (!writing_) {
        FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"), actions);
      }
    }
    actions.PerformOn(*this);
  }

  void OnDone() override {
    bool last;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      last = tasks_in_flight_ == 0;
    }
    if (last) delete this;
  }

 private:
  // Runs `task` on the worker pool, keeping this reactor alive until it returns. False when the
  // pool refused it.
  bool ScheduleLocked(std::function<void()> task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++tasks_in_flight_;
    absl::Status queued = workers_.TrySubmit([this, task = std::move(task)] {
      task();
      bool last;
      {
        absl::MutexLock lock(&mu_);
        last = --tasks_in_flight_ == 0 && done_;
      }
      if (last) delete this;
    });
    if (!queued.ok()) --tasks_in_flight_;
    return queued.ok();
  }

  void PlanTask(const std::function<absl::StatusOr<Caller>()>& authenticate,
                BulkInviteInput input) {
    absl::StatusOr<Caller> caller = authenticate();
    absl::StatusOr<BulkInvitePlan> plan =
        caller.ok() ? inviter_.Plan(*caller, std::move(input)) : caller.status();
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      if (!plan.ok()) {
        FinishLocked(ToGrpcStatus(plan.status()), actions);
      } else if (!cancelled_) {
        plan_ = *std::move(plan);
        if (plan_->size() == 0) {
          QueueSummaryLocked();
          PumpLocked(actions);
        } else {
          ProduceNextLocked(actions);
        }
      }
    }
    actions.PerformOn(*this);
  }

  // Schedules the chunk starting at next_; the plan must exist and have entries left.
  void ProduceNextLocked(Actions& actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t begin = next_;
    producing_ = true;
    if (!ScheduleLocked([this, begin] { ChunkTask(begin); })) {
      // Overloaded mid-stream: the chunk is reported FAILED rather than silently dropped.
      AcceptResultsLocked(
          begin, inviter_.FailChunk(*plan_, begin, "not invited: the server is overloaded"),
          actions);
    }
  }

  void ChunkTask(size_t begin) {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_ || ctx_->IsCancelled()) {
        producing_ = false;
        return;
      }
    }
    // plan_ is written once, before the first chunk is scheduled, so reading it unlocked is safe.
    std::vector<BulkResult> results = inviter_.ProcessChunk(*plan_, begin);
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      AcceptResultsLocked(begin, std::move(results), actions);
    }
    actions.PerformOn(*this);
  }

  void AcceptResultsLocked(size_t begin, std::vector<BulkResult> results, Actions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    producing_ = false;
    if (cancelled_) return;
    for (BulkResult& r : results) {
      summary_.Add(r);
      v1::BulkInviteResult* out = ready_.emplace_back().mutable_result();
      out->set_input(std::move(r.input));
      out->set_email(std::move(r.email));
      out->set_line(r.line);
      out->set_outcome(ToProto(r.outcome));
      out->set_invitation_id(std::move(r.invitation_id));
      out->set_message(std::move(r.message));
    }
    next_ = inviter_.ChunkEnd(*plan_, begin);
    if (next_ >= plan_->size()) {
      QueueSummaryLocked();
    } else if (ready_.size() < kPauseAbove) {
      ProduceNextLocked(actions);
    }
    PumpLocked(actions);
  }

  void QueueSummaryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::BulkInviteSummary* s = ready_.emplace_back().mutable_summary();
    s->set_total(summary_.total);
    s->set_created(summary_.created);
    s->set_skipped(summary_.skipped);
    s->set_invalid(summary_.invalid);
    s->set_failed(summary_.failed);
    summary_queued_ = true;
  }

  // One write in flight at a time (flow control); finishes after the summary went out.
  void PumpLocked(Actions& actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || cancelled_) return;
    if (!ready_.empty()) {
      writing_ = true;
      actions.write = &ready_.front();  // deque keeps references stable across push_back
    } else if (summary_queued_) {
      FinishLocked(grpc::Status::OK, actions);
    }
  }

  void FinishLocked(const grpc::Status& status, Actions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    actions.FinishOnce(status, &finished_);
  }

  grpc::CallbackServerContext* const ctx_;
  BulkInviter& inviter_;
  WorkerPool& workers_;
  absl::Mutex mu_;
  std::optional<BulkInvitePlan> plan_;  // set once by PlanTask before any chunk runs
  std::deque<v1::BulkInviteResponse> ready_ ABSL_GUARDED_BY(mu_);
  BulkSummary summary_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool producing_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool summary_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  int tasks_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

grpc::ServerWriteReactor<v1::BulkInviteResponse>* StartBulkInvite(
    grpc::CallbackServerContext* ctx, const v1::BulkInviteRequest& request,
    std::function<absl::StatusOr<Caller>()> authenticate, BulkInviter& inviter,
    WorkerPool& workers) {
  return new BulkInviteReactor(ctx, std::move(authenticate), InputFrom(request), inviter,
                               workers);
}

}  // namespace securelink::invitations
