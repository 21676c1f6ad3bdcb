// The WatchInvitationEvents server-streaming reactor: replays the caller's events after its
// position from the database, page by page, then follows the replica's live buffer (EventFeed).
// Memory per stream is bounded by one page; a live stream that falls out of the buffer ends with
// ABORTED naming the position to resume from. A stream lives no longer than the token it was
// opened with, and each caller holds a bounded number of them (SPEC §10).
#ifndef SECURELINK_SERVER_GRPC_GRPC_WATCH_EVENTS_H_
#define SECURELINK_SERVER_GRPC_GRPC_WATCH_EVENTS_H_

#include <grpcpp/support/server_callback.h>

#include <functional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/event_feed.h"
#include "server/invitation_service.h"
#include "server/util/worker_pool.h"

namespace grpc {
class CallbackServerContext;
}

namespace securelink::invitations {

// ErrorInfo reasons of the stream's own endings (the feed's are in event_feed.h).
// UNAUTHENTICATED: the token the stream was opened with has expired (exp + leeway passed) while
// it was open; metadata resume_after_event_id says where a stream with a fresh token goes on.
// A call whose token is expired on arrival gets AUTH_TOKEN_EXPIRED instead (jwt_verifier.h).
inline constexpr absl::string_view kReasonTokenExpired = "TOKEN_EXPIRED";
// RESOURCE_EXHAUSTED: the caller already has --watch_streams_per_caller streams open here.
inline constexpr absl::string_view kReasonTooManyStreams = "TOO_MANY_STREAMS";

// The open WatchInvitationEvents streams of each caller (token `sub`) on this replica, held to
// a limit (SPEC §10 --watch_streams_per_caller). With authentication disabled every stream
// belongs to the one pseudo caller "auth-disabled", so the limit is then per replica. Thread-safe.
class WatchStreamLimiter {
 public:
  // One open stream; gives its place back when destroyed. Move-only.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

   private:
    friend class WatchStreamLimiter;
    Slot(WatchStreamLimiter* limiter, std::string subject)
        : limiter_(limiter), subject_(std::move(subject)) {}
    WatchStreamLimiter* limiter_ = nullptr;  // nullptr: holds nothing
    std::string subject_;
  };

  // `per_caller` must be at least 1.
  explicit WatchStreamLimiter(int per_caller) : per_caller_(per_caller) {}
  WatchStreamLimiter(const WatchStreamLimiter&) = delete;
  WatchStreamLimiter& operator=(const WatchStreamLimiter&) = delete;

  // A place for one more stream of `subject`, or RESOURCE_EXHAUSTED (kReasonTooManyStreams) with
  // a message naming the limit when `subject` already holds per_caller of them. Slots must not
  // outlive the limiter.
  absl::StatusOr<Slot> Acquire(absl::string_view subject);

  // Takes effect for later Acquire calls (set it before serving).
  void set_per_caller(int per_caller);

 private:
  void Give(const std::string& subject);

  absl::Mutex mu_;
  int per_caller_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> open_ ABSL_GUARDED_BY(mu_);  // no zero entries
};

// Creates the reactor for one WatchInvitationEvents call; it deletes itself when the call is
// done. `authenticate` runs on a worker before anything else; the stream then takes a place in
// `limiter` for the caller's subject (refused RESOURCE_EXHAUSTED when there is none) until it
// ends, and ends UNAUTHENTICATED (kReasonTokenExpired) once the caller's valid_until passes.
grpc::ServerWriteReactor<v1::WatchInvitationEventsResponse>* StartWatchInvitationEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchInvitationEventsRequest& request,
    std::function<absl::StatusOr<Caller>()> authenticate, EventFeed& feed, WorkerPool& workers,
    WatchStreamLimiter& limiter);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_GRPC_WATCH_EVENTS_H_
