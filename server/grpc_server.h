// Starts a gRPC server for the invitation service with server reflection and grpc.health.v1.
#ifndef SECURELINK_SERVER_GRPC_SERVER_H_
#define SECURELINK_SERVER_GRPC_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace securelink::invitations {

// The service name health checks use (SPEC §7).
inline constexpr char kHealthServiceName[] = "securelink.invitations.v1.InvitationService";

struct GrpcServerOptions {
  std::string address = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  // Requests over this size are refused by gRPC with RESOURCE_EXHAUSTED (SPEC §9: 4 MiB).
  int max_receive_message_bytes = 4 * 1024 * 1024;
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// Builds and starts a server hosting `service` (which must outlive it). The health status of
// kHealthServiceName starts NOT_SERVING; call SetServing once dependencies are ready.
// UNAVAILABLE when the address cannot be bound.
absl::StatusOr<StartedServer> StartGrpcServer(const GrpcServerOptions& options,
                                              grpc::Service* service);

// Sets the grpc.health.v1 status of kHealthServiceName (and the overall "" service).
void SetServing(grpc::Server& server, bool serving);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_SERVER_H_
