#include "server/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "server/metrics/metrics.h"
#include "server/rpc_interceptor.h"

namespace securelink::invitations {
namespace {

int Millis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

std::shared_ptr<grpc::ServerCredentials> Credentials(const ServerTls& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.client_ca;
  ssl.pem_key_cert_pairs.push_back({tls.private_key, tls.cert_chain});
  return grpc::SslServerCredentials(ssl);
}

// Every method the server hosts, so that its metric series exist at zero from the start.
void AddServedMethods(metrics::Metrics& m) {
  const google::protobuf::ServiceDescriptor* service =
      v1::CreateInvitationRequest::descriptor()->file()->FindServiceByName("InvitationService");
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    metrics::GrpcType type = metrics::GrpcType::kUnary;
    if (method->client_streaming() && method->server_streaming()) {
      type = metrics::GrpcType::kBidiStream;
    } else if (method->client_streaming()) {
      type = metrics::GrpcType::kClientStream;
    } else if (method->server_streaming()) {
      type = metrics::GrpcType::kServerStream;
    }
    m.AddGrpcMethod(absl::StrCat("/", service->full_name(), "/", method->name()), type);
  }
  m.AddGrpcMethod("/grpc.health.v1.Health/Check", metrics::GrpcType::kUnary);
  m.AddGrpcMethod("/grpc.health.v1.Health/Watch", metrics::GrpcType::kServerStream);
  m.AddGrpcMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                  metrics::GrpcType::kBidiStream);
}

}  // namespace

absl::StatusOr<StartedServer> StartGrpcServer(const GrpcServerOptions& options,
                                              grpc::Service* service) {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  });
  grpc::ServerBuilder builder;
  StartedServer started;
  builder.AddListeningPort(options.address, Credentials(options.tls), &started.port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(options.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options.max_ping_strikes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, Millis(options.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(options.max_connection_age_grace));
  grpc::ResourceQuota quota("invitation_server");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  if (options.observe_rpcs) {
    if (options.metrics != nullptr) AddServedMethods(*options.metrics);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(MakeRpcObservabilityInterceptorFactory(options.metrics));
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  builder.RegisterService(service);
  started.server = builder.BuildAndStart();
  if (started.server == nullptr || started.port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", options.address,
        options.tls.enabled() ? " (address in use, or unusable TLS certificate/key?)"
                              : " (address in use?)"));
  }
  SetServing(*started.server, false);
  return started;
}

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  // Only the service: the overall "" status is the process's liveness (gRPC keeps it SERVING
  // until the drain shuts the health service down), so a database outage makes replicas unready
  // without making an orchestrator restart them all.
  health->SetServingStatus(kHealthServiceName, serving);
}

}  // namespace securelink::invitations
