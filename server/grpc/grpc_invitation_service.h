// Thin gRPC callback handlers: parse the request, hand the blocking work to the worker pool,
// call the domain service, convert the result. Nothing here blocks a gRPC thread.
#ifndef SECURELINK_SERVER_GRPC_GRPC_INVITATION_SERVICE_H_
#define SECURELINK_SERVER_GRPC_GRPC_INVITATION_SERVICE_H_

#include <functional>

#include "absl/status/status.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "server/authenticator.h"
#include "server/bulk_invite.h"
#include "server/event_feed.h"
#include "server/grpc/grpc_watch_events.h"
#include "server/invitation_service.h"
#include "server/rate_limiter.h"
#include "server/tenant_policy_service.h"
#include "server/util/worker_pool.h"

namespace securelink::invitations {

// BulkInvite is a raw method: its request arrives unparsed, so that it is read only for a caller
// who may invite and no further than --bulk_max_addresses (SPEC §10). The service descriptor, and
// so reflection and every client, are unchanged.
// Limits of the RPCs themselves (the transport's are in GrpcServerOptions).
struct RpcOptions {
  // The deadline of unary calls whose client set none (SPEC §9): a call still waiting for a
  // worker when it passes is answered DEADLINE_EXCEEDED. BulkInvite and Watch are exempt.
  absl::Duration default_deadline = absl::Seconds(30);
  // WatchInvitationEvents streams one caller (token `sub`) may hold open on this replica at
  // once (SPEC §10; at least 1).
  int watch_streams_per_caller = 16;
};

class GrpcInvitationService final
    : public v1::InvitationService::WithRawCallbackMethod_BulkInvite<
          v1::InvitationService::CallbackService> {
 public:
  // Everything passed in must outlive this object and the gRPC server it is registered with.
  // `token_rate_limiter` throttles ValidateInvitationToken and AcceptInvitation per client.
  GrpcInvitationService(InvitationService& service, TenantPolicyService& policies,
                        BulkInviter& bulk, EventFeed& feed, WorkerPool& workers,
                        const Authenticator& authenticator, RateLimiter& token_rate_limiter,
                        RpcOptions options = {})
      : service_(service),
        policies_(policies),
        bulk_(bulk),
        feed_(feed),
        workers_(workers),
        authenticator_(authenticator),
        token_rate_limiter_(token_rate_limiter),
        options_(options),
        watch_streams_(options.watch_streams_per_caller) {}

  grpc::ServerUnaryReactor* CreateInvitation(grpc::CallbackServerContext* ctx,
                                             const v1::CreateInvitationRequest* request,
                                             v1::CreateInvitationResponse* response) override;
  grpc::ServerUnaryReactor* GetInvitation(grpc::CallbackServerContext* ctx,
                                          const v1::GetInvitationRequest* request,
                                          v1::GetInvitationResponse* response) override;
  grpc::ServerUnaryReactor* ListInvitations(grpc::CallbackServerContext* ctx,
                                            const v1::ListInvitationsRequest* request,
                                            v1::ListInvitationsResponse* response) override;
  grpc::ServerUnaryReactor* ResendInvitation(grpc::CallbackServerContext* ctx,
                                             const v1::ResendInvitationRequest* request,
                                             v1::ResendInvitationResponse* response) override;
  grpc::ServerUnaryReactor* RevokeInvitation(grpc::CallbackServerContext* ctx,
                                             const v1::RevokeInvitationRequest* request,
                                             v1::RevokeInvitationResponse* response) override;
  grpc::ServerUnaryReactor* ValidateInvitationToken(
      grpc::CallbackServerContext* ctx, const v1::ValidateInvitationTokenRequest* request,
      v1::ValidateInvitationTokenResponse* response) override;
  grpc::ServerUnaryReactor* AcceptInvitation(grpc::CallbackServerContext* ctx,
                                             const v1::AcceptInvitationRequest* request,
                                             v1::AcceptInvitationResponse* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* BulkInvite(grpc::CallbackServerContext* ctx,
                                                         const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<v1::WatchInvitationEventsResponse>* WatchInvitationEvents(
      grpc::CallbackServerContext* ctx,
      const v1::WatchInvitationEventsRequest* request) override;
  grpc::ServerUnaryReactor* GetTenantPolicy(grpc::CallbackServerContext* ctx,
                                            const v1::GetTenantPolicyRequest* request,
                                            v1::GetTenantPolicyResponse* response) override;
  grpc::ServerUnaryReactor* UpdateTenantPolicy(grpc::CallbackServerContext* ctx,
                                               const v1::UpdateTenantPolicyRequest* request,
                                               v1::UpdateTenantPolicyResponse* response) override;

 private:
  // Runs `work` on the worker pool and finishes the call with its result. Refuses with
  // RESOURCE_EXHAUSTED when the pool's queue is full, and skips work whose caller has already
  // gone or whose deadline has passed by the time a worker picks it up.
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* ctx,
                                    std::function<absl::Status()> work);
  // Offload for admin RPCs: authenticates the caller on the worker (a JWKS fetch may block)
  // and hands the principal to `work`.
  grpc::ServerUnaryReactor* OffloadAuthenticated(
      grpc::CallbackServerContext* ctx, std::function<absl::Status(const Caller&)> work);
  // Offload for the token RPCs: RESOURCE_EXHAUSTED at once past the per-client rate.
  grpc::ServerUnaryReactor* OffloadRateLimited(grpc::CallbackServerContext* ctx,
                                               std::function<absl::Status()> work);

  InvitationService& service_;
  TenantPolicyService& policies_;
  BulkInviter& bulk_;
  EventFeed& feed_;
  WorkerPool& workers_;
  const Authenticator& authenticator_;
  RateLimiter& token_rate_limiter_;
  const RpcOptions options_;
  WatchStreamLimiter watch_streams_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_GRPC_INVITATION_SERVICE_H_
