// The invitation model and its lifecycle rules (SPEC §2), as plain values and functions.
#ifndef SECURELINK_SERVER_DOMAIN_INVITATION_H_
#define SECURELINK_SERVER_DOMAIN_INVITATION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::invitations {

enum class Role { kUnspecified, kSuperAdmin, kTenantAdmin, kVpnUser };
enum class InvitationState { kUnspecified, kPending, kAccepted, kExpired, kRevoked };
enum class EmailDeliveryState { kUnspecified, kSuppressed, kQueued, kSent, kFailed };

// Stable names used in the database and in logs ("PENDING", "VPN_USER", ...).
absl::string_view RoleName(Role role);
absl::string_view StateName(InvitationState state);
absl::string_view DeliveryStateName(EmailDeliveryState state);
// Inverse of the above; kUnspecified for an unknown name.
Role RoleFromName(absl::string_view name);
InvitationState StateFromName(absl::string_view name);
EmailDeliveryState DeliveryStateFromName(absl::string_view name);

// Whether `role` must be scoped to a tenant (TENANT_ADMIN and VPN_USER).
bool RoleRequiresTenant(Role role);

struct Invitation {
  int64_t seq = 0;  // storage order; the keyset pagination key, never shown to callers
  std::string id;
  std::string email;  // normalised: trimmed, lower-cased
  Role role = Role::kUnspecified;
  std::string tenant_id;
  // As stored. Callers see EffectiveState(): a PENDING row past expire_time reads as EXPIRED.
  InvitationState state = InvitationState::kUnspecified;
  absl::Time create_time = absl::InfinitePast();
  absl::Time update_time = absl::InfinitePast();
  absl::Time expire_time = absl::InfinitePast();
  std::optional<absl::Time> accept_time;
  std::optional<absl::Time> revoke_time;
  std::optional<absl::Time> last_send_time;
  int send_count = 0;
  std::string created_by;
  std::string user_id;
  std::string revoke_reason;
  std::string request_id;
  // The invitation's language (BCP 47, canonical case): the request's locale, else the tenant's
  // default_locale, else "en". Chooses the email's and the registration page's templates.
  std::string locale;
  EmailDeliveryState email_delivery_state = EmailDeliveryState::kUnspecified;
  std::string email_last_error;
  // Internal, never shown to callers: the accept saga's Keycloak user recorded before the
  // invitation is ACCEPTED, and the SHA-256 (hex) of the current registration token.
  std::string accept_user_id;
  std::string token_hash_hex;
  // Internal: the accept attempt that holds the claim on the link, and until when; past it the
  // saga is due for recovery (server/accept_saga.h). Empty / nullopt: no claim.
  std::string accept_attempt_id;
  std::optional<absl::Time> accept_lease_expire_time;
  // Internal: the link (token hash, hex) under which accept_user_id was created.
  std::string accept_link_hash;
};

// The state callers see at `now`: a pending invitation whose expiry has passed is EXPIRED,
// whether or not a sweep has persisted that yet.
InvitationState EffectiveState(const Invitation& invitation, absl::Time now);

// `invitation` with its state replaced by EffectiveState(invitation, now).
Invitation AsSeenAt(Invitation invitation, absl::Time now);

// Whether the invitation may be resent at `now` (PENDING or EXPIRED). Otherwise
// FAILED_PRECONDITION with the reason naming the blocking state.
absl::Status CheckCanResend(const Invitation& invitation, absl::Time now);

// Whether the invitation may be revoked at `now` (PENDING only). Otherwise FAILED_PRECONDITION
// naming the blocking state (INVITATION_EXPIRED, _REVOKED or _ALREADY_ACCEPTED).
absl::Status CheckCanRevoke(const Invitation& invitation, absl::Time now);

// Whether a registration link for this invitation may be used at `now`: FAILED_PRECONDITION with
// INVITATION_EXPIRED, INVITATION_REVOKED or INVITATION_ALREADY_ACCEPTED otherwise.
absl::Status CheckLinkUsable(const Invitation& invitation, absl::Time now);

// ALREADY_EXISTS / ACTIVE_INVITATION_EXISTS naming the active invitation `holder` that blocks
// `email` (ErrorInfo metadata invitation_id, tenant_id, role). Callers who may not read the holder
// get ActiveInvitationElsewhereError instead (SPEC §10).
absl::Status ActiveInvitationExistsError(absl::string_view email, const Invitation& holder);

// ALREADY_EXISTS / ACTIVE_INVITATION_EXISTS that names nothing: what a caller learns about an
// active invitation it may not read.
absl::Status ActiveInvitationElsewhereError(absl::string_view email);

// NOT_FOUND / INVITATION_TOKEN_INVALID: the one answer for an unknown, malformed or superseded
// registration link (SPEC §9), so a guesser learns nothing.
absl::Status TokenInvalidError();

// NOT_FOUND for an invitation id.
absl::Status InvitationNotFoundError(absl::string_view id);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_INVITATION_H_
