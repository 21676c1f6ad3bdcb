#include "server/accept_saga.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/domain/errors.h"
#include "server/domain/token.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

bool CarriesInvitation(const ExistingUser& user, absl::string_view invitation_id) {
  auto it = user.attributes.find(std::string(kInvitationIdAttribute));
  if (it == user.attributes.end()) return false;
  for (const std::string& value : it->second) {
    if (value == invitation_id) return true;
  }
  return false;
}

absl::Status Superseded(const Invitation& invitation) {
  return ReasonedError(absl::StatusCode::kAborted,
                       "this invitation is being accepted by another request right now; try "
                       "again in a moment",
                       kReasonAcceptSuperseded, {{"invitation_id", invitation.id}});
}

UserChanges Enable() {
  UserChanges changes;
  changes.enabled = true;
  return changes;
}

}  // namespace

AcceptSaga::AcceptSaga(InvitationStore& store, const Clock& clock,
                       IdentityProvider& identity_provider, RoleNames roles,
                       AcceptSagaOptions options)
    : store_(store),
      clock_(clock),
      idp_(identity_provider),
      roles_(std::move(roles)),
      options_(options) {}

absl::StatusOr<Invitation> AcceptSaga::Fenced(
    const std::string& id, const std::string& attempt, const std::string& link,
    const std::function<void(InvitationChange&)>& change) {
  const absl::Time now = clock_.Now();
  return store_.Update(id, now, [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
    // The dead-link answers first: they tell the invitee what happened to their link.
    if (current.token_hash_hex != link) return TokenInvalidError();
    RETURN_IF_ERROR(CheckLinkUsable(current, now));
    if (current.accept_attempt_id != attempt) return Superseded(current);
    InvitationChange next;
    next.invitation = current;
    next.invitation.update_time = now;
    next.record_event = false;
    change(next);
    return next;
  });
}

absl::StatusOr<Invitation> AcceptSaga::Accept(const Invitation& invitation,
                                              const AcceptInvitationInput& in) {
  const std::string& link = invitation.token_hash_hex;
  const std::string attempt = NewUuid();
  NewUser user;
  user.username = in.username;
  user.email = invitation.email;
  user.first_name = in.first_name;
  user.last_name = in.last_name;
  user.password = in.password;
  user.tenant_id = invitation.tenant_id;
  user.invitation_id = invitation.id;
  user.realm_role = RealmRoleFor(invitation.role, roles_);
  user.enabled = false;  // until the database has decided that this link won

  // 1. Claim the link. Whatever an earlier attempt made was made under accept_link_hash; with
  // no earlier attempt at all, this link owns whatever appears from now on.
  bool same_link = false;
  const absl::Time claim_time = clock_.Now();
  ASSIGN_OR_RETURN(
      Invitation claimed,
      store_.Update(invitation.id, claim_time,
                    [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
                      if (current.token_hash_hex != link) return TokenInvalidError();
                      RETURN_IF_ERROR(CheckLinkUsable(current, claim_time));
                      InvitationChange change;
                      change.invitation = current;
                      change.record_event = false;
                      Invitation& next = change.invitation;
                      if (current.accept_attempt_id.empty() && current.accept_user_id.empty()) {
                        next.accept_link_hash = link;
                      }
                      same_link = next.accept_link_hash == link;
                      next.accept_attempt_id = attempt;
                      next.accept_lease_expire_time = claim_time + options_.lease;
                      return change;
                    }));

  // 2. A disabled account for the invitee.
  ASSIGN_OR_RETURN(const std::string user_id, ProvideAccount(claimed, same_link, user));

  // 3. Recorded under this link, so that a retry takes it over instead of making another.
  auto finish = [&]() -> absl::StatusOr<Invitation> {
    if (claimed.accept_user_id != user_id || claimed.accept_link_hash != link) {
      RETURN_IF_ERROR(Fenced(invitation.id, attempt, link, [&](InvitationChange& c) {
                        c.invitation.accept_user_id = user_id;
                        c.invitation.accept_link_hash = link;
                      }).status());
    }
    // 4. Checked and given its role while nobody can log in with it.
    absl::Status prepared = idp_.VerifyAttributes(user_id, user);
    if (prepared.ok()) prepared = idp_.AssignRealmRole(user_id, user.realm_role);
    if (absl::IsNotFound(prepared)) {
      // The account is gone: the recoverer removed it because a revoke or an expiry overtook
      // this attempt (the fence then says so), or an operator did. Forget it so that the next
      // attempt makes a fresh one instead of failing forever.
      absl::StatusOr<Invitation> forgot = Fenced(invitation.id, attempt, link, [&](InvitationChange& c) {
        if (c.invitation.accept_user_id == user_id) c.invitation.accept_user_id.clear();
      });
      if (!forgot.ok()) return forgot.status();
      return absl::UnavailableError(
          "the account being created for this invitation disappeared; try again");
    }
    RETURN_IF_ERROR(prepared);
    // 5. The decision: from this commit on the link has been used, and a revoke or resend fails.
    return Fenced(invitation.id, attempt, link, [&](InvitationChange& c) {
      Invitation& next = c.invitation;
      next.state = InvitationState::kAccepted;
      next.accept_time = next.update_time;
      next.user_id = user_id;
      next.accept_lease_expire_time =
          next.update_time + std::min(options_.finish_grace, options_.lease);
      c.supersede_queued_email = true;
      c.clear_sealed_token = true;
      c.record_event = true;
      c.event = AuditEvent{AuditEventType::kAccepted, user_id, "", in.request_id};
    });
  };
  absl::StatusOr<Invitation> accepted = finish();
  if (!accepted.ok()) {
    const std::string reason = ReasonOf(accepted.status());
    if (reason == kReasonInvitationRevoked || reason == kReasonInvitationExpired) {
      // Nobody can accept this invitation any more: what this attempt made goes now rather than
      // at the recoverer's next pass.
      if (absl::Status deleted = idp_.DeleteUser(user_id); !deleted.ok()) {
        Log(LogLevel::kWarning, "cannot delete the account of a lost accept; the recoverer will",
            {{"invitation_id", invitation.id},
             {"request_id", in.request_id},
             {"error", std::string(deleted.message())}});
      }
    }
    return accepted.status();
  }

  // 6. Enabled only now. If Keycloak fails here the invitation is accepted all the same and the
  // recoverer enables the account once the short finish lease has passed.
  absl::Status enabled = idp_.UpdateUser(user_id, Enable());
  if (enabled.ok()) {
    enabled = Release(invitation.id, attempt, /*forget_account=*/false);
  }
  if (!enabled.ok()) {
    Log(LogLevel::kWarning, "invitation accepted; the account will be enabled by the recoverer",
        {{"invitation_id", invitation.id},
         {"request_id", in.request_id},
         {"error", std::string(enabled.message())}});
  }
  return AsSeenAt(*std::move(accepted), clock_.Now());
}

