#include "server/invitation_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/domain/errors.h"
#include "server/invite_rule.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

// A caller may act on an invitation only if it may read it; one it may not read is answered
// exactly as an id that does not exist (SPEC §10), so ids of other tenants cannot be probed.
absl::Status CheckVisible(const Caller& caller, InvitationAction action, const Invitation& inv) {
  if (!CanActOn(caller, InvitationAction::kGet, inv.tenant_id, inv.role).ok()) {
    return InvitationNotFoundError(inv.id);
  }
  return CanActOn(caller, action, inv.tenant_id, inv.role);
}

// An active invitation that blocks an address is named only to a caller who may read it.
absl::Status VisibleTo(const Caller& caller, absl::Status status, absl::string_view email) {
  if (ReasonOf(status) != kReasonActiveInvitationExists) return status;
  std::string tenant, role;
  for (const auto& [key, value] : GetErrorDetails(status).metadata) {
    if (key == "tenant_id") tenant = value;
    if (key == "role") role = value;
  }
  if (CanActOn(caller, InvitationAction::kGet, tenant, RoleFromName(role)).ok()) return status;
  return ActiveInvitationElsewhereError(email);
}

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
                                     TokenSealer sealer, InvitationServiceOptions options,
                                     AcceptSaga* accept_saga, TenantPolicyStore* policies)
    : store_(store),
      clock_(clock),
      sealer_(std::move(sealer)),
      options_(std::move(options)),
      accept_saga_(accept_saga),
      policies_(policies) {}

std::string InvitationService::RegistrationUrl(absl::string_view token) const {
  return invitations::RegistrationUrl(options_.registration_base_url, token);
}

