// The seam between the accept saga and the identity provider (Keycloak) that holds user
// accounts. The saga sees only this interface; keycloak_admin_client.h implements it over the
// Keycloak Admin REST API, and tests may substitute their own.
#ifndef SECURELINK_SERVER_KEYCLOAK_IDENTITY_PROVIDER_H_
#define SECURELINK_SERVER_KEYCLOAK_IDENTITY_PROVIDER_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

// The user attribute names the service writes and checks. The realm's user profile must declare
// both (deploy/keycloak/realm-securelink.json does), or Keycloak silently drops them.
inline constexpr absl::string_view kTenantIdAttribute = "tenant_id";
inline constexpr absl::string_view kInvitationIdAttribute = "invitation_id";

// ErrorInfo reasons attached (domain/errors.h ReasonedError) to identity-provider failures, so
// that the saga and the gRPC edge can tell them apart without parsing messages.
//
// UNAVAILABLE: Keycloak unreachable, timed out, answered 5xx/429, or rejected a freshly issued
// token. Transient: retry later; the invitation stays PENDING.
inline constexpr absl::string_view kReasonIdpUnavailable = "IDENTITY_PROVIDER_UNAVAILABLE";
// FAILED_PRECONDITION: Keycloak is reachable but not configured as deploy/keycloak describes.
// An operator must fix the realm or the service's --keycloak_* flags; retrying will not help.
inline constexpr absl::string_view kReasonIdpCredentialsRejected =
    "IDENTITY_PROVIDER_CREDENTIALS_REJECTED";  // token endpoint refused client id/secret
inline constexpr absl::string_view kReasonIdpPermissionDenied =
    "IDENTITY_PROVIDER_PERMISSION_DENIED";  // service account lacks realm-management roles
inline constexpr absl::string_view kReasonIdpRealmNotFound = "IDENTITY_PROVIDER_REALM_NOT_FOUND";
inline constexpr absl::string_view kReasonIdpRoleNotFound = "IDENTITY_PROVIDER_ROLE_NOT_FOUND";
inline constexpr absl::string_view kReasonIdpAttributeDropped =
    "IDENTITY_PROVIDER_ATTRIBUTE_DROPPED";  // metadata "attribute" names it
// ALREADY_EXISTS from CreateUser; metadata "field" is "username" or "email" when Keycloak said
// which one clashed.
inline constexpr absl::string_view kReasonIdpUserExists = "IDENTITY_PROVIDER_USER_EXISTS";
// NOT_FOUND: the user id given to VerifyAttributes / AssignRealmRole does not exist (any more).
inline constexpr absl::string_view kReasonIdpUserNotFound = "IDENTITY_PROVIDER_USER_NOT_FOUND";

// The account to create on accept.
struct NewUser {
  std::string username;    // empty: the email is the username. Keycloak lower-cases it.
  std::string email;       // Keycloak lower-cases it.
  std::string first_name;
  std::string last_name;
  std::string password;    // never logged, never in an error message
  std::string tenant_id;   // empty (a global SuperAdmin): the attribute is not written
  std::string invitation_id;
  std::string realm_role;  // the realm role the saga maps afterwards (AssignRealmRole)
  // Whether the account can log in once created. The accept saga creates it disabled and
  // enables it only after the invitation is ACCEPTED (SPEC §10).
  bool enabled = true;
};

// An account as Keycloak reports it.
struct ExistingUser {
  std::string id;
  std::string username;
  std::string email;
  std::string first_name;
  std::string last_name;
  bool enabled = false;
  std::map<std::string, std::vector<std::string>> attributes;
};

// Changes to an existing account; fields left unset stay as they are.
struct UserChanges {
  std::optional<std::string> first_name;
  std::optional<std::string> last_name;
  std::optional<bool> enabled;
};