absl::StatusOr<std::string> AcceptSaga::ProvideAccount(const Invitation& claimed, bool same_link,
                                                       const NewUser& user) {
  if (!claimed.accept_user_id.empty()) {
    if (same_link) {
      ASSIGN_OR_RETURN(std::optional<std::string> taken, TakeOver(claimed.accept_user_id, user));
      if (taken.has_value()) return *taken;
    } else {
      // Made through an older link, with that link holder's password: never handed on.
      RETURN_IF_ERROR(idp_.DeleteUser(claimed.accept_user_id));
    }
  }
  absl::StatusOr<std::string> created;
  for (int tries = 0; tries < 2; ++tries) {
    created = idp_.CreateUser(user);
    if (created.ok()) return created;
    if (!absl::IsAlreadyExists(created.status()) && !absl::IsUnavailable(created.status())) break;
    // The account may exist already: our own create whose answer was lost, or one an earlier
    // attempt made and never recorded. Only an account carrying this invitation's id is ours;
    // anything else with the email or username belongs to someone else.
    absl::StatusOr<std::optional<ExistingUser>> mine = idp_.FindUserByInvitation(claimed.id);
    if (!mine.ok() || !mine->has_value()) break;
    if (same_link) {
      ASSIGN_OR_RETURN(std::optional<std::string> taken, TakeOver((*mine)->id, user));
      if (taken.has_value()) return *taken;
    } else {
      RETURN_IF_ERROR(idp_.DeleteUser((*mine)->id));
    }
  }
  if (absl::IsAlreadyExists(created.status()) && !user.username.empty()) {
    // The username the invitee chose belongs to someone else: they have no account, so "log in
    // instead" would mislead them; they should pick another username.
    for (const auto& [key, value] : GetErrorDetails(created.status()).metadata) {
      if (key == "field" && value == "username") {
        return ReasonedError(absl::StatusCode::kAlreadyExists,
                             absl::StrCat("the username '", user.username,
                                          "' is taken; choose another username"),
                             "USERNAME_TAKEN",
                             {{"invitation_id", claimed.id}, {"field", "username"}});
      }
    }
  }
  if (absl::IsAlreadyExists(created.status())) {
    return ReasonedError(absl::StatusCode::kAlreadyExists,
                         absl::StrCat("an account for ", claimed.email,
                                      " already exists; log in instead or ask your administrator"),
                         "ACCOUNT_EXISTS", {{"invitation_id", claimed.id}});
  }
  return created.status();
}

absl::StatusOr<std::optional<std::string>> AcceptSaga::TakeOver(const std::string& user_id,
                                                                const NewUser& user) {
  absl::StatusOr<ExistingUser> existing = idp_.GetUser(user_id);
  if (absl::IsNotFound(existing.status())) return std::nullopt;
  RETURN_IF_ERROR(existing.status());
  if (!CarriesInvitation(*existing, user.invitation_id)) return std::nullopt;
  // Enabled means a concurrent attempt of this link has already won and finished: leave it be.
  if (existing->enabled) return absl::AbortedError("the account was just finished by another request");
  const std::string wanted = absl::AsciiStrToLower(user.username.empty() ? user.email : user.username);
  if (absl::AsciiStrToLower(existing->username) != wanted) {
    // Keycloak does not rename accounts for us; a fresh one gets the name the invitee chose.
    RETURN_IF_ERROR(idp_.DeleteUser(user_id));
    return std::nullopt;
  }
  // The invitee of this attempt chose the password and names it will be used with. `enabled`
  // is left out: only the attempt that wins the decision ever touches it.
  UserChanges changes;
  changes.first_name = user.first_name;
  changes.last_name = user.last_name;
  RETURN_IF_ERROR(idp_.UpdateUser(user_id, changes));
  RETURN_IF_ERROR(idp_.SetPassword(user_id, user.password));
  return user_id;
}

