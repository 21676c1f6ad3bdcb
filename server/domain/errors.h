// Domain errors: canonical absl::Status codes plus a machine-readable reason and field
// violations, carried as a payload so that one function at the gRPC edge can turn them into
// google.rpc ErrorInfo / BadRequest details. Nothing here knows gRPC.
#ifndef SECURELINK_SERVER_DOMAIN_ERRORS_H_
#define SECURELINK_SERVER_DOMAIN_ERRORS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::invitations {

// ErrorInfo reasons callers may branch on (SPEC §3, §9).
inline constexpr absl::string_view kReasonActiveInvitationExists = "ACTIVE_INVITATION_EXISTS";
inline constexpr absl::string_view kReasonInvitationNotFound = "INVITATION_NOT_FOUND";
inline constexpr absl::string_view kReasonInvitationExpired = "INVITATION_EXPIRED";
inline constexpr absl::string_view kReasonInvitationRevoked = "INVITATION_REVOKED";
inline constexpr absl::string_view kReasonInvitationAlreadyAccepted = "INVITATION_ALREADY_ACCEPTED";
inline constexpr absl::string_view kReasonTokenInvalid = "INVITATION_TOKEN_INVALID";
inline constexpr absl::string_view kReasonRequestIdReused = "REQUEST_ID_REUSED";
inline constexpr absl::string_view kReasonInvalidPageToken = "INVALID_PAGE_TOKEN";
inline constexpr absl::string_view kReasonOverloaded = "SERVER_OVERLOADED";
inline constexpr absl::string_view kReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE";

// The field of a request a caller got wrong, and what is wrong with it.
struct FieldViolation {
  std::string field;
  std::string description;
};

// Machine-readable details attached to a Status by this module.
struct ErrorDetails {
  // How long to wait before trying again (google.rpc.RetryInfo); unset: no advice.
  std::optional<absl::Duration> retry_delay;
  std::string reason;                                         // empty: none
  std::vector<std::pair<std::string, std::string>> metadata;  // ErrorInfo metadata
  std::vector<FieldViolation> field_violations;               // BadRequest
};

// INVALID_ARGUMENT whose message lists every violation and whose details carry them.
// Requires a non-empty `violations`.
absl::Status InvalidFields(std::vector<FieldViolation> violations);

// INVALID_ARGUMENT for a single field.
absl::Status InvalidField(absl::string_view field, absl::string_view description);

// INVALID_ARGUMENT for a single field that also names a machine-readable `reason` (a rule of the
// tenant's policy rather than the field's syntax).
absl::Status InvalidFieldWithReason(absl::string_view field, absl::string_view description,
                                    absl::string_view reason);

// A status with `code`, a human-actionable `message`, and an ErrorInfo `reason` (+ metadata).
absl::Status ReasonedError(absl::StatusCode code, absl::string_view message,
                           absl::string_view reason,
                           std::vector<std::pair<std::string, std::string>> metadata = {});

// `status` (its code, message and details) advising the caller to wait `delay` before trying
// again: overload and unreachable dependencies, where an immediate retry only adds load.
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);

// The details attached by the functions above; empty details for any other status.
ErrorDetails GetErrorDetails(const absl::Status& status);

// Convenience: the ErrorInfo reason of `status`, or "" when it has none.
std::string ReasonOf(const absl::Status& status);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_ERRORS_H_
