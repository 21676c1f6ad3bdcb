// The per-RPC edge of observability: one server interceptor that records the grpc-ecosystem
// metrics of every call (unary and streaming alike), gives each call its request id, and writes
// one JSON log line per call (method, code, latency, peer, caller `sub`, request id). Never a
// request or response body: the token RPCs carry registration tokens and passwords.
#ifndef SECURELINK_SERVER_GRPC_RPC_INTERCEPTOR_H_
#define SECURELINK_SERVER_GRPC_RPC_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "server/bulk_invite.h"
#include "server/metrics/metrics.h"

namespace securelink::invitations {

// Makes the interceptor factory to give to ServerBuilder. `metrics` (may be null: logs only)
// must outlive the server; its methods must have been added before the server starts.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcObservabilityInterceptorFactory(metrics::Metrics* metrics);

// Tells the interceptor of the call behind `ctx` who the authenticated caller is, for its log
// line. Thread-safe; a no-op for a call without the interceptor.
void NoteRpcCaller(const grpc::ServerContextBase* ctx, absl::string_view subject);

// The request id of the call behind `ctx` (the caller's `x-request-id`, else its
// `traceparent`'s trace id, else a new one), also sent back in the response's initial metadata
// as `x-request-id`; empty for a call without the interceptor. Handlers record it on the events
// and emails the call causes. Thread-safe.
std::string RpcRequestId(const grpc::ServerContextBase* ctx);

// Tells the interceptor of the BulkInvite call behind `ctx` the totals of the summary it is about
// to send, for the bulk outcome metric (callers leave validate_only calls out). The handler reads
// its request and writes its responses as raw bytes, so the interceptor cannot see them parsed.
// Thread-safe; a no-op for a call without the interceptor or without metrics.
void NoteBulkOutcomes(const grpc::ServerContextBase* ctx, const BulkSummary& summary);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_RPC_INTERCEPTOR_H_
