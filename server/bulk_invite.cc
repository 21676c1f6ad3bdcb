#include "server/bulk_invite.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/domain/errors.h"
#include "server/invite_rule.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {

void BulkSummary::Add(const BulkResult& result) {
  ++total;
  switch (result.outcome) {
    case BulkOutcome::kCreated: ++created; break;
    case BulkOutcome::kSkippedPending:
    case BulkOutcome::kSkippedDuplicate: ++skipped; break;
    case BulkOutcome::kInvalidEmail:
    case BulkOutcome::kDomainNotAllowed:
      ++invalid;
      ++domain_not_allowed;
      break;
    case BulkOutcome::kFailed: ++failed; break;
    case BulkOutcome::kPendingLimitReached:
      ++failed;
      ++pending_limit_reached;
      break;
  }
}

BulkInviter::BulkInviter(InvitationStore& store, const Clock& clock, TokenSealer sealer,
                         BulkInviteOptions options, TenantPolicyStore* policies)
    : store_(store),
      clock_(clock),
      sealer_(std::move(sealer)),
      options_(options),
      policies_(policies) {}

absl::StatusOr<BulkInvitePlan> BulkInviter::Plan(const Caller& caller,
                                                 BulkInviteInput input) const {
  std::vector<FieldViolation> violations;
  if (input.source == BulkSource::kNone) {
    violations.push_back({"source", "is required: give emails, text or csv"});
  }
  absl::StatusOr<std::string> locale = CanonicalLocale(input.locale);
  if (!locale.ok()) violations.push_back({"locale", std::string(locale.status().message())});
  ASSIGN_OR_RETURN(CheckedInviteScope scope,
                   CheckInvite(caller, InviteScope{input.role, input.tenant_id, input.ttl},
                               options_.ttl, std::move(violations)));

  // The parsers stop one entry past the maximum, so an oversized source costs no more than an
  // allowed one, however many blank or repeated entries it holds.
  const size_t max_entries = static_cast<size_t>(std::max(options_.max_addresses, 0));
  std::vector<BulkEntry> entries;
  switch (input.source) {
    case BulkSource::kEmails: entries = ParseBulkEmailList(input.emails, max_entries); break;
    case BulkSource::kText: entries = ParseBulkText(input.document, max_entries); break;
    case BulkSource::kCsv: {
      absl::StatusOr<std::vector<BulkEntry>> parsed = ParseBulkCsv(input.document, max_entries);
      if (!parsed.ok()) return InvalidField("csv", parsed.status().message());
      entries = *std::move(parsed);
      break;
    }
    case BulkSource::kNone: break;
  }
  // The entries hold copies of what they need; the source can go before the plan is built.
  std::vector<std::string>().swap(input.emails);
  std::string().swap(input.document);
  if (entries.size() > max_entries) {
    return InvalidField(input.source == BulkSource::kEmails ? "emails"
                        : input.source == BulkSource::kText ? "text" : "csv",
                        absl::StrCat("holds more than ", max_entries, " addresses; at most ",
                                     max_entries, " are allowed in one call"));
  }

  // The tenant's policy, read only for a caller who may invite into the tenant.
  std::optional<TenantPolicy> policy;
  if (policies_ != nullptr && !scope.tenant_id.empty()) {
    ASSIGN_OR_RETURN(policy, policies_->Get(scope.tenant_id));
  }
  if (!input.ttl.has_value() && policy.has_value() && policy->default_ttl.has_value()) {
    absl::StatusOr<absl::Duration> tenant_ttl = ResolveTtl(policy->default_ttl, options_.ttl);
    if (tenant_ttl.ok()) scope.ttl = *tenant_ttl;
  }

  BulkInvitePlan plan;
  plan.caller_ = caller;
  plan.role_ = scope.role;
  plan.tenant_id_ = scope.tenant_id;
  plan.ttl_ = scope.ttl;
  plan.locale_ = ResolveLocale(*locale, policy.has_value() ? policy->default_locale : "",
                               options_.available_locales);
  plan.validate_only_ = input.validate_only;
  plan.suppress_email_ = input.suppress_email;
  plan.entries_.reserve(entries.size());
  absl::flat_hash_map<std::string, int> first_line;  // normalised email -> line first seen
  for (BulkEntry& raw : entries) {
    BulkInvitePlan::Entry entry;
    absl::StatusOr<std::string> email = NormalizeEmail(raw.input);
    if (!email.ok()) {
      entry.decided = BulkOutcome::kInvalidEmail;
      entry.message = absl::StrCat("email ", email.status().message());
    } else {
      entry.email = *email;
      auto [it, inserted] = first_line.emplace(*email, raw.line);
      if (!inserted) {
        entry.decided = BulkOutcome::kSkippedDuplicate;
        entry.message = absl::StrCat("repeats the address on line ", it->second);
      } else if (policy.has_value() &&
                 !EmailDomainAllowed(*email, policy->allowed_email_domains)) {
        entry.decided = BulkOutcome::kDomainNotAllowed;
        entry.message = absl::StrCat("is in a domain tenant '", scope.tenant_id,
                                     "' does not allow");
      }
    }
    entry.raw = std::move(raw);
    plan.entries_.push_back(std::move(entry));
  }
  return plan;
}