absl::Status AcceptSaga::Release(const std::string& id, const std::string& attempt,
                                 bool forget_account) {
  absl::StatusOr<Invitation> released = store_.Update(
      id, clock_.Now(), [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
        // Another attempt or recoverer holds it now: it is theirs to release.
        if (current.accept_attempt_id != attempt) return absl::AbortedError("claim moved on");
        InvitationChange change;
        change.invitation = current;
        change.record_event = false;
        change.invitation.accept_attempt_id.clear();
        change.invitation.accept_lease_expire_time.reset();
        if (forget_account) {
          change.invitation.accept_user_id.clear();
          change.invitation.accept_link_hash.clear();
        }
        return change;
      });
  if (absl::IsAborted(released.status())) return absl::OkStatus();
  return released.status();
}

absl::StatusOr<int> AcceptSaga::RecoverDue() {
  ASSIGN_OR_RETURN(std::vector<Invitation> due,
                   store_.TakeOverDueAccepts(clock_.Now(), options_.recovery_batch,
                                             options_.lease));
  for (const Invitation& invitation : due) {
    if (absl::Status s = Recover(invitation); !s.ok()) {
      Log(LogLevel::kWarning, "cannot settle an accept saga yet; will retry",
          {{"invitation_id", invitation.id}, {"error", std::string(s.message())}});
    }
  }
  return static_cast<int>(due.size());
}

absl::Status AcceptSaga::Recover(const Invitation& invitation) {
  const std::string& attempt = invitation.accept_attempt_id;
  switch (EffectiveState(invitation, clock_.Now())) {
    case InvitationState::kAccepted: {
      // Decided, but the attempt never enabled the account.
      absl::Status s = idp_.AssignRealmRole(invitation.user_id,
                                            RealmRoleFor(invitation.role, roles_));
      if (s.ok()) s = idp_.UpdateUser(invitation.user_id, Enable());
      if (absl::IsNotFound(s)) {
        Log(LogLevel::kError, "the account of an accepted invitation no longer exists",
            {{"invitation_id", invitation.id}, {"user_id", invitation.user_id}});
      } else {
        RETURN_IF_ERROR(s);
        Log(LogLevel::kInfo, "accept saga finished by the recoverer",
            {{"invitation_id", invitation.id}});
      }
      return Release(invitation.id, attempt, /*forget_account=*/false);
    }
    case InvitationState::kPending: {
      // The attempt died before the decision. Its account, if any, stays disabled for the next
      // attempt of the same link to take over; the claim stays as the trace that one was made.
      absl::StatusOr<Invitation> idle = store_.Update(
          invitation.id, clock_.Now(),
          [&](const Invitation& current) -> absl::StatusOr<InvitationChange> {
            if (current.accept_attempt_id != attempt) return absl::AbortedError("claim moved on");
            InvitationChange change;
            change.invitation = current;
            change.record_event = false;
            change.invitation.accept_lease_expire_time.reset();
            return change;
          });
      return absl::IsAborted(idle.status()) ? absl::OkStatus() : idle.status();
    }
    default: {
      // Revoked or expired: nobody can accept it any more, so whatever a saga made goes.
      std::vector<std::string> accounts;
      if (!invitation.accept_user_id.empty()) accounts.push_back(invitation.accept_user_id);
      ASSIGN_OR_RETURN(std::optional<ExistingUser> found, idp_.FindUserByInvitation(invitation.id));
      if (found.has_value() && found->id != invitation.accept_user_id) {
        accounts.push_back(found->id);
      }
      for (const std::string& id : accounts) RETURN_IF_ERROR(idp_.DeleteUser(id));
      if (!accounts.empty()) {
        Log(LogLevel::kInfo, "removed the account of an invitation that can no longer be accepted",
            {{"invitation_id", invitation.id}});
      }
      return Release(invitation.id, attempt, /*forget_account=*/true);
    }
  }
}

AcceptRecoverer::AcceptRecoverer(AcceptSaga& saga)
    : loop_(saga.options().recovery_interval, [&saga] {
        // Batch after batch while there is a backlog (after an outage), then wait.
        while (true) {
          absl::StatusOr<int> settled = saga.RecoverDue();
          if (!settled.ok()) {
            Log(LogLevel::kWarning, "accept recovery pass failed; will retry",
                {{"error", std::string(settled.status().message())}});
            return;
          }
          if (*settled < saga.options().recovery_batch) return;
        }
      }) {}

}  // namespace securelink::invitations