absl::StatusOr<std::optional<TenantPolicy>> InvitationService::PolicyOf(
    const std::string& tenant_id, bool fresh) {
  if (!fresh) {
    absl::MutexLock lock(&policy_cache_mu_);
    if (auto it = policy_cache_.find(tenant_id); it != policy_cache_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(std::optional<TenantPolicy> policy, policies_->Get(tenant_id));
  absl::MutexLock lock(&policy_cache_mu_);
  // Every entry is checked against the stored version when used, so only memory bounds it.
  if (policy_cache_.size() >= kMaxCachedPolicies) policy_cache_.clear();
  policy_cache_[tenant_id] = policy;
  return policy;
}

absl::StatusOr<IssuedInvitation> InvitationService::Create(const Caller& caller,
                                                           const CreateInvitationInput& in) {
  std::vector<FieldViolation> violations;
  absl::StatusOr<std::string> email = NormalizeEmail(in.email);
  if (!email.ok()) violations.push_back({"email", std::string(email.status().message())});
  if (in.request_id.size() > kMaxRequestIdLength) {
    violations.push_back({"request_id", absl::StrCat("is longer than ", kMaxRequestIdLength,
                                                     " characters")});
  }
  absl::StatusOr<std::string> locale = CanonicalLocale(in.locale);
  if (!locale.ok()) violations.push_back({"locale", std::string(locale.status().message())});
  ASSIGN_OR_RETURN(const CheckedInviteScope scope,
                   CheckInvite(caller, InviteScope{in.role, in.tenant_id, in.ttl}, options_.ttl,
                               std::move(violations)));
  const std::string token = NewRegistrationToken();
  NewInvitation row;
  Invitation& inv = row.invitation;
  inv.id = NewUuid();
  inv.email = *email;
  inv.role = scope.role;
  inv.tenant_id = scope.tenant_id;
  inv.state = InvitationState::kPending;
  inv.send_count = in.suppress_email ? 0 : 1;
  inv.email_delivery_state =
      in.suppress_email ? EmailDeliveryState::kSuppressed : EmailDeliveryState::kQueued;
  inv.created_by = caller.subject;
  inv.request_id = in.request_id;
  row.token_hash = HashRegistrationToken(token);
  row.sealed_token = sealer_.Seal(token);
  row.event = AuditEvent{AuditEventType::kCreated, caller.subject, "", caller.request_id};
  if (!in.suppress_email) row.email_message_id = NewEmailMessageId();

  // The tenant's policy (read only for a caller who may invite into the tenant) comes from a
  // cache, and the store writes the row only if the policy is still that version: a policy
  // changed meanwhile, here or on another replica, sends the Create round again with it.
  absl::StatusOr<InsertResult> inserted;
  for (int attempt = 0;; ++attempt) {
    absl::Duration ttl = scope.ttl;
    std::string tenant_locale;
    row.policy_version.reset();
    if (policies_ != nullptr && !scope.tenant_id.empty()) {
      ASSIGN_OR_RETURN(std::optional<TenantPolicy> policy,
                       PolicyOf(scope.tenant_id, /*fresh=*/attempt > 0));
      if (policy.has_value() && !EmailDomainAllowed(*email, policy->allowed_email_domains) &&
          attempt == 0) {
        // A refusal is never made on a cached policy: confirm it with the stored one.
        ASSIGN_OR_RETURN(policy, PolicyOf(scope.tenant_id, /*fresh=*/true));
      }
      row.policy_version = policy.has_value() ? policy->version : 0;
      if (policy.has_value()) {
        tenant_locale = policy->default_locale;
        if (!EmailDomainAllowed(*email, policy->allowed_email_domains)) {
          return InvalidFieldWithReason(
              "email",
              absl::StrCat("is in a domain tenant '", scope.tenant_id, "' does not allow (",
                           absl::StrJoin(policy->allowed_email_domains, ", "), ")"),
              kReasonEmailDomainNotAllowed);
        }
        // The tenant's default applies where the request names no ttl; one outside the
        // server's current bounds (the flags changed since it was set) leaves the server's.
        if (!in.ttl.has_value() && policy->default_ttl.has_value()) {
          absl::StatusOr<absl::Duration> tenant_ttl =
              ResolveTtl(policy->default_ttl, options_.ttl);
          if (tenant_ttl.ok()) ttl = *tenant_ttl;
        }
      }
    }
    const absl::Time now = clock_.Now();
    inv.create_time = now;
    inv.update_time = now;
    inv.expire_time = now + ttl;
    inv.locale = ResolveLocale(*locale, tenant_locale, options_.available_locales);
    inserted = store_.Insert(row, now);
    if (ReasonOf(inserted.status()) != kReasonTenantPolicyChanged) break;
    if (attempt == 2) {
      return ReasonedError(absl::StatusCode::kAborted,
                           absl::StrCat("the policy of tenant '", scope.tenant_id,
                                        "' kept changing while the invitation was being "
                                        "created; try again"),
                           kReasonTenantPolicyChanged);
    }
  }
  if (!inserted.ok()) return VisibleTo(caller, inserted.status(), inv.email);
  const absl::Time now = inv.create_time;
  InsertResult& result = *inserted;
  if (!result.replayed) {
    return IssuedInvitation{AsSeenAt(std::move(result.invitation), now), RegistrationUrl(token)};
  }
  const Invitation& first = result.invitation;
  if (first.email != inv.email || first.role != inv.role || first.tenant_id != inv.tenant_id) {
    if (!CanActOn(caller, InvitationAction::kGet, first.tenant_id, first.role).ok()) {
      return ReasonedError(absl::StatusCode::kAlreadyExists,
                           absl::StrCat("request_id ", in.request_id,
                                        " was already used for another invitation; use a new "
                                        "request_id"),
                           kReasonRequestIdReused);
    }
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

absl::StatusOr<Invitation> InvitationService::Get(const Caller& caller, absl::string_view id) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(CheckInvitationId(id));
  ASSIGN_OR_RETURN(Invitation inv, store_.Get(absl::AsciiStrToLower(id)));
  RETURN_IF_ERROR(CheckVisible(caller, InvitationAction::kGet, inv));
  return AsSeenAt(std::move(inv), clock_.Now());
}

absl::StatusOr<ListInvitationsOutput> InvitationService::List(const Caller& caller,
                                                              const ListInvitationsInput& request) {
  ListInvitationsInput in = request;
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
  ASSIGN_OR_RETURN(in.tenant_id, EffectiveTenantFilter(caller, in.tenant_id));

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

absl::StatusOr<IssuedInvitation> InvitationService::ReplayResend(const Caller& caller,
                                                                 absl::string_view id,
                                                                 absl::string_view request_id,
                                                                 const ResendRecord& record) {
  const Invitation& first = record.invitation;
  if (first.id != absl::AsciiStrToLower(id)) {
    const bool visible = CanActOn(caller, InvitationAction::kGet, first.tenant_id, first.role).ok();
    return ReasonedError(
        absl::StatusCode::kAlreadyExists,
        absl::StrCat("request_id ", request_id, " was already used for ",
                     visible ? absl::StrCat("invitation ", first.id) : "another invitation",
                     "; use a new request_id"),
        kReasonRequestIdReused,
        visible ? std::vector<std::pair<std::string, std::string>>{{"invitation_id", first.id}}
                : std::vector<std::pair<std::string, std::string>>{});
  }
  RETURN_IF_ERROR(CheckVisible(caller, InvitationAction::kResend, first));
  // The first answer may have been lost: the same link, while it is still the current one.
  std::string url;
  if (first.token_hash_hex == record.link_hash_hex) {
    absl::StatusOr<std::string> token = sealer_.Open(record.sealed_token);
    if (token.ok()) url = RegistrationUrl(*token);
  }
  return IssuedInvitation{AsSeenAt(first, clock_.Now()), std::move(url)};
}

absl::StatusOr<IssuedInvitation> InvitationService::Resend(const Caller& caller,
                                                           absl::string_view id,
                                                           std::optional<absl::Duration> ttl,
                                                           absl::string_view request_id) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(CheckInvitationId(id));
  if (request_id.size() > kMaxRequestIdLength) {
    return InvalidField("request_id",
                        absl::StrCat("is longer than ", kMaxRequestIdLength, " characters"));
  }
  absl::StatusOr<absl::Duration> resolved_ttl = ResolveTtl(ttl, options_.ttl);
  if (!resolved_ttl.ok()) return InvalidField("ttl", resolved_ttl.status().message());
  // The tenant's policy, known once the invitation is: read first, then checked again inside
  // the update on the row as locked (its email and tenant never change).
  std::optional<TenantPolicy> policy;
  if (policies_ != nullptr) {
    absl::StatusOr<Invitation> existing = store_.Get(absl::AsciiStrToLower(id));
    if (existing.ok() && !existing->tenant_id.empty() &&
        CheckVisible(caller, InvitationAction::kResend, *existing).ok()) {
      ASSIGN_OR_RETURN(policy, policies_->Get(existing->tenant_id));
    }
  }
  if (!ttl.has_value() && policy.has_value() && policy->default_ttl.has_value()) {
    absl::StatusOr<absl::Duration> tenant_ttl = ResolveTtl(policy->default_ttl, options_.ttl);
    if (tenant_ttl.ok()) resolved_ttl = *tenant_ttl;
  }
  // Twice at most: a concurrent retry of the same request may win the request_id in between.
  for (int pass = 0; pass < 2; ++pass) {
    if (!request_id.empty()) {
      ASSIGN_OR_RETURN(std::optional<ResendRecord> seen, store_.FindResend(request_id));
      if (seen.has_value()) return ReplayResend(caller, id, request_id, *seen);
    }
    const absl::Time now = clock_.Now();
    const std::string token = NewRegistrationToken();
    std::string email;
    absl::StatusOr<Invitation> resent =
        store_.Update(absl::AsciiStrToLower(id), now,
                      [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
                        RETURN_IF_ERROR(CheckVisible(caller, InvitationAction::kResend, current));
                        email = current.email;
                        RETURN_IF_ERROR(CheckCanResend(current, now));
                        if (policy.has_value() &&
                            !EmailDomainAllowed(current.email, policy->allowed_email_domains)) {
                          return ReasonedError(
                              absl::StatusCode::kFailedPrecondition,
                              absl::StrCat("tenant '", current.tenant_id,
                                           "' no longer allows the domain of ", current.email,
                                           "; revoke the invitation instead"),
                              kReasonEmailDomainNotAllowed);
                        }
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
                        change.event = AuditEvent{AuditEventType::kResent, caller.subject, "", caller.request_id};
                        change.supersede_queued_email = true;
                        change.email_message_id = NewEmailMessageId();
                        change.resend_request_id = std::string(request_id);
                        return change;
                      });
    if (ReasonOf(resent.status()) == kReasonRequestIdRace) continue;
    if (!resent.ok()) return VisibleTo(caller, resent.status(), email);
    return IssuedInvitation{AsSeenAt(*std::move(resent), now), RegistrationUrl(token)};
  }
  return absl::AbortedError("resending kept conflicting with concurrent retries; try again");
}

absl::StatusOr<Invitation> InvitationService::Revoke(const Caller& caller, absl::string_view id,
                                                     absl::string_view reason) {
  RETURN_IF_ERROR(RequireAdmin(caller));
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
                      RETURN_IF_ERROR(CheckVisible(caller, InvitationAction::kRevoke, current));
                      RETURN_IF_ERROR(CheckCanRevoke(current, now));
                      InvitationChange change;
                      change.invitation = current;
                      change.invitation.state = InvitationState::kRevoked;
                      change.invitation.revoke_time = now;
                      change.invitation.revoke_reason = std::string(reason);
                      change.invitation.update_time = now;
                      change.event = AuditEvent{AuditEventType::kRevoked, caller.subject,
                                                std::string(reason), caller.request_id};
                      change.supersede_queued_email = true;
                      change.clear_sealed_token = true;
                      // An accept attempt in flight loses at its next step; whatever accept
                      // attempts made is removed by the recoverer now rather than after a lease.
                      if (!current.accept_attempt_id.empty() || !current.accept_user_id.empty()) {
                        change.invitation.accept_lease_expire_time = now;
                      }
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

absl::StatusOr<Invitation> InvitationService::Accept(const AcceptInvitationInput& in) {
  std::vector<FieldViolation> violations;
  if (in.password.empty()) violations.push_back({"password", "is required"});
  if (in.password.size() > 1024) violations.push_back({"password", "is longer than 1024 characters"});
  for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"first_name", &in.first_name},
                                     {"last_name", &in.last_name},
                                     {"username", &in.username}}) {
    if (value->size() > kMaxNameLength) {
      violations.push_back({field, absl::StrCat("is longer than ", kMaxNameLength, " characters")});
    }
    for (unsigned char c : *value) {
      if (c < 0x20 || c == 0x7f) {
        violations.push_back({field, "contains a control character"});
        break;
      }
    }
  }
  if (!LooksLikeRegistrationToken(in.token)) return TokenInvalidError();
  if (!violations.empty()) return InvalidFields(std::move(violations));
  absl::StatusOr<Invitation> found = store_.GetByTokenHash(HashRegistrationToken(in.token));
  if (absl::IsNotFound(found.status())) return TokenInvalidError();
  if (!found.ok()) return found.status();
  RETURN_IF_ERROR(CheckLinkUsable(*found, clock_.Now()));
  if (accept_saga_ == nullptr) {
    return absl::UnavailableError(
        "accounts cannot be created right now: no identity provider is configured "
        "(--keycloak_url)");
  }
  return accept_saga_->Accept(*found, in);
}

}  // namespace securelink::invitations
