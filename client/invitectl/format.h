// How invitectl shows things: invitations as a table or as key/value lines, bulk results and
// progress, events, errors, and protobuf JSON. Pure functions returning text.
#ifndef SECURELINK_CLIENT_INVITECTL_FORMAT_H_
#define SECURELINK_CLIENT_INVITECTL_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "securelink/invitations/v1/invitation_service.pb.h"

namespace securelink::invitations::invitectl {

namespace v1 = ::securelink::invitations::v1;

// "vpn-user", "pending", "created", "email-sent", ...: the enum value without its prefix, lower
// case, with dashes. "-" for UNSPECIFIED.
std::string RoleName(v1::Role role);
std::string StateName(v1::InvitationState state);
std::string DeliveryName(v1::EmailDeliveryState state);
std::string OutcomeName(v1::BulkInviteOutcome outcome);
std::string EventTypeName(v1::InvitationEventType type);

// RFC 3339 in UTC, e.g. "2024-05-01T10:00:00Z"; "-" when unset (all zero).
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);

// A table with a header line, columns STATE EMAIL ROLE TENANT EXPIRES ID, one row per
// invitation, every line ending in '\n'. Empty input gives just the header.
std::string FormatInvitationTable(const std::vector<v1::Invitation>& invitations);

// Aligned "key: value" lines of the fields that are set, each ending in '\n'.
std::string FormatInvitation(const v1::Invitation& invitation);

// One line per bulk result: line number, outcome, input, invitation id, message.
std::string FormatBulkResult(const v1::BulkInviteResult& result);

// "total N: created C, skipped S, invalid I, failed F"
std::string FormatBulkSummary(const v1::BulkInviteSummary& summary);

// One line per event: time, type, email, invitation id, actor, event id.
std::string FormatEvent(const v1::InvitationEvent& event);

// Counts of a bulk run so far, for the progress bar.
struct BulkProgress {
  int done = 0;
  int expected = 0;  // an estimate; the bar never shows more than 100 %
  int created = 0;
  int skipped = 0;
  int invalid = 0;
  int failed = 0;
  void Add(const v1::BulkInviteResult& result);
};

// "[#########...........]  450/1000  45%  created 400  skipped 40  invalid 10  failed 0", with a
// bar `width` characters wide; no newline or carriage return.
std::string FormatProgressBar(const BulkProgress& progress, int width = 30);

// The error block invitectl prints on stderr: "error: CODE: message", then the ErrorInfo reason
// and each field violation indented on its own line. Ends with '\n'.
std::string FormatError(const absl::Status& status);

// Protobuf JSON (lowerCamelCase names, like grpcurl): indented, or on one line when `compact`.
// Ends with '\n'.
std::string ToJson(const google::protobuf::Message& message, bool compact = false);

}  // namespace securelink::invitations::invitectl

#endif  // SECURELINK_CLIENT_INVITECTL_FORMAT_H_
