// The things invitectl needs from gRPC directly, kept in one translation unit: TLS channel
// credentials from its flags, the service list from server reflection, and grpc.health.v1.
#ifndef SECURELINK_CLIENT_INVITECTL_GRPC_GLUE_H_
#define SECURELINK_CLIENT_INVITECTL_GRPC_GLUE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
class ChannelCredentials;
}  // namespace grpc

namespace securelink::invitations::invitectl {

// TLS credentials trusting `ca_pem` (PEM certificates), or the system roots when it is empty,
// presenting the client certificate `cert_pem` with its key `key_pem` when they are not empty.
std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& ca_pem,
                                                         const std::string& cert_pem = "",
                                                         const std::string& key_pem = "");

// The fully-qualified service names the server lists through grpc.reflection.v1alpha (what
// `grpcurl list` shows), sorted.
absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      const std::string& bearer_token,
                                                      absl::Duration deadline);

// Asks grpc.health.v1.Health/Check about `service` ("" = the whole server) and returns the
// answer's status name: "SERVING", "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN". A failed call
// is its status (NOT_FOUND when the server does not know the service, UNAVAILABLE when it
// cannot be reached).
absl::StatusOr<std::string> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service,
                                        const std::string& bearer_token, absl::Duration deadline);

}  // namespace securelink::invitations::invitectl

#endif  // SECURELINK_CLIENT_INVITECTL_GRPC_GLUE_H_