size_t BulkInviter::ChunkEnd(const BulkInvitePlan& plan, size_t begin) const {
  return std::min(plan.size(), begin + static_cast<size_t>(options_.chunk_size));
}

std::vector<BulkResult> BulkInviter::FailChunk(const BulkInvitePlan& plan, size_t begin,
                                               absl::string_view reason) const {
  std::vector<BulkResult> results;
  for (size_t i = begin; i < ChunkEnd(plan, begin); ++i) {
    const BulkInvitePlan::Entry& e = plan.entries_[i];
    BulkResult r{e.raw.input, e.email, e.raw.line, BulkOutcome::kFailed, "", std::string(reason)};
    if (e.decided.has_value()) {
      r.outcome = *e.decided;
      r.message = e.message;
    }
    results.push_back(std::move(r));
  }
  return results;
}

std::vector<BulkResult> BulkInviter::ProcessChunk(const BulkInvitePlan& plan, size_t begin) const {
  const size_t end = ChunkEnd(plan, begin);
  const absl::Time now = clock_.Now();
  std::vector<NewInvitation> rows;
  std::vector<size_t> row_entry;  // rows[k] belongs to plan.entries_[row_entry[k]]
  for (size_t i = begin; i < end; ++i) {
    const BulkInvitePlan::Entry& e = plan.entries_[i];
    if (e.decided.has_value()) continue;
    NewInvitation row;
    Invitation& inv = row.invitation;
    inv.id = NewUuid();
    inv.email = e.email;
    inv.role = plan.role_;
    inv.tenant_id = plan.tenant_id_;
    inv.state = InvitationState::kPending;
    inv.create_time = now;
    inv.update_time = now;
    inv.expire_time = now + plan.ttl_;
    inv.send_count = plan.suppress_email_ ? 0 : 1;
    inv.email_delivery_state =
        plan.suppress_email_ ? EmailDeliveryState::kSuppressed : EmailDeliveryState::kQueued;
    inv.created_by = plan.caller_.subject;
    inv.locale = plan.locale_;
    if (!plan.validate_only_) {
      // The token is only ever mailed (SPEC §4); BulkInvite returns no links.
      const std::string token = NewRegistrationToken();
      row.token_hash = HashRegistrationToken(token);
      row.sealed_token = sealer_.Seal(token);
    }
    row.event = AuditEvent{AuditEventType::kCreated, plan.caller_.subject, "bulk invite",
                           plan.caller_.request_id};
    if (!plan.suppress_email_ && !plan.validate_only_) row.email_message_id = NewEmailMessageId();
    rows.push_back(std::move(row));
    row_entry.push_back(i);
  }
  absl::StatusOr<std::vector<BatchOutcome>> outcomes =
      store_.InsertBatch(rows, now, plan.validate_only_);
  if (!outcomes.ok()) {
    return FailChunk(plan, begin,
                     absl::StrCat("not invited: ", outcomes.status().message()));
  }
  std::vector<BulkResult> results = FailChunk(plan, begin, "");
  for (size_t k = 0; k < rows.size(); ++k) {
    BulkResult& r = results[row_entry[k] - begin];
    const BatchOutcome& o = (*outcomes)[k];
    if (o.pending_limit_reached) {
      r.outcome = BulkOutcome::kPendingLimitReached;
      r.message = absl::StrCat("tenant '", plan.tenant_id_,
                               "' has as many pending invitations as its policy allows");
    } else if (o.created) {
      r.outcome = BulkOutcome::kCreated;
      r.invitation_id = plan.validate_only_ ? "" : o.invitation_id;
      r.message = plan.validate_only_ ? "would be invited (validate_only)" : "";
    } else {
      r.outcome = BulkOutcome::kSkippedPending;
      // The holder is named only to a caller who may read it (SPEC §10).
      if (CanActOn(plan.caller_, InvitationAction::kGet, o.holder_tenant_id, o.holder_role).ok()) {
        r.invitation_id = o.invitation_id;
        r.message = "an active invitation already exists for this address";
      } else {
        r.message = "an active invitation for this address already exists elsewhere";
      }
    }
  }
  return results;
}

}  // namespace securelink::invitations
