#include "server/domain/invitation.h"

#include "absl/strings/str_cat.h"
#include "server/domain/errors.h"

namespace securelink::invitations {

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSuperAdmin: return "SUPER_ADMIN";
    case Role::kTenantAdmin: return "TENANT_ADMIN";
    case Role::kVpnUser: return "VPN_USER";
    case Role::kUnspecified: break;
  }
  return "UNSPECIFIED";
}

absl::string_view StateName(InvitationState state) {
  switch (state) {
    case InvitationState::kPending: return "PENDING";
    case InvitationState::kAccepted: return "ACCEPTED";
    case InvitationState::kExpired: return "EXPIRED";
    case InvitationState::kRevoked: return "REVOKED";
    case InvitationState::kUnspecified: break;
  }
  return "UNSPECIFIED";
}

absl::string_view DeliveryStateName(EmailDeliveryState state) {
  switch (state) {
    case EmailDeliveryState::kSuppressed: return "SUPPRESSED";
    case EmailDeliveryState::kQueued: return "QUEUED";
    case EmailDeliveryState::kSent: return "SENT";
    case EmailDeliveryState::kFailed: return "FAILED";
    case EmailDeliveryState::kUnspecified: break;
  }
  return "UNSPECIFIED";
}

Role RoleFromName(absl::string_view name) {
  for (Role r : {Role::kSuperAdmin, Role::kTenantAdmin, Role::kVpnUser}) {
    if (RoleName(r) == name) return r;
  }
  return Role::kUnspecified;
}

InvitationState StateFromName(absl::string_view name) {
  for (InvitationState s : {InvitationState::kPending, InvitationState::kAccepted,
                            InvitationState::kExpired, InvitationState::kRevoked}) {
    if (StateName(s) == name) return s;
  }
  return InvitationState::kUnspecified;
}

EmailDeliveryState DeliveryStateFromName(absl::string_view name) {
  for (EmailDeliveryState s : {EmailDeliveryState::kSuppressed, EmailDeliveryState::kQueued,
                               EmailDeliveryState::kSent, EmailDeliveryState::kFailed}) {
    if (DeliveryStateName(s) == name) return s;
  }
  return EmailDeliveryState::kUnspecified;
}

bool RoleRequiresTenant(Role role) {
  return role == Role::kTenantAdmin || role == Role::kVpnUser;
}

InvitationState EffectiveState(const Invitation& invitation, absl::Time now) {
  if (invitation.state == InvitationState::kPending && invitation.expire_time <= now) {
    return InvitationState::kExpired;
  }
  return invitation.state;
}

Invitation AsSeenAt(Invitation invitation, absl::Time now) {
  invitation.state = EffectiveState(invitation, now);
  return invitation;
}

namespace {

absl::Status StateError(const Invitation& invitation, InvitationState state,
                        absl::string_view action) {
  std::vector<std::pair<std::string, std::string>> meta = {{"invitation_id", invitation.id}};
  switch (state) {
    case InvitationState::kExpired:
      return ReasonedError(absl::StatusCode::kFailedPrecondition,
                           absl::StrCat("invitation ", invitation.id, " has expired", action),
                           kReasonInvitationExpired, meta);
    case InvitationState::kRevoked:
      return ReasonedError(absl::StatusCode::kFailedPrecondition,
                           absl::StrCat("invitation ", invitation.id, " was revoked", action),
                           kReasonInvitationRevoked, meta);
    case InvitationState::kAccepted:
      return ReasonedError(absl::StatusCode::kFailedPrecondition,
                           absl::StrCat("invitation ", invitation.id, " was already accepted",
                                        action),
                           kReasonInvitationAlreadyAccepted, meta);
    default:
      return absl::InternalError(
          absl::StrCat("invitation ", invitation.id, " is in an unknown state"));
  }
}

}  // namespace

absl::Status CheckCanResend(const Invitation& invitation, absl::Time now) {
  InvitationState state = EffectiveState(invitation, now);
  if (state == InvitationState::kPending || state == InvitationState::kExpired) {
    return absl::OkStatus();
  }
  return StateError(invitation, state, "; create a new invitation instead of resending");
}

absl::Status CheckCanRevoke(const Invitation& invitation, absl::Time now) {
  InvitationState state = EffectiveState(invitation, now);
  if (state == InvitationState::kPending) return absl::OkStatus();
  return StateError(invitation, state, "; only pending invitations can be revoked");
}

absl::Status CheckLinkUsable(const Invitation& invitation, absl::Time now) {
  InvitationState state = EffectiveState(invitation, now);
  if (state == InvitationState::kPending) return absl::OkStatus();
  absl::string_view hint =
      state == InvitationState::kExpired
          ? "; ask your administrator to resend the invitation"
          : state == InvitationState::kAccepted ? "; the account exists, log in instead" : "";
  return StateError(invitation, state, hint);
}

absl::Status ActiveInvitationExistsError(absl::string_view email, const Invitation& holder) {
  return ReasonedError(
      absl::StatusCode::kAlreadyExists,
      absl::StrCat("an active invitation for ", email, " already exists (", holder.id,
                   holder.tenant_id.empty() ? "" : absl::StrCat(" in tenant ", holder.tenant_id),
                   "); resend or revoke it instead"),
      kReasonActiveInvitationExists,
      {{"invitation_id", holder.id},
       {"tenant_id", holder.tenant_id},
       {"role", std::string(RoleName(holder.role))}});
}

absl::Status ActiveInvitationElsewhereError(absl::string_view email) {
  return ReasonedError(absl::StatusCode::kAlreadyExists,
                       absl::StrCat("an active invitation for ", email,
                                    " already exists elsewhere; it has to be accepted, revoked "
                                    "or expire before this address can be invited again"),
                       kReasonActiveInvitationExists);
}

absl::Status TokenInvalidError() {
  return ReasonedError(absl::StatusCode::kNotFound,
                       "this registration link is not valid; ask your administrator for a new "
                       "invitation",
                       kReasonTokenInvalid);
}

absl::Status InvitationNotFoundError(absl::string_view id) {
  return ReasonedError(absl::StatusCode::kNotFound,
                       absl::StrCat("invitation ", id, " does not exist"),
                       kReasonInvitationNotFound, {{"invitation_id", std::string(id)}});
}

}  // namespace securelink::invitations
