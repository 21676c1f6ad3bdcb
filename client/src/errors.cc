// Decoding of google.rpc error details; the only gRPC header needed is the status type.
#include "securelink/invitations/errors.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace securelink::invitations::client {
namespace {

// grpc::StatusCode and absl::StatusCode share the canonical numbering; anything else is UNKNOWN.
absl::StatusCode CanonicalCode(int code) {
  return code >= 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown;
}

InvitationError DecodeDetails(absl::StatusCode code, std::string message,
                              const std::string* serialized_details) {
  InvitationError error;
  error.code = code;
  error.message = std::move(message);
  if (code == absl::StatusCode::kOk || serialized_details == nullptr ||
      serialized_details->empty()) {
    return error;
  }
  google::rpc::Status status;
  if (!status.ParseFromString(*serialized_details)) return error;
  for (const google::protobuf::Any& any : status.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) {
      google::rpc::ErrorInfo info;
      if (!any.UnpackTo(&info)) continue;
      error.reason = info.reason();
      error.domain = info.domain();
      error.metadata.insert(info.metadata().begin(), info.metadata().end());
    } else if (any.Is<google::rpc::RetryInfo>()) {
      google::rpc::RetryInfo retry;
      if (!any.UnpackTo(&retry)) continue;
      error.retry_delay = absl::Seconds(retry.retry_delay().seconds()) +
                          absl::Nanoseconds(retry.retry_delay().nanos());
    } else if (any.Is<google::rpc::BadRequest>()) {
      google::rpc::BadRequest bad_request;
      if (!any.UnpackTo(&bad_request)) continue;
      for (const auto& violation : bad_request.field_violations()) {
        error.field_violations.push_back({violation.field(), violation.description()});
      }
    }
  }
  return error;
}

}  // namespace

std::string InvitationError::ToString() const {
  std::string out = absl::StrCat(absl::StatusCodeToString(code), ": ", message);
  if (!reason.empty()) {
    absl::StrAppend(&out, "\nreason: ", reason);
    if (!metadata.empty()) {
      absl::StrAppend(&out, " (", absl::StrJoin(metadata, ", ", absl::PairFormatter("=")), ")");
    }
  }
  for (const FieldViolation& violation : field_violations) {
    absl::StrAppend(&out, "\nfield ", violation.field, ": ", violation.description);
  }
  return out;
}

InvitationError DecodeError(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kStatusDetailsTypeUrl);
  if (!payload.has_value()) {
    return DecodeDetails(status.code(), std::string(status.message()), nullptr);
  }
  const std::string details(*payload);
  return DecodeDetails(status.code(), std::string(status.message()), &details);
}

InvitationError DecodeError(const grpc::Status& status) {
  const std::string details = status.error_details();
  return DecodeDetails(CanonicalCode(status.error_code()), status.error_message(), &details);
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(CanonicalCode(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    out.SetPayload(kStatusDetailsTypeUrl, absl::Cord(status.error_details()));
  }
  return out;
}

std::string ErrorReason(const absl::Status& status) { return DecodeError(status).reason; }

}  // namespace securelink::invitations::client
