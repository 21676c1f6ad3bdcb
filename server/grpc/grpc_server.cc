#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "server/metrics/metrics.h"
#include "server/grpc/rpc_interceptor.h"
#include "server/util/log.h"

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

// How long the drain waits, once no call is in flight, before gRPC may close connections.
constexpr absl::Duration kStreamTailLinger = absl::Milliseconds(250);

// grpc_channelz_* answers are JSON strings the caller frees.
nlohmann::json Channelz(char* answer) {
  if (answer == nullptr) return nlohmann::json();
  nlohmann::json parsed = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
  gpr_free(answer);
  return parsed;
}

std::set<intptr_t> ChannelzServerIds() {
  std::set<intptr_t> ids;
  intptr_t start = 0;
  while (true) {
    nlohmann::json page = Channelz(grpc_channelz_get_servers(start));
    if (!page.is_object() || !page.contains("server")) break;
    for (const nlohmann::json& server : page["server"]) {
      int64_t id = 0;
      if (absl::SimpleAtoi(server["ref"].value("serverId", ""), &id)) ids.insert(id);
    }
    if (page.value("end", false) || ids.empty()) break;
    start = *ids.rbegin() + 1;
  }
  return ids;
}

// Calls started and not yet ended (channelz counts each as started, then succeeded or failed),
// or -1 when channelz cannot say.
int64_t CallsInFlight(intptr_t channelz_id) {
  nlohmann::json page = Channelz(grpc_channelz_get_server(channelz_id));
  if (!page.is_object() || !page.contains("server")) return -1;
  const nlohmann::json& data = page["server"].value("data", nlohmann::json::object());
  auto count = [&](const char* name) {
    int64_t n = 0;
    // int64 counters are JSON strings in the proto3 JSON mapping; absent means zero.
    if (!data.contains(name)) return n;
    if (data[name].is_string()) absl::SimpleAtoi(data[name].get<std::string>(), &n);
    if (data[name].is_number_integer()) n = data[name].get<int64_t>();
    return n;
  };
  return count("callsStarted") - count("callsSucceeded") - count("callsFailed");
}

bool HasClientConnections(intptr_t channelz_id) {
  nlohmann::json page = Channelz(grpc_channelz_get_server_sockets(channelz_id, 0, 1));
  return page.is_object() && page.contains("socketRef") && !page["socketRef"].empty();
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
  const std::set<intptr_t> servers_before = ChannelzServerIds();
  started.server = builder.BuildAndStart();
  if (started.server == nullptr || started.port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", options.address,
        options.tls.enabled() ? " (address in use, or unusable TLS certificate/key?)"
                              : " (address in use?)"));
  }
  SetServing(*started.server, false);
  std::vector<intptr_t> new_servers;
  for (intptr_t id : ChannelzServerIds()) {
    if (servers_before.count(id) == 0) new_servers.push_back(id);
  }
  // Two servers started at once in one process leave it unknown; the drain then does not wait.
  if (new_servers.size() == 1) started.channelz_id = new_servers.front();
  return started;
}

void ShutdownGracefully(StartedServer& server, absl::Time deadline) {
  if (server.server == nullptr) return;
  if (server.channelz_id != 0) {
    // GOAWAY waits until the calls in flight have ended, or half the grace: gRPC closes a
    // connection as soon as it has sent GOAWAY and its last stream has ended on the server,
    // and a client still reading that stream's tail (up to its flow-control window) then
    // answers with WINDOW_UPDATEs, draws a TCP reset and loses what it had not yet read.
    // Until then new calls are still served (readiness has said NOT_SERVING since the drain
    // began); afterwards the linger gives readers of finished streams time to reach the end.
    const absl::Time calls_deadline = absl::Now() + (deadline - absl::Now()) / 2;
    while (CallsInFlight(server.channelz_id) > 0 && absl::Now() < calls_deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    absl::SleepFor(std::min(kStreamTailLinger, std::max(deadline - absl::Now(),
                                                        absl::ZeroDuration())));
  }
  server.server->Shutdown(absl::ToChronoTime(deadline));
  if (server.channelz_id == 0) return;
  // gRPC has sent GOAWAY: a client closes its connection once it has read its last stream.
  // Polled, because gRPC offers no notification of a server-side connection closing.
  const absl::Time start = absl::Now();
  bool connected = HasClientConnections(server.channelz_id);
  while (connected && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    connected = HasClientConnections(server.channelz_id);
  }
  Log(connected ? LogLevel::kWarning : LogLevel::kInfo,
      connected ? "clients still connected at the end of the shutdown grace"
                : "gRPC server drained",
      {{"waited_ms", absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - start))}});
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
