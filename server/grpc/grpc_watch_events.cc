#include "server/grpc/grpc_watch_events.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/authorization.h"
#include "server/domain/errors.h"
#include "server/domain/validation.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/proto_convert.h"
#include "server/util/status_macros.h"
#include "server/grpc/worker_stream_reactor.h"

namespace securelink::invitations {
namespace {

// Events taken at a time, from the database or the buffer: the most a stream holds in memory.
constexpr int kPageSize = 64;

class WatchEventsReactor final
    : public WorkerStreamReactor<v1::WatchInvitationEventsResponse>,
      public EventFeedListener {
 public:
  WatchEventsReactor(grpc::CallbackServerContext* ctx, v1::WatchInvitationEventsRequest request,
                     std::function<absl::StatusOr<Caller>()> authenticate, EventFeed& feed,
                     WorkerPool& workers, WatchStreamLimiter& limiter)
      : WorkerStreamReactor(ctx, workers), feed_(feed), limiter_(limiter) {
    StartOnWorker(
        [this, request = std::move(request), authenticate = std::move(authenticate)] {
          SetUp(request, authenticate);
        },
        ToGrpcStatus(WithRetryDelay(
            ReasonedError(absl::StatusCode::kResourceExhausted,
                          "the server is overloaded; retry WatchInvitationEvents with backoff",
                          kReasonOverloaded),
            absl::Seconds(1))));
  }

  void OnFeedAdvanced() override {
    Locked lock(this);
    PumpLocked();
  }

  void Retain() override { Ref(); }
  void Release() override { Unref(); }

 private:
  void OnStreamDone() override {
    bool subscribed;
    WatchStreamLimiter::Slot slot;  // the caller's place is given back as this returns
    {
      Locked lock(this);
      subscribed = std::exchange(subscribed_, false);
      slot = std::move(slot_);
    }
    if (subscribed) feed_.Unsubscribe(this);
    DisarmExpiry();
  }

  // Ends the stream when its token expires (SPEC §10). The alarm's callback holds a reference,
  // so the reactor outlives it; OnStreamDone cancels it (the callback then runs at once with
  // false) so that a finished stream is not kept alive until its token's expiry.
  void ArmExpiry(absl::Time at) {
    if (at == absl::InfiniteFuture()) return;
    absl::MutexLock lock(&alarm_mu_);
    if (alarm_disarmed_) return;  // OnStreamDone came first
    Ref();
    alarm_armed_ = true;
    // Not under mu_: the callback takes mu_, and nothing promises it never runs inside Set.
    expiry_alarm_.Set(absl::ToChronoTime(at), [this](bool fired) { OnExpiry(fired); });
  }

  void DisarmExpiry() {
    bool armed;
    {
      absl::MutexLock lock(&alarm_mu_);
      alarm_disarmed_ = true;
      armed = alarm_armed_;
    }
    // Outside both locks: the callback takes mu_ and may run (with false) before Cancel returns.
    if (armed) expiry_alarm_.Cancel();
  }

  void OnExpiry(bool fired) {
    if (fired) {
      Locked lock(this);
      token_expired_ = true;
      PumpLocked();  // a write or read in flight finishes it when it completes
    }
    Unref();
  }

  // Authenticates, decides the tenant filter and places the starting position (database work).
  void SetUp(const v1::WatchInvitationEventsRequest& request,
             const std::function<absl::StatusOr<Caller>()>& authenticate) {
    absl::StatusOr<EventFeed::Placement> start = Authorize(request, authenticate);
    std::optional<int64_t> stop_at;
    if (start.ok() && request.replay_only()) stop_at = start->newest;
    const bool follow = start.ok() && !request.replay_only();
    if (follow) feed_.Subscribe(this);
    bool unsubscribe = false;
    {
      Locked lock(this);
      if (!start.ok()) {
        FinishLocked(ToGrpcStatus(start.status()));
      } else {
        // When OnDone came first, OnStreamDone did not know to unsubscribe.
        unsubscribe = follow && done_locked();
        subscribed_ = follow && !unsubscribe;
        cursor_ = delivered_through_ = start->start;
        stop_at_ = stop_at;
        started_ = true;
        PumpLocked();
      }
    }
    if (unsubscribe) feed_.Unsubscribe(this);
    if (start.ok()) ArmExpiry(valid_until_);
  }

  absl::StatusOr<EventFeed::Placement> Authorize(
      const v1::WatchInvitationEventsRequest& request,
      const std::function<absl::StatusOr<Caller>()>& authenticate) {
    ASSIGN_OR_RETURN(Caller caller, authenticate());
    if (std::optional<std::string> problem = TenantIdProblem(request.tenant_id());
        problem.has_value() && !request.tenant_id().empty()) {
      return InvalidField("tenant_id", *problem);
    }
    ASSIGN_OR_RETURN(std::string tenant, EffectiveTenantFilter(caller, request.tenant_id()));
    ASSIGN_OR_RETURN(WatchStreamLimiter::Slot slot, limiter_.Acquire(caller.subject));
    valid_until_ = caller.valid_until;
    {
      Locked lock(this);
      if (!tenant.empty()) tenant_ = tenant;
      // When the stream already ended the slot is given back as this scope ends.
      if (!done_locked() && !finished_locked()) slot_ = std::move(slot);
    }
    return feed_.Place(request.after_event_id());
  }

  // Takes the next events from the live buffer when the stream is within it, from the database
  // while it is further back.
  void NextLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_ || reading_) return;
    if (token_expired_) {
      // Events taken but not written stay unsent: the resumed stream replays them.
      FinishLocked(
          ToGrpcStatus(ReasonedError(
              absl::StatusCode::kUnauthenticated,
              absl::StrCat("the bearer token this stream was opened with has expired; reconnect "
                           "with a fresh token and after_event_id=",
                           delivered_through_, " to resume"),
              kReasonTokenExpired,
              {{"resume_after_event_id", absl::StrCat(delivered_through_)}})));
      return;
    }
    if (!pending_.empty()) {
      WriteLocked(&pending_.front().second);
      return;
    }
    if (stop_at_.has_value()) {
      if (cursor_ >= *stop_at_) {
        FinishLocked(grpc::Status::OK);
      } else {
        ReadStoredLocked();
      }
      return;
    }
    if (feed_.closing()) {
      FinishLocked(ToGrpcStatus(ReasonedError(
          absl::StatusCode::kUnavailable,
          absl::StrCat("this replica is shutting down; resume with after_event_id=",
                       delivered_through_, " on any replica"),
          kReasonServerShuttingDown,
          {{"resume_after_event_id", absl::StrCat(delivered_through_)}})));
      return;
    }
    EventFeed::Read read = feed_.ReadBuffered(cursor_, tenant_, kPageSize);
    switch (read.result) {
      case EventFeed::BufferedRead::kNotReady:
        return;
      case EventFeed::BufferedRead::kCaughtUp:
        live_ = true;
        return;
      case EventFeed::BufferedRead::kEvents:
        live_ = true;
        Enqueue(std::move(read.events), read.scanned_through);
        if (!pending_.empty()) WriteLocked(&pending_.front().second);
        return;
      case EventFeed::BufferedRead::kBehind:
        if (!live_) {
          ReadStoredLocked();
          return;
        }
        FinishLocked(ToGrpcStatus(ReasonedError(
            absl::StatusCode::kAborted,
            absl::StrCat("this subscriber fell more than ", feed_.options().buffered_events,
                         " events behind the live feed; resume with after_event_id=",
                         delivered_through_, " to replay the rest"),
            kReasonEventSubscriberBehind,
            {{"resume_after_event_id", absl::StrCat(delivered_through_)}})));
        return;
    }
  }

