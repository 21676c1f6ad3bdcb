#include "server/grpc/grpc_invitation_service.h"

#include <chrono>

#include "server/grpc/grpc_bulk_invite.h"
#include "server/grpc/grpc_watch_events.h"
#include "server/domain/errors.h"
#include "server/grpc/grpc_status.h"
#include "server/grpc/proto_convert.h"
#include "server/grpc/rpc_interceptor.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

// Overload and an unreachable database or Keycloak pass within moments: RetryInfo asks callers
// to hold back this long, so that their retries do not add to the load that refused them.
constexpr absl::Duration kRetryDelay = absl::Seconds(1);

absl::Status AdviseRetry(absl::Status status) {
  if (absl::IsUnavailable(status) && !GetErrorDetails(status).retry_delay.has_value()) {
    return WithRetryDelay(std::move(status), kRetryDelay);
  }
  return status;
}

std::string AuthorizationOf(const grpc::CallbackServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  return it == metadata.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

grpc::ServerUnaryReactor* GrpcInvitationService::Offload(grpc::CallbackServerContext* ctx,
                                                         std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // A client without a deadline gets --default_deadline, counted from arrival.
  std::chrono::system_clock::time_point deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    deadline = std::chrono::system_clock::now() +
               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                   absl::ToChronoNanoseconds(options_.default_deadline));
  }
  absl::Status queued = workers_.TrySubmit([ctx, reactor, deadline, work = std::move(work)] {
    if (ctx->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
      return;
    }
    if (deadline <= std::chrono::system_clock::now()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "the deadline passed while the call waited for a worker"));
      return;
    }
    reactor->Finish(ToGrpcStatus(AdviseRetry(work())));
  });
  // A full queue asks for the delay; a draining server (UNAVAILABLE) does not: another replica
  // can take the call at once.
  if (absl::IsResourceExhausted(queued)) queued = WithRetryDelay(std::move(queued), kRetryDelay);
  if (!queued.ok()) reactor->Finish(ToGrpcStatus(queued));
  return reactor;
}

