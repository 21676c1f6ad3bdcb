// Starts a gRPC server for the invitation service with server reflection and grpc.health.v1,
// and with every transport limit set explicitly in one place (SPEC §9, STYLE "resource limits").
#ifndef SECURELINK_SERVER_GRPC_GRPC_SERVER_H_
#define SECURELINK_SERVER_GRPC_GRPC_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace securelink::invitations {

namespace metrics {
class Metrics;
}

// The service name health checks use (SPEC §7).
inline constexpr char kHealthServiceName[] = "securelink.invitations.v1.InvitationService";

// TLS for the gRPC listener, as PEM text. All empty: plaintext (behind a mesh or on loopback).
struct ServerTls {
  std::string cert_chain;  // the server's certificate chain
  std::string private_key;
  // Non-empty: mutual TLS — clients must present a certificate signed by one of these CAs.
  std::string client_ca;
  bool enabled() const { return !cert_chain.empty(); }
};

struct GrpcServerOptions {
  std::string address = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  // Requests over this size are refused by gRPC with RESOURCE_EXHAUSTED (SPEC §9: 4 MiB).
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // Keepalive enforcement: a client pinging more often than this (with or without calls in
  // flight) earns a strike; after max_ping_strikes the connection is closed (GOAWAY
  // ENHANCE_YOUR_CALM). 10 s admits every sane client keepalive and stops ping floods.
  absl::Duration min_client_ping_interval = absl::Seconds(10);
  int max_ping_strikes = 2;
  // The server pings idle connections this often and drops them when no ack comes within the
  // timeout, so half-open connections from vanished clients do not pile up.
  absl::Duration keepalive_time = absl::Minutes(1);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Connections are closed gracefully after this age (±10 % jitter, by gRPC) so clients
  // rebalance onto new replicas; calls in flight get the grace period to finish.
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Minutes(1);
  // grpc::ResourceQuota cap on the threads gRPC itself may create (the sync reflection
  // service's pollers; the callback API uses its own small pool). Database work runs on the
  // WorkerPool, not on these.
  int max_threads = 64;
  ServerTls tls;
  // Non-null: every call is counted in these metrics (series pre-created for every method).
  metrics::Metrics* metrics = nullptr;
  // Record metrics (when `metrics` is set) and write one JSON log line per call.
  bool observe_rpcs = false;
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  // The server's channelz id (0 when unknown): how the drain sees its client connections.
  intptr_t channelz_id = 0;
};

// Builds and starts a server hosting `service` (which must outlive it). The health status of
// kHealthServiceName starts NOT_SERVING; call SetServing once dependencies are ready.
// UNAVAILABLE when the address cannot be bound (or the TLS material is unusable).
absl::StatusOr<StartedServer> StartGrpcServer(const GrpcServerOptions& options,
                                              grpc::Service* service);

// Stops accepting calls, lets the running ones finish until `deadline` (then cancels them), and
// then waits, also until `deadline`, for the clients to close their connections. A process that
// exits while a client is still reading the last responses of a stream would reset the
// connection (the client's window updates reach a closed socket) and the client would lose them.
void ShutdownGracefully(StartedServer& server, absl::Time deadline);

// Sets the grpc.health.v1 status of kHealthServiceName (readiness). The overall "" status
// (liveness) stays SERVING from start until the health service is shut down for the drain.
void SetServing(grpc::Server& server, bool serving);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_GRPC_SERVER_H_
