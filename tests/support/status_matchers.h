// IsOk() and StatusIs(code) for absl::Status / StatusOr and grpc::Status (absl 20220623 ships
// no gMock status matchers), plus helpers to read google.rpc details off a grpc::Status.
#ifndef SECURELINK_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define SECURELINK_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <grpcpp/support/status.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"

namespace securelink::testing {

inline absl::StatusCode CodeOf(const absl::Status& s) { return s.code(); }
template <typename T>
absl::StatusCode CodeOf(const absl::StatusOr<T>& s) { return s.status().code(); }
inline absl::StatusCode CodeOf(const grpc::Status& s) {
  return static_cast<absl::StatusCode>(s.error_code());
}
inline std::string MessageOf(const absl::Status& s) { return std::string(s.message()); }
template <typename T>
std::string MessageOf(const absl::StatusOr<T>& s) { return std::string(s.status().message()); }
inline std::string MessageOf(const grpc::Status& s) { return s.error_message(); }

MATCHER(IsOk, "is OK") {
  if (CodeOf(arg) == absl::StatusCode::kOk) return true;
  *result_listener << "status is " << absl::StatusCodeToString(CodeOf(arg)) << ": "
                   << MessageOf(arg);
  return false;
}

MATCHER_P(StatusIs, code, "has status code " + absl::StatusCodeToString(code)) {
  if (CodeOf(arg) == code) return true;
  *result_listener << "status is " << absl::StatusCodeToString(CodeOf(arg)) << ": "
                   << MessageOf(arg);
  return false;
}

// The google.rpc.ErrorInfo reason in a grpc::Status's details, or "".
std::string ErrorReason(const grpc::Status& status);
// The ErrorInfo metadata value for `key`, or "".
std::string ErrorMetadata(const grpc::Status& status, const std::string& key);
// The google.rpc.BadRequest field names in a grpc::Status's details.
std::vector<std::string> ViolatedFields(const grpc::Status& status);
// The google.rpc.RetryInfo delay in a grpc::Status's details, or nullopt.
std::optional<absl::Duration> RetryDelay(const grpc::Status& status);

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_STATUS_MATCHERS_H_