grpc::ServerUnaryReactor* GrpcInvitationService::OffloadAuthenticated(
    grpc::CallbackServerContext* ctx, std::function<absl::Status(const Caller&)> work) {
  return Offload(ctx, [this, ctx, authorization = AuthorizationOf(ctx), work = std::move(work)] {
    ASSIGN_OR_RETURN(Caller caller, authenticator_.Authenticate(authorization));
    NoteRpcCaller(ctx, caller.subject);  // for the call's log line
    caller.request_id = RpcRequestId(ctx);
    return work(caller);
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::OffloadRateLimited(
    grpc::CallbackServerContext* ctx, std::function<absl::Status()> work) {
  if (!token_rate_limiter_.Allow(PeerHost(ctx->peer()))) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpcStatus(WithRetryDelay(
        ReasonedError(
            absl::StatusCode::kResourceExhausted,
            "too many registration-link attempts from this address; wait a moment and try again",
            "RATE_LIMITED"),
        token_rate_limiter_.RefillInterval())));
    return reactor;
  }
  return Offload(ctx, std::move(work));
}

grpc::ServerUnaryReactor* GrpcInvitationService::CreateInvitation(
    grpc::CallbackServerContext* ctx, const v1::CreateInvitationRequest* request,
    v1::CreateInvitationResponse* response) {
  CreateInvitationInput in;
  in.email = request->email();
  in.role = FromProto(request->role());
  in.tenant_id = request->tenant_id();
  in.ttl = FromProto(request->has_ttl(), request->ttl());
  in.request_id = request->request_id();
  in.suppress_email = request->suppress_email();
  in.locale = request->locale();
  return OffloadAuthenticated(ctx, [this, in = std::move(in), response](const Caller& caller) {
    ASSIGN_OR_RETURN(IssuedInvitation issued, service_.Create(caller, in));
    ToProto(issued.invitation, response->mutable_invitation());
    response->set_registration_url(issued.registration_url);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::GetInvitation(
    grpc::CallbackServerContext* ctx, const v1::GetInvitationRequest* request,
    v1::GetInvitationResponse* response) {
  return OffloadAuthenticated(ctx, [this, request, response](const Caller& caller) {
    ASSIGN_OR_RETURN(Invitation inv, service_.Get(caller, request->id()));
    ToProto(inv, response->mutable_invitation());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::GetTenantPolicy(
    grpc::CallbackServerContext* ctx, const v1::GetTenantPolicyRequest* request,
    v1::GetTenantPolicyResponse* response) {
  return OffloadAuthenticated(ctx, [this, request, response](const Caller& caller) {
    ASSIGN_OR_RETURN(TenantPolicy policy, policies_.Get(caller, request->tenant_id()));
    ToProto(policy, response->mutable_policy());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::UpdateTenantPolicy(
    grpc::CallbackServerContext* ctx, const v1::UpdateTenantPolicyRequest* request,
    v1::UpdateTenantPolicyResponse* response) {
  TenantPolicy update = FromProto(request->policy());
  std::vector<std::string> paths(request->update_mask().paths().begin(),
                                 request->update_mask().paths().end());
  std::string etag = request->policy().etag();
  return OffloadAuthenticated(
      ctx, [this, update = std::move(update), paths = std::move(paths), etag = std::move(etag),
            response](const Caller& caller) {
        ASSIGN_OR_RETURN(TenantPolicy stored, policies_.Update(caller, update, paths, etag));
        ToProto(stored, response->mutable_policy());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* GrpcInvitationService::ListInvitations(
    grpc::CallbackServerContext* ctx, const v1::ListInvitationsRequest* request,
    v1::ListInvitationsResponse* response) {
  ListInvitationsInput in;
  in.tenant_id = request->tenant_id();
  for (int s : request->states()) in.states.push_back(FromProto(static_cast<v1::InvitationState>(s)));
  in.email_query = request->email_query();
  in.page_size = request->page_size();
  in.page_token = request->page_token();
  return OffloadAuthenticated(ctx, [this, in = std::move(in), response](const Caller& caller) {
    ASSIGN_OR_RETURN(ListInvitationsOutput out, service_.List(caller, in));
    for (const Invitation& inv : out.invitations) ToProto(inv, response->add_invitations());
    response->set_next_page_token(out.next_page_token);
    response->set_total_size(static_cast<int32_t>(out.total_size));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::ResendInvitation(
    grpc::CallbackServerContext* ctx, const v1::ResendInvitationRequest* request,
    v1::ResendInvitationResponse* response) {
  return OffloadAuthenticated(ctx, [this, request, response](const Caller& caller) {
    ASSIGN_OR_RETURN(IssuedInvitation issued,
                     service_.Resend(caller, request->id(),
                                     FromProto(request->has_ttl(), request->ttl()),
                                     request->request_id()));
    ToProto(issued.invitation, response->mutable_invitation());
    response->set_registration_url(issued.registration_url);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::RevokeInvitation(
    grpc::CallbackServerContext* ctx, const v1::RevokeInvitationRequest* request,
    v1::RevokeInvitationResponse* response) {
  return OffloadAuthenticated(ctx, [this, request, response](const Caller& caller) {
    ASSIGN_OR_RETURN(Invitation inv, service_.Revoke(caller, request->id(), request->reason()));
    ToProto(inv, response->mutable_invitation());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrpcInvitationService::ValidateInvitationToken(
    grpc::CallbackServerContext* ctx, const v1::ValidateInvitationTokenRequest* request,
    v1::ValidateInvitationTokenResponse* response) {
  return OffloadRateLimited(ctx, [this, request, response] {
    ASSIGN_OR_RETURN(Invitation inv, service_.ValidateToken(request->token()));
    response->set_invitation_id(inv.id);
    response->set_email(inv.email);
    response->set_role(ToProto(inv.role));
    response->set_tenant_id(inv.tenant_id);
    ToProto(inv.expire_time, response->mutable_expire_time());
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GrpcInvitationService::BulkInvite(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
  return StartBulkInvite(
      ctx, request,
      [this, ctx, authorization = AuthorizationOf(ctx)]() -> absl::StatusOr<Caller> {
        absl::StatusOr<Caller> caller = authenticator_.Authenticate(authorization);
        if (caller.ok()) {
          NoteRpcCaller(ctx, caller->subject);  // for the call's log line
          caller->request_id = RpcRequestId(ctx);
        }
        return caller;
      },
      bulk_, workers_);
}

grpc::ServerWriteReactor<v1::WatchInvitationEventsResponse>*
GrpcInvitationService::WatchInvitationEvents(grpc::CallbackServerContext* ctx,
                                             const v1::WatchInvitationEventsRequest* request) {
  return StartWatchInvitationEvents(
      ctx, *request,
      [this, authorization = AuthorizationOf(ctx)] {
        return authenticator_.Authenticate(authorization);
      },
      feed_, workers_, watch_streams_);
}

grpc::ServerUnaryReactor* GrpcInvitationService::AcceptInvitation(
    grpc::CallbackServerContext* ctx, const v1::AcceptInvitationRequest* request,
    v1::AcceptInvitationResponse* response) {
  return OffloadRateLimited(ctx, [this, ctx, request, response] {
    AcceptInvitationInput in;
    in.request_id = RpcRequestId(ctx);
    in.token = request->token();
    in.password = request->password();
    in.first_name = request->first_name();
    in.last_name = request->last_name();
    in.username = request->username();
    ASSIGN_OR_RETURN(Invitation inv, service_.Accept(in));
    ToProto(inv, response->mutable_invitation());
    response->set_user_id(inv.user_id);
    return absl::OkStatus();
  });
}

}  // namespace securelink::invitations
