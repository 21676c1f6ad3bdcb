#include "server/invitation_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/domain/errors.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

absl::Status CheckInvitationId(absl::string_view id) {
  if (id.empty()) return InvalidField("id", "is required");
  // Ids are canonical UUIDs; anything else cannot name an invitation.
  bool shaped = id.size() == 36;
  for (size_t i = 0; shaped && i < id.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    shaped = dash ? id[i] == '-' : absl::ascii_isxdigit(static_cast<unsigned char>(id[i]));
  }
  if (!shaped) return InvalidField("id", "is not an invitation id (a UUID)");
  return absl::OkStatus();
}

absl::Status TokenInvalidError() {
  return ReasonedError(absl::StatusCode::kNotFound,
                       "this registration link is not valid; ask your administrator for a new "
                       "invitation",
                       kReasonTokenInvalid);
}

// Page tokens bind the cursor to the filters they were issued for, so a token reused with other
// filters is refused instead of silently skipping rows.
std::string FilterFingerprint(const ListInvitationsInput& in) {
  std::vector<std::string> states;
  for (InvitationState s : in.states) states.emplace_back(StateName(s));
  std::sort(states.begin(), states.end());
  std::string canonical = absl::StrCat(in.tenant_id, "\n", absl::StrJoin(states, ","), "\n",
                                       absl::AsciiStrToLower(in.email_query));
  return absl::BytesToHexString(Sha256(canonical).substr(0, 8));
}

std::string EncodePageToken(int64_t after_seq, const std::string& fingerprint) {
  return Base64UrlEncode(absl::StrCat("v1|", after_seq, "|", fingerprint));
}

absl::StatusOr<int64_t> DecodePageToken(absl::string_view token, const std::string& fingerprint) {
  absl::StatusOr<std::string> raw = Base64UrlDecode(token);
  std::vector<std::string> parts;
  if (raw.ok()) parts = absl::StrSplit(*raw, '|');
  int64_t seq = 0;
  if (parts.size() != 3 || parts[0] != "v1" || !absl::SimpleAtoi(parts[1], &seq) || seq <= 0) {
    return InvalidField("page_token", "is not a page token returned by ListInvitations");
  }
  if (parts[2] != fingerprint) {
    return InvalidField("page_token",
                        "was issued for different filters; repeat the same filters or start "
                        "without a page token");
  }
  return seq;
}

}  // namespace

InvitationService::InvitationService(InvitationStore& store, const Clock& clock,
                                     TokenSealer sealer, InvitationServiceOptions options)
    : store_(store), clock_(clock), sealer_(std::move(sealer)), options_(std::move(options)) {}

std::string InvitationService::RegistrationUrl(absl::string_view token) const {
  return invitations::RegistrationUrl(options_.registration_base_url, token);
}