  void WrittenLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    delivered_through_ = pending_.front().first;
    pending_.pop_front();
  }

  // The caller's place is free once the server has decided to end the stream, not only at
  // OnDone: a subscriber told TOKEN_EXPIRED may reconnect before OnDone has run.
  void OnFinishLocked() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    slot_ = WatchStreamLimiter::Slot();
  }

  void ReadStoredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    reading_ = true;
    const int64_t after = cursor_;
    if (!ScheduleLocked([this, after] { ReadStoredTask(after); })) {
      reading_ = false;
      FinishLocked(ToGrpcStatus(ReasonedError(
          absl::StatusCode::kUnavailable,
          absl::StrCat("the server is overloaded; resume with after_event_id=",
                       delivered_through_),
          kReasonOverloaded, {{"resume_after_event_id", absl::StrCat(delivered_through_)}})));
    }
  }

  void ReadStoredTask(int64_t after) {
    std::optional<std::string> tenant;
    std::optional<int64_t> through;
    {
      Locked lock(this);
      if (StoppedLocked()) {
        reading_ = false;
        return;
      }
      tenant = tenant_;
      through = stop_at_;
    }
    absl::StatusOr<FeedPage> page = feed_.ReadStored(after, tenant, kPageSize, through);
    Locked lock(this);
    reading_ = false;
    if (!page.ok()) {
      FinishLocked(ToGrpcStatus(page.status()));
    } else {
      Enqueue(std::move(page->events), page->scanned_through);
      PumpLocked();
    }
  }

  void Enqueue(std::vector<FeedEvent> events, int64_t scanned_through)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const FeedEvent& event : events) {
      auto& [seq, response] = pending_.emplace_back();
      seq = event.seq;
      ToProto(event, response.mutable_event());
    }
    cursor_ = std::max(cursor_, scanned_through);
  }

  EventFeed& feed_;
  WatchStreamLimiter& limiter_;
  // The caller's Principal::valid_until; written and read only by SetUp's worker.
  absl::Time valid_until_ = absl::InfiniteFuture();

  // Serialises arming against OnStreamDone's disarming, so that no alarm is armed after OnDone.
  // Taken before mu_ (ArmExpiry's Ref), never after it.
  absl::Mutex alarm_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool alarm_armed_ ABSL_GUARDED_BY(alarm_mu_) = false;
  bool alarm_disarmed_ ABSL_GUARDED_BY(alarm_mu_) = false;
  grpc::Alarm expiry_alarm_;

  WatchStreamLimiter::Slot slot_ ABSL_GUARDED_BY(mu_);
  bool token_expired_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::string> tenant_ ABSL_GUARDED_BY(mu_);  // nullopt: every tenant
  std::optional<int64_t> stop_at_ ABSL_GUARDED_BY(mu_);     // replay_only: the last position
  int64_t cursor_ ABSL_GUARDED_BY(mu_) = 0;                 // everything up to here was taken
  int64_t delivered_through_ ABSL_GUARDED_BY(mu_) = 0;      // where a resumed stream goes on
  // Events taken but not yet written, with their positions; at most one page.
  std::deque<std::pair<int64_t, v1::WatchInvitationEventsResponse>> pending_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool live_ ABSL_GUARDED_BY(mu_) = false;  // reading from the buffer, not the database
  bool subscribed_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;  // a database page is being read for the stream
};

}  // namespace

