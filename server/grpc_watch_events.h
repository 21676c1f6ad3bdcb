// The WatchInvitationEvents server-streaming reactor: replays the caller's events after its
// position from the database, page by page, then follows the replica's live buffer (EventFeed).
// Memory per stream is bounded by one page; a live stream that falls out of the buffer ends with
// ABORTED naming the position to resume from.
#ifndef SECURELINK_SERVER_GRPC_WATCH_EVENTS_H_
#define SECURELINK_SERVER_GRPC_WATCH_EVENTS_H_

#include <grpcpp/support/server_callback.h>

#include <functional>

#include "absl/status/statusor.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/event_feed.h"
#include "server/invitation_service.h"
#include "server/worker_pool.h"

namespace grpc {
class CallbackServerContext;
}

namespace securelink::invitations {

// Creates the reactor for one WatchInvitationEvents call; it deletes itself when the call is
// done. `authenticate` runs on a worker before anything else.
grpc::ServerWriteReactor<v1::WatchInvitationEventsResponse>* StartWatchInvitationEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchInvitationEventsRequest& request,
    std::function<absl::StatusOr<Caller>()> authenticate, EventFeed& feed, WorkerPool& workers);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_WATCH_EVENTS_H_
