#include "format.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "securelink/invitations/errors.h"

namespace securelink::invitations::invitectl {
namespace {

// "ROLE_VPN_USER" with prefix "ROLE_" -> "vpn-user"; the zero value -> "-".
std::string ShortEnumName(int value, const std::string& full_name, absl::string_view prefix) {
  if (value == 0) return "-";
  if (full_name.empty()) return absl::StrCat(value);
  absl::string_view name = full_name;
  absl::ConsumePrefix(&name, prefix);
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

}  // namespace

std::string RoleName(v1::Role role) { return ShortEnumName(role, v1::Role_Name(role), "ROLE_"); }

std::string StateName(v1::InvitationState state) {
  return ShortEnumName(state, v1::InvitationState_Name(state), "INVITATION_STATE_");
}

std::string DeliveryName(v1::EmailDeliveryState state) {
  return ShortEnumName(state, v1::EmailDeliveryState_Name(state), "EMAIL_DELIVERY_STATE_");
}

std::string OutcomeName(v1::BulkInviteOutcome outcome) {
  return ShortEnumName(outcome, v1::BulkInviteOutcome_Name(outcome), "BULK_INVITE_OUTCOME_");
}

std::string EventTypeName(v1::InvitationEventType type) {
  return ShortEnumName(type, v1::InvitationEventType_Name(type), "INVITATION_EVENT_TYPE_");
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  const absl::Time time =
      absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

std::string FormatInvitationTable(const std::vector<v1::Invitation>& invitations) {
  constexpr size_t kColumns = 6;
  std::vector<std::array<std::string, kColumns>> rows;
  rows.push_back({"STATE", "EMAIL", "ROLE", "TENANT", "EXPIRES", "ID"});
  for (const v1::Invitation& invitation : invitations) {
    rows.push_back({StateName(invitation.state()), invitation.email(), RoleName(invitation.role()),
                    OrDash(invitation.tenant_id()), FormatTimestamp(invitation.expire_time()),
                    invitation.id()});
  }
  std::array<size_t, kColumns> widths{};
  for (const auto& row : rows) {
    for (size_t c = 0; c < kColumns; ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t c = 0; c < kColumns; ++c) {
      if (c + 1 == kColumns) {
        absl::StrAppend(&out, row[c], "\n");
      } else {
        absl::StrAppend(&out, row[c], std::string(widths[c] - row[c].size() + 2, ' '));
      }
    }
  }
  return out;
}

std::string FormatInvitation(const v1::Invitation& invitation) {
  std::vector<std::pair<std::string, std::string>> lines;
  auto add = [&lines](std::string key, std::string value) {
    if (!value.empty() && value != "-") lines.emplace_back(std::move(key), std::move(value));
  };
  add("id", invitation.id());
  add("email", invitation.email());
  add("role", RoleName(invitation.role()));
  add("tenant", invitation.tenant_id());
  add("state", StateName(invitation.state()));
  add("created", FormatTimestamp(invitation.create_time()));
  add("created_by", invitation.created_by());
  add("expires", FormatTimestamp(invitation.expire_time()));
  add("updated", FormatTimestamp(invitation.update_time()));
  add("emails_sent", absl::StrCat(invitation.send_count()));
  add("last_sent", FormatTimestamp(invitation.last_send_time()));
  add("delivery", DeliveryName(invitation.email_delivery_state()));
  add("delivery_error", invitation.email_last_error());
  add("accepted", FormatTimestamp(invitation.accept_time()));
  add("user_id", invitation.user_id());
  add("revoked", FormatTimestamp(invitation.revoke_time()));
  add("revoke_reason", invitation.revoke_reason());
  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : lines) {
    absl::StrAppend(&out, key, ":", std::string(width - key.size() + 1, ' '), value, "\n");
  }
  return out;
}

std::string FormatBulkResult(const v1::BulkInviteResult& result) {
  std::string out = absl::StrFormat("%6d  %-17s  %s", result.line(), OutcomeName(result.outcome()),
                                    result.input().empty() ? result.email() : result.input());
  if (!result.invitation_id().empty()) absl::StrAppend(&out, "  ", result.invitation_id());
  if (!result.message().empty()) absl::StrAppend(&out, "  (", result.message(), ")");
  return out;
}

std::string FormatBulkSummary(const v1::BulkInviteSummary& summary) {
  return absl::StrFormat("total %d: created %d, skipped %d, invalid %d, failed %d", summary.total(),
                         summary.created(), summary.skipped(), summary.invalid(), summary.failed());
}

std::string FormatEvent(const v1::InvitationEvent& event) {
  std::string out = absl::StrCat(FormatTimestamp(event.event_time()), "  ",
                                 absl::StrFormat("%-13s", EventTypeName(event.type())), "  ",
                                 OrDash(event.email()), "  ", OrDash(event.invitation_id()),
                                 "  actor=", OrDash(event.actor()));
  if (!event.tenant_id().empty()) absl::StrAppend(&out, "  tenant=", event.tenant_id());
  if (!event.reason().empty()) absl::StrAppend(&out, "  reason=", event.reason());
  absl::StrAppend(&out, "  event=", event.event_id());
  return out;
}

void BulkProgress::Add(const v1::BulkInviteResult& result) {
  ++done;
  switch (result.outcome()) {
    case v1::BULK_INVITE_OUTCOME_CREATED:
      ++created;
      break;
    case v1::BULK_INVITE_OUTCOME_SKIPPED_PENDING:
    case v1::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE:
      ++skipped;
      break;
    case v1::BULK_INVITE_OUTCOME_INVALID_EMAIL:
    case v1::BULK_INVITE_OUTCOME_DOMAIN_NOT_ALLOWED:
      ++invalid;
      break;
    default:
      ++failed;
      break;
  }
}

std::string FormatProgressBar(const BulkProgress& progress, int width) {
  const int expected = std::max(progress.expected, progress.done);
  const double fraction = expected == 0 ? 0.0 : static_cast<double>(progress.done) / expected;
  const int filled = static_cast<int>(fraction * width);
  return absl::StrFormat("[%s%s] %*d/%d %3d%%  created %d  skipped %d  invalid %d  failed %d",
                         std::string(filled, '#'), std::string(width - filled, '.'),
                         static_cast<int>(absl::StrCat(expected).size()), progress.done, expected,
                         static_cast<int>(fraction * 100), progress.created, progress.skipped,
                         progress.invalid, progress.failed);
}

std::string FormatError(const absl::Status& status) {
  // InvitationError::ToString puts the reason and each violation on a line of its own.
  return absl::StrCat(
      "error: ", absl::StrReplaceAll(client::DecodeError(status).ToString(), {{"\n", "\n  "}}),
      "\n");
}

std::string ToJson(const google::protobuf::Message& message, bool compact) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = !compact;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    return absl::StrCat("{\"error\": \"cannot print ", message.GetTypeName(), " as JSON\"}\n");
  }
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

}  // namespace securelink::invitations::invitectl