// Account operations the accept saga needs. Implementations are thread-safe: the accept calls
// run on several worker threads at once. Every error message is fit to show a person and never
// contains the service's client secret or the user's password.
//
// Common errors of every method: UNAVAILABLE (kReasonIdpUnavailable) when the identity provider
// cannot be reached, times out or fails internally; FAILED_PRECONDITION (kReasonIdpCredentials-
// Rejected, kReasonIdpPermissionDenied, kReasonIdpRealmNotFound) when it is misconfigured.
class IdentityProvider {
 public:
  virtual ~IdentityProvider() = default;

  // Returns the user whose attribute invitation_id equals `invitation_id` exactly, or nullopt.
  // Keycloak: GET /admin/realms/{realm}/users?q=invitation_id:<id>. This is how a retried accept
  // finds the account an earlier, interrupted attempt already created.
  virtual absl::StatusOr<std::optional<ExistingUser>> FindUserByInvitation(
      absl::string_view invitation_id) = 0;

  // Returns the user whose email equals `email` (case-insensitively), or nullopt.
  // Keycloak: GET /admin/realms/{realm}/users?email=<e>&exact=true.
  virtual absl::StatusOr<std::optional<ExistingUser>> FindUserByEmail(absl::string_view email) = 0;

  // Creates an enabled account with a verified email, `user.password` as a non-temporary password
  // credential, the names, and the attributes tenant_id and invitation_id. Returns its id.
  // Keycloak: POST /admin/realms/{realm}/users; the id is the last segment of the Location header.
  //
  // Errors: ALREADY_EXISTS (kReasonIdpUserExists) with Keycloak's message ("User exists with same
  // username" / "... email"); INVALID_ARGUMENT with Keycloak's message and a field violation
  // (e.g. field "password" for a password-policy rejection: "Invalid password: minimum length
  // 8."); UNAVAILABLE as above. After UNAVAILABLE the account may or may not exist (the response
  // may have been lost): look it up with FindUserByInvitation before creating it again.
  virtual absl::StatusOr<std::string> CreateUser(const NewUser& user) = 0;

  // Reads the account back and checks that the attributes tenant_id (when `expected.tenant_id` is
  // not empty) and invitation_id carry the expected values: Keycloak silently drops attributes its
  // realm user profile does not declare.
  //
  // Errors: FAILED_PRECONDITION (kReasonIdpAttributeDropped) naming the missing or different
  // attribute; NOT_FOUND (kReasonIdpUserNotFound) when the user does not exist.
  virtual absl::Status VerifyAttributes(absl::string_view user_id, const NewUser& expected) = 0;

  // The account with `user_id`. NOT_FOUND (kReasonIdpUserNotFound) when it does not exist.
  virtual absl::StatusOr<ExistingUser> GetUser(absl::string_view user_id) = 0;

  // Applies `changes` to the account, keeping everything else (its attributes included: Keycloak
  // 24+ replaces them with what an update sends, so implementations send the whole account).
  // NOT_FOUND (kReasonIdpUserNotFound) when it does not exist.
  virtual absl::Status UpdateUser(absl::string_view user_id, const UserChanges& changes) = 0;

  // Replaces the account's password with `password` (non-temporary). INVALID_ARGUMENT with
  // Keycloak's message (field "password") when the password policy refuses it; NOT_FOUND as above.
  virtual absl::Status SetPassword(absl::string_view user_id, absl::string_view password) = 0;

  // Deletes the account. OK when it does not exist (any more).
  virtual absl::Status DeleteUser(absl::string_view user_id) = 0;

  // Maps the realm role `role_name` to the user. Idempotent. Keycloak: GET
  // /admin/realms/{realm}/roles/{role-name}, then POST .../users/{id}/role-mappings/realm.
  //
  // Errors: FAILED_PRECONDITION (kReasonIdpRoleNotFound) when the realm has no such role;
  // NOT_FOUND (kReasonIdpUserNotFound) when the user does not exist.
  virtual absl::Status AssignRealmRole(absl::string_view user_id, absl::string_view role_name) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_KEYCLOAK_IDENTITY_PROVIDER_H_
