// The two things invitectl needs from gRPC directly, kept in one translation unit: TLS channel
// credentials from its flags, and the service list from server reflection.
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

// TLS credentials trusting `ca_pem` (PEM certificates), or the system roots when it is empty.
std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& ca_pem);

// The fully-qualified service names the server lists through grpc.reflection.v1alpha (what
// `grpcurl list` shows), sorted.
absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      const std::string& bearer_token,
                                                      absl::Duration deadline);

}  // namespace securelink::invitations::invitectl

#endif  // SECURELINK_CLIENT_INVITECTL_GRPC_GLUE_H_
