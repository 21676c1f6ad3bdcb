// The BulkInvite server-streaming reactor: results stream in input order as chunks are decided
// on the worker pool, at most a couple of chunks ahead of the reader (flow control), and the
// work stops when the client cancels or the deadline passes.
#ifndef SECURELINK_SERVER_GRPC_BULK_INVITE_H_
#define SECURELINK_SERVER_GRPC_BULK_INVITE_H_

#include <grpcpp/support/server_callback.h>

#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/bulk_invite.h"
#include "server/worker_pool.h"

namespace grpc {
class CallbackServerContext;
}

namespace securelink::invitations {

// Creates the reactor for one BulkInvite call; it deletes itself when the call is done.
// `authenticate` runs on a worker before anything else (it may fetch keys).
grpc::ServerWriteReactor<v1::BulkInviteResponse>* StartBulkInvite(
    grpc::CallbackServerContext* ctx, const v1::BulkInviteRequest& request,
    std::function<absl::StatusOr<Caller>()> authenticate, BulkInviter& inviter,
    WorkerPool& workers);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_BULK_INVITE_H_