absl::StatusOr<IssuedInvitation> InvitationService::Create(const Caller& caller,
                                                           const CreateInvitationInput& in) {
  std::vector<FieldViolation> violations;
  absl::StatusOr<std::string> email = NormalizeEmail(in.email);
  if (!email.ok()) violations.push_back({"email", std::string(email.status().message())});
  if (in.role == Role::kUnspecified) {
    violations.push_back({"role", "is required: ROLE_SUPER_ADMIN, ROLE_TENANT_ADMIN or ROLE_VPN_USER"});
  }
  if (std::optional<std::string> problem = TenantIdProblem(in.tenant_id)) {
    violations.push_back({"tenant_id", *problem});
  } else if (in.tenant_id.empty() && RoleRequiresTenant(in.role)) {
    violations.push_back({"tenant_id", absl::StrCat("is required for role ", RoleName(in.role))});
  }
  absl::StatusOr<absl::Duration> ttl = ResolveTtl(in.ttl, options_.ttl);
  if (!ttl.ok()) violations.push_back({"ttl", std::string(ttl.status().message())});
  if (in.request_id.size() > kMaxRequestIdLength) {
    violations.push_back({"request_id", absl::StrCat("is longer than ", kMaxRequestIdLength,
                                                     " characters")});
  }
  if (!violations.empty()) return InvalidFields(std::move(violations));

  const absl::Time now = clock_.Now();
  const std::string token = NewRegistrationToken();
  NewInvitation row;
  Invitation& inv = row.invitation;
  inv.id = NewUuid();
  inv.email = *email;
  inv.role = in.role;
  inv.tenant_id = in.tenant_id;
  inv.state = InvitationState::kPending;
  inv.create_time = now;
  inv.update_time = now;
  inv.expire_time = now + *ttl;
  inv.send_count = in.suppress_email ? 0 : 1;
  inv.email_delivery_state =
      in.suppress_email ? EmailDeliveryState::kSuppressed : EmailDeliveryState::kQueued;
  inv.created_by = caller.subject;
  inv.request_id = in.request_id;
  row.token_hash = HashRegistrationToken(token);
  row.sealed_token = sealer_.Seal(token);
  row.event = AuditEvent{AuditEventType::kCreated, caller.subject, ""};
  if (!in.suppress_email) row.email_message_id = NewEmailMessageId();

  ASSIGN_OR_RETURN(InsertResult result, store_.Insert(row, now));
  if (!result.replayed) {
    return IssuedInvitation{AsSeenAt(std::move(result.invitation), now), RegistrationUrl(token)};
  }
  const Invitation& first = result.invitation;
  if (first.email != inv.email || first.role != inv.role || first.tenant_id != inv.tenant_id) {
    return ReasonedError(
        absl::StatusCode::kAlreadyExists,
        absl::StrCat("request_id ", in.request_id, " was already used for invitation ", first.id,
                     " with a different email, role or tenant; use a new request_id"),
        kReasonRequestIdReused, {{"invitation_id", first.id}});
  }
  // The first response may have been lost, so hand back the same link. A row sealed under
  // another key (a replica without the shared key) cannot be opened: return it without a URL.
  absl::StatusOr<std::string> first_token = sealer_.Open(result.sealed_token);
  std::string url = first_token.ok() ? RegistrationUrl(*first_token) : "";
  return IssuedInvitation{AsSeenAt(first, now), std::move(url)};
}

absl::StatusOr<Invitation> InvitationService::Get(absl::string_view id) {
  RETURN_IF_ERROR(CheckInvitationId(id));
  ASSIGN_OR_RETURN(Invitation inv, store_.Get(absl::AsciiStrToLower(id)));
  return AsSeenAt(std::move(inv), clock_.Now());
}

absl::StatusOr<ListInvitationsOutput> InvitationService::List(const ListInvitationsInput& in) {
  std::vector<FieldViolation> violations;
  if (in.page_size < 0) violations.push_back({"page_size", "must not be negative"});
  if (std::optional<std::string> problem = TenantIdProblem(in.tenant_id)) {
    violations.push_back({"tenant_id", *problem});
  }
  for (InvitationState s : in.states) {
    if (s == InvitationState::kUnspecified) {
      violations.push_back({"states", "contains INVITATION_STATE_UNSPECIFIED or an unknown state"});
      break;
    }
  }
  if (in.email_query.size() > kMaxEmailLength) {
    violations.push_back({"email_query", absl::StrCat("is longer than ", kMaxEmailLength,
                                                      " characters")});
  }
  if (!violations.empty()) return InvalidFields(std::move(violations));

  InvitationQuery query;
  query.tenant_id = in.tenant_id;
  query.states = in.states;
  query.email_substring =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(in.email_query));
  query.page_size = in.page_size == 0 ? options_.default_page_size
                                      : std::min(in.page_size, options_.max_page_size);
  const std::string fingerprint = FilterFingerprint(in);
  if (!in.page_token.empty()) {
    ASSIGN_OR_RETURN(query.after_seq, DecodePageToken(in.page_token, fingerprint));
  }
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(InvitationPage page, store_.List(query, now));
  ListInvitationsOutput out;
  out.total_size = page.total_size;
  out.invitations.reserve(page.invitations.size());
  for (Invitation& inv : page.invitations) out.invitations.push_back(AsSeenAt(std::move(inv), now));
  if (page.next_after_seq.has_value()) {
    out.next_page_token = EncodePageToken(*page.next_after_seq, fingerprint);
  }
  return out;
}