WatchStreamLimiter::Slot::Slot(Slot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), subject_(std::move(other.subject_)) {}

WatchStreamLimiter::Slot& WatchStreamLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (limiter_ != nullptr) limiter_->Give(subject_);
    limiter_ = std::exchange(other.limiter_, nullptr);
    subject_ = std::move(other.subject_);
  }
  return *this;
}

WatchStreamLimiter::Slot::~Slot() {
  if (limiter_ != nullptr) limiter_->Give(subject_);
}

absl::StatusOr<WatchStreamLimiter::Slot> WatchStreamLimiter::Acquire(absl::string_view subject) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(subject);
  if (it != open_.end() && it->second >= per_caller_) {
    return ReasonedError(
        absl::StatusCode::kResourceExhausted,
        absl::StrCat("this caller already has ", it->second,
                     " WatchInvitationEvents streams open on this replica, the most allowed "
                     "(--watch_streams_per_caller=", per_caller_,
                     "); close one before opening another"),
        kReasonTooManyStreams, {{"limit", absl::StrCat(per_caller_)}});
  }
  if (it == open_.end()) {
    open_.emplace(std::string(subject), 1);
  } else {
    ++it->second;
  }
  return Slot(this, std::string(subject));
}

void WatchStreamLimiter::set_per_caller(int per_caller) {
  absl::MutexLock lock(&mu_);
  per_caller_ = per_caller;
}

void WatchStreamLimiter::Give(const std::string& subject) {
  absl::MutexLock lock(&mu_);
  auto it = open_.find(subject);
  if (it == open_.end()) return;
  if (--it->second <= 0) open_.erase(it);
}

grpc::ServerWriteReactor<v1::WatchInvitationEventsResponse>* StartWatchInvitationEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchInvitationEventsRequest& request,
    std::function<absl::StatusOr<Caller>()> authenticate, EventFeed& feed, WorkerPool& workers,
    WatchStreamLimiter& limiter) {
  return new WatchEventsReactor(ctx, request, std::move(authenticate), feed, workers, limiter);
}

}  // namespace securelink::invitations
