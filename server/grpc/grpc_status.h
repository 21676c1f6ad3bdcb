// The one place an absl::Status becomes a grpc::Status: same code and message, plus a
// google.rpc.Status in the details carrying ErrorInfo (reason) and BadRequest (fields).
#ifndef SECURELINK_SERVER_GRPC_GRPC_STATUS_H_
#define SECURELINK_SERVER_GRPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace securelink::invitations {

// The ErrorInfo domain of every error this service reports.
inline constexpr char kErrorDomain[] = "invitations.securelink.io";

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_GRPC_STATUS_H_