absl::StatusOr<IssuedInvitation> InvitationService::Resend(const Caller& caller,
                                                           absl::string_view id,
                                                           std::optional<absl::Duration> ttl) {
  RETURN_IF_ERROR(CheckInvitationId(id));
  absl::StatusOr<absl::Duration> resolved_ttl = ResolveTtl(ttl, options_.ttl);
  if (!resolved_ttl.ok()) return InvalidField("ttl", resolved_ttl.status().message());
  const absl::Time now = clock_.Now();
  const std::string token = NewRegistrationToken();
  ASSIGN_OR_RETURN(
      Invitation inv,
      store_.Update(absl::AsciiStrToLower(id), now,
                    [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
                      RETURN_IF_ERROR(CheckCanResend(current, now));
                      InvitationChange change;
                      change.invitation = current;
                      Invitation& next = change.invitation;
                      next.state = InvitationState::kPending;
                      next.expire_time = now + *resolved_ttl;
                      next.update_time = now;
                      next.send_count = current.send_count + 1;
                      next.email_delivery_state = EmailDeliveryState::kQueued;
                      next.email_last_error.clear();
                      change.new_token_hash = HashRegistrationToken(token);
                      change.new_sealed_token = sealer_.Seal(token);
                      change.event = AuditEvent{AuditEventType::kResent, caller.subject, ""};
                      change.supersede_queued_email = true;
                      change.email_message_id = NewEmailMessageId();
                      return change;
                    }));
  return IssuedInvitation{AsSeenAt(std::move(inv), now), RegistrationUrl(token)};
}

absl::StatusOr<Invitation> InvitationService::Revoke(const Caller& caller, absl::string_view id,
                                                     absl::string_view reason) {
  RETURN_IF_ERROR(CheckInvitationId(id));
  if (reason.size() > kMaxRevokeReasonLength) {
    return InvalidField("reason",
                        absl::StrCat("is longer than ", kMaxRevokeReasonLength, " characters"));
  }
  const absl::Time now = clock_.Now();
  ASSIGN_OR_RETURN(
      Invitation inv,
      store_.Update(absl::AsciiStrToLower(id), now,
                    [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
                      RETURN_IF_ERROR(CheckCanRevoke(current, now));
                      InvitationChange change;
                      change.invitation = current;
                      change.invitation.state = InvitationState::kRevoked;
                      change.invitation.revoke_time = now;
                      change.invitation.revoke_reason = std::string(reason);
                      change.invitation.update_time = now;
                      change.event = AuditEvent{AuditEventType::kRevoked, caller.subject,
                                                std::string(reason)};
                      change.supersede_queued_email = true;
                      return change;
                    }));
  return AsSeenAt(std::move(inv), now);
}

absl::StatusOr<Invitation> InvitationService::ValidateToken(absl::string_view token) {
  if (!LooksLikeRegistrationToken(token)) return TokenInvalidError();
  absl::StatusOr<Invitation> inv = store_.GetByTokenHash(HashRegistrationToken(token));
  if (absl::IsNotFound(inv.status())) return TokenInvalidError();
  if (!inv.ok()) return inv.status();
  const absl::Time now = clock_.Now();
  RETURN_IF_ERROR(CheckLinkUsable(*inv, now));
  return AsSeenAt(*std::move(inv), now);
}

}  // namespace securelink::invitations
