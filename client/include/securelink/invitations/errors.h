// Rich errors of the Invitation Service: the canonical code and message of a failed call plus the
// google.rpc details the server attached (ErrorInfo reason and metadata, BadRequest field
// violations), decoded into plain C++ types.
//
// Every absl::Status returned by InvitationClient carries the gRPC status's code and message, and,
// when the server sent details, the serialized google.rpc.Status as a payload under
// kStatusDetailsTypeUrl. DecodeError() turns either form into an InvitationError.
#ifndef SECURELINK_INVITATIONS_ERRORS_H_
#define SECURELINK_INVITATIONS_ERRORS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace grpc {
class Status;
}  // namespace grpc

namespace securelink::invitations::client {

// The absl::Status payload key under which the serialized google.rpc.Status travels.
inline constexpr absl::string_view kStatusDetailsTypeUrl = "type.googleapis.com/google.rpc.Status";

// ErrorInfo reasons the service documents (SPEC §3, §9); callers branch on these, not on messages.
inline constexpr absl::string_view kReasonActiveInvitationExists = "ACTIVE_INVITATION_EXISTS";
inline constexpr absl::string_view kReasonInvitationExpired = "INVITATION_EXPIRED";
inline constexpr absl::string_view kReasonInvitationRevoked = "INVITATION_REVOKED";
inline constexpr absl::string_view kReasonInvitationAlreadyAccepted = "INVITATION_ALREADY_ACCEPTED";
inline constexpr absl::string_view kReasonTokenInvalid = "INVITATION_TOKEN_INVALID";
// WatchInvitationEvents: the stream must be resumed (its ErrorInfo metadata
// "resume_after_event_id" says from where). The client's Watch does so on its own.
inline constexpr absl::string_view kReasonEventSubscriberBehind = "EVENT_SUBSCRIBER_BEHIND";
inline constexpr absl::string_view kReasonServerShuttingDown = "SERVER_SHUTTING_DOWN";
// WatchInvitationEvents positions that cannot be placed.
inline constexpr absl::string_view kReasonEventNotFound = "EVENT_NOT_FOUND";
inline constexpr absl::string_view kReasonEventPositionExpired = "EVENT_POSITION_EXPIRED";
// WatchInvitationEvents outlived its bearer token (UNAUTHENTICATED): reconnect with a fresh token
// after "resume_after_event_id". The client's Watch returns it rather than retrying with the
// expired token.
inline constexpr absl::string_view kReasonTokenExpired = "TOKEN_EXPIRED";
// Too many WatchInvitationEvents streams of one caller are open on the replica
// (RESOURCE_EXHAUSTED; metadata "limit").
inline constexpr absl::string_view kReasonTooManyStreams = "TOO_MANY_STREAMS";
// AcceptInvitation overtaken by another submission of the same link (ABORTED): safe to retry.
inline constexpr absl::string_view kReasonAcceptSuperseded = "ACCEPT_SUPERSEDED";
// A request_id reused for a different request (ALREADY_EXISTS).
inline constexpr absl::string_view kReasonRequestIdReused = "REQUEST_ID_REUSED";

// One bad request field (google.rpc.BadRequest.FieldViolation).
struct FieldViolation {
  std::string field;        // e.g. "email"
  std::string description;  // what is wrong with its value
};

// A failed call, decoded. A default-constructed or OK error has code kOk and nothing else.
struct InvitationError {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  // google.rpc.ErrorInfo, empty when the server sent none.
  std::string reason;
  std::string domain;
  std::map<std::string, std::string> metadata;
  // google.rpc.BadRequest, in the order the server listed them.
  std::vector<FieldViolation> field_violations;
  // google.rpc.RetryInfo: how long the server asks callers to wait before trying again.
  std::optional<absl::Duration> retry_delay;

  bool ok() const { return code == absl::StatusCode::kOk; }

  // Human-readable, one item per line and no trailing newline:
  //   INVALID_ARGUMENT: <message>
  //   reason: <REASON> (key=value, ...)
  //   field <field>: <description>
  // Lines after the first appear only when there is something to show.
  std::string ToString() const;
};

// Decodes `status` (as returned by InvitationClient): code, message and, when the payload under
// kStatusDetailsTypeUrl is present and parses, the ErrorInfo and BadRequest details. Details it
// does not know are ignored; a malformed payload yields an error without details.
InvitationError DecodeError(const absl::Status& status);

// The same for a raw grpc::Status, reading its error_details() (a serialized google.rpc.Status
// whose `details` hold Any-packed google.rpc.ErrorInfo / google.rpc.BadRequest).
InvitationError DecodeError(const grpc::Status& status);

// The absl::Status equivalent of `status`: same code and message, and its error_details() as the
// kStatusDetailsTypeUrl payload when non-empty. OK maps to absl::OkStatus().
absl::Status ToAbslStatus(const grpc::Status& status);

// Shorthand for DecodeError(status).reason: "" when the status carries no ErrorInfo.
std::string ErrorReason(const absl::Status& status);

}  // namespace securelink::invitations::client

#endif  // SECURELINK_INVITATIONS_ERRORS_H_
