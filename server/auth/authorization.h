// Who may do what (SPEC §6) as pure functions of the caller's verified identity: SuperAdmin
// everything, TenantAdmin only inside its own tenant and never for SuperAdmin accounts, anyone
// else nothing. The gRPC handlers call these after authentication and before touching the domain.
#ifndef SECURELINK_SERVER_AUTH_AUTHORIZATION_H_
#define SECURELINK_SERVER_AUTH_AUTHORIZATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/invitation.h"

namespace securelink::invitations {

// ErrorInfo reasons of the PERMISSION_DENIED statuses below.
inline constexpr absl::string_view kReasonNotAnAdmin = "NOT_AN_ADMIN";
inline constexpr absl::string_view kReasonTenantAdminOtherTenant = "TENANT_ADMIN_OTHER_TENANT";
inline constexpr absl::string_view kReasonTenantAdminCannotInviteSuperAdmin =
    "TENANT_ADMIN_CANNOT_INVITE_SUPER_ADMIN";
inline constexpr absl::string_view kReasonTenantAdminCannotManageSuperAdmin =
    "TENANT_ADMIN_CANNOT_MANAGE_SUPER_ADMIN";
inline constexpr absl::string_view kReasonTenantAdminCannotChangePolicy =
    "TENANT_ADMIN_CANNOT_CHANGE_POLICY";

enum class CallerKind { kSuperAdmin, kTenantAdmin, kOther };

// The authenticated caller as authorization sees it.
struct Principal {
  std::string subject;       // `sub`: what created_by and audit records name
  std::string display_name;  // preferred_username, or the subject when the token has none
  CallerKind kind = CallerKind::kOther;
  std::string tenant_id;  // a TenantAdmin's tenant (never empty for one); may be set otherwise
  // When the credentials stop being accepted (VerifiedToken::accepted_until: exp + leeway), also
  // for a token checked against a PEM key; InfiniteFuture() when authentication is disabled. A
  // call that outlives its authentication (WatchInvitationEvents) ends at this moment.
  absl::Time valid_until = absl::InfiniteFuture();
  // The request id of the call these credentials came with (server/domain/request_id.h): the
  // audit events and emails the call causes carry it. Empty when the transport gave none.
  std::string request_id;
};

// Keycloak realm role names (SPEC §9; configurable). The same names serve the token check and
// the role mapped onto an account on accept.
struct RoleNames {
  std::string super_admin = "securelink-super-admin";
  std::string tenant_admin = "securelink-tenant-admin";
  std::string vpn_user = "securelink-vpn-user";
};

// The realm role for an invited `role`; "" for Role::kUnspecified.
const std::string& RealmRoleFor(Role role, const RoleNames& names);

// The caller a verified token describes: SuperAdmin if it carries the super-admin realm role
// (even with the tenant-admin role too); TenantAdmin if it carries the tenant-admin role and a
// non-empty tenant_id claim; otherwise kOther (a tenant admin without a tenant can do nothing).
Principal PrincipalFrom(const VerifiedToken& token, const RoleNames& names);

// The caller used when authentication is disabled (--auth=disabled): a SuperAdmin whose subject
// is "auth-disabled", so audit records show that nobody was authenticated.
Principal AuthDisabledPrincipal();

// OK for a SuperAdmin or TenantAdmin; PERMISSION_DENIED (kReasonNotAnAdmin) for anyone else. Calls
// that name an invitation check this before looking it up, so a non-admin learns nothing about
// which ids exist.
absl::Status RequireAdmin(const Principal& caller);

// Whether `caller` may invite someone as `role` into `tenant_id` (CreateInvitation, BulkInvite).
// OK for a SuperAdmin (the domain validates role/tenant combinations); for a TenantAdmin only a
// non-SuperAdmin role in its own tenant. Otherwise PERMISSION_DENIED with kReasonNotAnAdmin,
// kReasonTenantAdminCannotInviteSuperAdmin or kReasonTenantAdminOtherTenant (an empty tenant_id
// is "another tenant" here: a handler that wants to default it to the caller's must do so first).
absl::Status CanInvite(const Principal& caller, Role role, absl::string_view tenant_id);

// Tenant policies (SPEC §11): a SuperAdmin reads and writes every tenant's; a TenantAdmin reads
// its own tenant's (kReasonTenantAdminOtherTenant for another) and writes none
// (kReasonTenantAdminCannotChangePolicy); anyone else kReasonNotAnAdmin.
absl::Status CanReadTenantPolicy(const Principal& caller, absl::string_view tenant_id);
absl::Status CanWriteTenantPolicy(const Principal& caller, absl::string_view tenant_id);

// What a call does to one invitation it names by id.
enum class InvitationAction { kGet, kResend, kRevoke };

// Whether `caller` may perform `action` on an invitation of `invitation_role` in
// `invitation_tenant_id`. SuperAdmin: OK. TenantAdmin: only in its own tenant
// (kReasonTenantAdminOtherTenant otherwise, including tenant-less invitations), and it may read but
// not resend or revoke a SuperAdmin invitation that happens to name its tenant
// (kReasonTenantAdminCannotManageSuperAdmin): Resend hands the caller a registration link, which
// would let a tenant admin mint a SuperAdmin account. Anyone else: kReasonNotAnAdmin.
absl::Status CanActOn(const Principal& caller, InvitationAction action,
                      absl::string_view invitation_tenant_id, Role invitation_role);

// The tenant filter a ListInvitations / WatchInvitationEvents call must apply ("" = all tenants).
// SuperAdmin: `requested_tenant` as given. TenantAdmin: its own tenant when `requested_tenant` is
// empty or its own; PERMISSION_DENIED (kReasonTenantAdminOtherTenant) for another. Anyone else:
// PERMISSION_DENIED (kReasonNotAnAdmin).
absl::StatusOr<std::string> EffectiveTenantFilter(const Principal& caller,
                                                  absl::string_view requested_tenant);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_AUTH_AUTHORIZATION_H_
