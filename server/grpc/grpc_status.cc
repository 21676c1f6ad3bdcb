#include "server/grpc/grpc_status.h"

#include <algorithm>
#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/domain/errors.h"

namespace securelink::invitations {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  const ErrorDetails details = GetErrorDetails(status);
  if (details.reason.empty() && details.field_violations.empty() &&
      !details.retry_delay.has_value()) {
    return grpc::Status(code, message);
  }
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(status.code()));
  rpc_status.set_message(message);
  if (!details.reason.empty()) {
    google::rpc::ErrorInfo info;
    info.set_reason(details.reason);
    info.set_domain(kErrorDomain);
    for (const auto& [key, value] : details.metadata) (*info.mutable_metadata())[key] = value;
    rpc_status.add_details()->PackFrom(info);
  }
  if (!details.field_violations.empty()) {
    google::rpc::BadRequest bad_request;
    for (const FieldViolation& v : details.field_violations) {
      auto* fv = bad_request.add_field_violations();
      fv->set_field(v.field);
      fv->set_description(v.description);
    }
    rpc_status.add_details()->PackFrom(bad_request);
  }
  if (details.retry_delay.has_value()) {
    google::rpc::RetryInfo retry;
    const absl::Duration delay = std::max(*details.retry_delay, absl::ZeroDuration());
    const int64_t seconds = absl::ToInt64Seconds(delay);  // whole seconds, toward zero
    retry.mutable_retry_delay()->set_seconds(seconds);
    retry.mutable_retry_delay()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(delay - absl::Seconds(seconds))));
    rpc_status.add_details()->PackFrom(retry);
  }
  return grpc::Status(code, message, rpc_status.SerializeAsString());
}

}  // namespace securelink::invitations
