#include "server/grpc/grpc_bulk_invite.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/grpc/bulk_invite_wire.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/proto_convert.h"
#include "server/grpc/rpc_interceptor.h"
#include "server/util/status_macros.h"
#include "server/grpc/worker_stream_reactor.h"

namespace securelink::invitations {
namespace {

// How many decided results may wait for the reader before production pauses, and the level at
// which it resumes: roughly two chunks, so the database stays busy but memory stays bounded.
constexpr size_t kPauseAbove = 1000;
constexpr size_t kResumeBelow = 500;

// The response as the generated stub would have written it: the same serializer, so the same
// bytes.
grpc::ByteBuffer Serialized(const v1::BulkInviteResponse& response) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  // Fails only for a message over 2 GiB; a result is a few hundred bytes at most.
  (void)grpc::SerializationTraits<v1::BulkInviteResponse>::Serialize(response, &buffer,
                                                                    &own_buffer);
  return buffer;
}

std::vector<grpc::ByteBuffer> ResultMessages(const std::vector<BulkResult>& results) {
  std::vector<grpc::ByteBuffer> messages;
  messages.reserve(results.size());
  v1::BulkInviteResponse response;
  for (const BulkResult& r : results) {
    v1::BulkInviteResult* out = response.mutable_result();
    out->set_input(r.input);
    out->set_email(r.email);
    out->set_line(r.line);
    out->set_outcome(ToProto(r.outcome));
    out->set_invitation_id(r.invitation_id);
    out->set_message(r.message);
    messages.push_back(Serialized(response));
  }
  return messages;
}

class BulkInviteReactor final : public WorkerStreamReactor<grpc::ByteBuffer> {
 public:
  BulkInviteReactor(grpc::CallbackServerContext* ctx,
                    std::function<absl::StatusOr<Caller>()> authenticate,
                    grpc::ByteBuffer* request, BulkInviter& inviter, WorkerPool& workers)
      : WorkerStreamReactor(ctx, workers), inviter_(inviter) {
    request_.Swap(request);
    // Authenticating (a key fetch) and reading up to 4 MiB are work too: on a worker, like the
    // chunks.
    StartOnWorker(
        [this, authenticate = std::move(authenticate)] { PlanTask(authenticate); },
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "the server is overloaded; retry BulkInvite with backoff"));
  }

 private:
  void PlanTask(const std::function<absl::StatusOr<Caller>()>& authenticate) {
    absl::StatusOr<Caller> caller = authenticate();
    absl::StatusOr<BulkInvitePlan> plan = caller.ok() ? ReadAndPlan(*caller) : caller.status();
    // Whatever happened, the request's bytes are not needed any more.
    request_.Clear();
    Locked lock(this);
    if (!plan.ok()) {
      FinishLocked(ToGrpcStatus(plan.status()));
    } else if (!cancelled_locked()) {
      plan_ = *std::move(plan);
      if (plan_->size() == 0) {
        QueueSummaryLocked();
        PumpLocked();
      } else {
        ProduceNextLocked();
      }
    }
  }

  // Reads the request, only for a caller who may invite at all, and plans it.
  absl::StatusOr<BulkInvitePlan> ReadAndPlan(const Caller& caller) {
    RETURN_IF_ERROR(RequireAdmin(caller));
    absl::StatusOr<BulkInviteInput> input;
    {
      grpc::ProtoBufferReader reader(&request_);
      input = ReadBulkInviteRequest(
          reader, static_cast<size_t>(std::max(inviter_.max_addresses(), 0)));
    }
    request_.Clear();
    if (!input.ok()) return input.status();
    return inviter_.Plan(caller, *std::move(input));
  }

  // Schedules the chunk starting at next_; the plan must exist and have entries left.
  void ProduceNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t begin = next_;
    producing_ = true;
    if (!ScheduleLocked([this, begin] { ChunkTask(begin); })) {
      // Overloaded mid-stream: the chunk is reported FAILED rather than silently dropped.
      std::vector<BulkResult> failed =
          inviter_.FailChunk(*plan_, begin, "not invited: the server is overloaded");
      std::vector<grpc::ByteBuffer> messages = ResultMessages(failed);
      AcceptResultsLocked(begin, failed, std::move(messages));
    }
  }

  void ChunkTask(size_t begin) {
    {
      Locked lock(this);
      if (StoppedLocked()) {
        producing_ = false;
        return;
      }
    }
    // plan_ is written once, before the first chunk is scheduled, so reading it unlocked is safe.
    std::vector<BulkResult> results = inviter_.ProcessChunk(*plan_, begin);
    // Serialized here rather than under the lock that gRPC's threads wait on.
    std::vector<grpc::ByteBuffer> messages = ResultMessages(results);
    Locked lock(this);
    AcceptResultsLocked(begin, results, std::move(messages));
  }

  // `messages` are `results` serialized, one each.
  void AcceptResultsLocked(size_t begin, const std::vector<BulkResult>& results,
                           std::vector<grpc::ByteBuffer> messages)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    producing_ = false;
    if (cancelled_locked()) return;
    for (const BulkResult& r : results) summary_.Add(r);
    for (grpc::ByteBuffer& message : messages) ready_.emplace_back().Swap(&message);
    next_ = inviter_.ChunkEnd(*plan_, begin);
    if (next_ >= plan_->size()) {
      QueueSummaryLocked();
    } else if (ready_.size() < kPauseAbove) {
      ProduceNextLocked();
    }
    PumpLocked();
  }

  void QueueSummaryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::BulkInviteResponse response;
    v1::BulkInviteSummary* s = response.mutable_summary();
    s->set_total(summary_.total);
    s->set_created(summary_.created);
    s->set_skipped(summary_.skipped);
    s->set_invalid(summary_.invalid);
    s->set_failed(summary_.failed);
    ready_.push_back(Serialized(response));
    summary_queued_ = true;
    if (!plan_->validate_only()) {
      NoteBulkOutcomes(context(), summary_);
    }
  }

  // Results in input order; the call ends OK once the summary went out.
  void NextLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!ready_.empty()) {
      WriteLocked(&ready_.front());  // deque keeps references stable across push_back
    } else if (summary_queued_) {
      FinishLocked(grpc::Status::OK);
    }
  }

  // The reader took one more: production resumes once the backlog is down to half.
  void WrittenLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ready_.pop_front();
    if (plan_.has_value() && !producing_ && next_ < plan_->size() &&
        ready_.size() < kResumeBelow) {
      ProduceNextLocked();
    }
  }

  BulkInviter& inviter_;
  // The request's bytes until PlanTask has read them; touched by no one else.
  grpc::ByteBuffer request_;
  std::optional<BulkInvitePlan> plan_;  // set once by PlanTask before any chunk runs
  // Serialized responses waiting for the reader; deque keeps references stable for StartWrite.
  std::deque<grpc::ByteBuffer> ready_ ABSL_GUARDED_BY(mu_);
  BulkSummary summary_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool producing_ ABSL_GUARDED_BY(mu_) = false;
  bool summary_queued_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartBulkInvite(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
    std::function<absl::StatusOr<Caller>()> authenticate, BulkInviter& inviter,
    WorkerPool& workers) {
  // gRPC keeps a request until its call is over, which for a bulk streaming to a slow reader may
  // be minutes. Taking the slices lets the reactor free them once read. The object is gRPC's own,
  // constructed non-const for this call and destroyed (empty, now) after OnDone.
  return new BulkInviteReactor(ctx, std::move(authenticate),
                               const_cast<grpc::ByteBuffer*>(request), inviter, workers);
}

}  // namespace securelink::invitations
