// The BulkInvite server-streaming reactor: results stream in input order as chunks are decided
// on the worker pool, at most a couple of chunks ahead of the reader (flow control), and the
// work stops when the client cancels or the deadline passes.
#ifndef SECURELINK_SERVER_GRPC_GRPC_BULK_INVITE_H_
#define SECURELINK_SERVER_GRPC_GRPC_BULK_INVITE_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <functional>

#include "absl/status/statusor.h"
#include "server/bulk_invite.h"
#include "server/util/worker_pool.h"

namespace grpc {
class CallbackServerContext;
}

namespace securelink::invitations {

// Creates the reactor for one BulkInvite call; it deletes itself when the call is done. The
// request arrives as gRPC received it, unparsed (SPEC §10: nothing is big before authorization):
// on a worker, `authenticate` runs first (it may fetch keys), a caller who may invite nobody
// (RequireAdmin) gets its answer without the request being read, and only then is the request read,
// keeping no more of an email list than --bulk_max_addresses + 1 elements. The reactor takes the
// request's bytes from gRPC (which would hold them until the call ends) and frees them as soon as
// they have been read. Responses are written serialized, byte for byte what the generated
// message would be.
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartBulkInvite(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
    std::function<absl::StatusOr<Caller>()> authenticate, BulkInviter& inviter,
    WorkerPool& workers);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_GRPC_BULK_INVITE_H_
