#include "server/metrics/instrumented.h"

#include <optional>

#include "absl/time/clock.h"

namespace securelink::invitations::metrics {

absl::StatusOr<InsertResult> InstrumentedInvitationStore::Insert(const NewInvitation& row,
                                                                absl::Time now) {
  absl::StatusOr<InsertResult> result = store_.Insert(row, now);
  if (result.ok() && !result->replayed) {
    metrics_.InvitationChanged(row.event.type, row.invitation.role);
  }
  return result;
}

std::vector<absl::StatusOr<InsertResult>> InstrumentedInvitationStore::InsertEach(
    const std::vector<NewInvitation>& rows, absl::Time now) {
  std::vector<absl::StatusOr<InsertResult>> results = store_.InsertEach(rows, now);
  for (size_t i = 0; i < results.size() && i < rows.size(); ++i) {
    if (results[i].ok() && !results[i]->replayed) {
      metrics_.InvitationChanged(rows[i].event.type, rows[i].invitation.role);
    }
  }
  return results;
}

absl::StatusOr<std::vector<BatchOutcome>> InstrumentedInvitationStore::InsertBatch(
    const std::vector<NewInvitation>& rows, absl::Time now, bool dry_run) {
  absl::StatusOr<std::vector<BatchOutcome>> outcomes = store_.InsertBatch(rows, now, dry_run);
  if (outcomes.ok() && !dry_run) {
    for (size_t i = 0; i < outcomes->size() && i < rows.size(); ++i) {
      if ((*outcomes)[i].created) {
        metrics_.InvitationChanged(rows[i].event.type, rows[i].invitation.role);
      }
    }
  }
  return outcomes;
}

absl::StatusOr<int> InstrumentedInvitationStore::ExpireDue(absl::Time now, int limit) {
  absl::StatusOr<int> expired = store_.ExpireDue(now, limit);
  if (expired.ok()) metrics_.InvitationsExpired(*expired);
  return expired;
}

absl::StatusOr<Invitation> InstrumentedInvitationStore::Update(absl::string_view id,
                                                               absl::Time now,
                                                               const Decision& decide) {
  // The decision may run more than once (the transaction is retried after a deadlock): only
  // the one that was committed counts.
  std::optional<AuditEventType> change;
  absl::StatusOr<Invitation> updated =
      store_.Update(id, now, [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
        absl::StatusOr<InvitationChange> decided = decide(current);
        change.reset();
        if (decided.ok() && decided->record_event) change = decided->event.type;
        return decided;
      });
  if (updated.ok() && change.has_value()) metrics_.InvitationChanged(*change, updated->role);
  return updated;
}

absl::Status InstrumentedOutboxStore::MarkSent(const ClaimedEmail& email, absl::string_view owner,
                                               absl::Time now) {
  absl::Status s = outbox_.MarkSent(email, owner, now);
  if (s.ok()) {
    metrics_.EmailSent();
    if (email.reminder) metrics_.ReminderSent();
  }
  return s;
}

absl::Status InstrumentedOutboxStore::MarkRetry(const ClaimedEmail& email,
                                                absl::string_view owner, absl::Time retry_at,
                                                absl::string_view error, absl::Time now) {
  absl::Status s = outbox_.MarkRetry(email, owner, retry_at, error, now);
  if (s.ok()) metrics_.EmailDeferred();
  return s;
}

absl::Status InstrumentedOutboxStore::MarkFailed(const ClaimedEmail& email,
                                                 absl::string_view owner,
                                                 absl::string_view error, absl::Time now) {
  absl::Status s = outbox_.MarkFailed(email, owner, error, now);
  if (s.ok()) metrics_.EmailFailed();
  return s;
}

namespace {

template <typename F>
auto Timed(Metrics& metrics, absl::string_view operation, F&& call) {
  const absl::Time start = absl::Now();
  auto result = call();
  absl::Status status;
  if constexpr (std::is_same_v<decltype(result), absl::Status>) {
    status = result;
  } else {
    status = result.status();
  }
  metrics.KeycloakCall(operation, absl::Now() - start, status);
  return result;
}

}  // namespace

absl::StatusOr<std::optional<ExistingUser>> InstrumentedIdentityProvider::FindUserByInvitation(
    absl::string_view invitation_id) {
  return Timed(metrics_, "find_user_by_invitation",
               [&] { return idp_.FindUserByInvitation(invitation_id); });
}

absl::StatusOr<std::optional<ExistingUser>> InstrumentedIdentityProvider::FindUserByEmail(
    absl::string_view email) {
  return Timed(metrics_, "find_user_by_email", [&] { return idp_.FindUserByEmail(email); });
}

absl::StatusOr<std::string> InstrumentedIdentityProvider::CreateUser(const NewUser& user) {
  return Timed(metrics_, "create_user", [&] { return idp_.CreateUser(user); });
}

absl::Status InstrumentedIdentityProvider::VerifyAttributes(absl::string_view user_id,
                                                            const NewUser& expected) {
  return Timed(metrics_, "verify_attributes",
               [&] { return idp_.VerifyAttributes(user_id, expected); });
}

absl::Status InstrumentedIdentityProvider::AssignRealmRole(absl::string_view user_id,
                                                           absl::string_view role_name) {
  return Timed(metrics_, "assign_realm_role",
               [&] { return idp_.AssignRealmRole(user_id, role_name); });
}

absl::StatusOr<ExistingUser> InstrumentedIdentityProvider::GetUser(absl::string_view user_id) {
  return Timed(metrics_, "get_user", [&] { return idp_.GetUser(user_id); });
}

absl::Status InstrumentedIdentityProvider::UpdateUser(absl::string_view user_id,
                                                      const UserChanges& changes) {
  return Timed(metrics_, "update_user", [&] { return idp_.UpdateUser(user_id, changes); });
}

absl::Status InstrumentedIdentityProvider::SetPassword(absl::string_view user_id,
                                                       absl::string_view password) {
  return Timed(metrics_, "set_password", [&] { return idp_.SetPassword(user_id, password); });
}

absl::Status InstrumentedIdentityProvider::DeleteUser(absl::string_view user_id) {
  return Timed(metrics_, "delete_user", [&] { return idp_.DeleteUser(user_id); });
}

}  // namespace securelink::invitations::metrics
