#include "server/auth/authorization.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/domain/errors.h"

namespace securelink::invitations {
namespace {

bool HasRole(const VerifiedToken& token, const std::string& role) {
  return !role.empty() && std::find(token.realm_roles.begin(), token.realm_roles.end(), role) !=
                              token.realm_roles.end();
}

absl::Status Denied(absl::string_view message, absl::string_view reason) {
  return ReasonedError(absl::StatusCode::kPermissionDenied, message, reason);
}

absl::Status NotAnAdmin() {
  return Denied("this call needs the SuperAdmin or TenantAdmin role", kReasonNotAnAdmin);
}

absl::Status OtherTenant(const Principal& caller) {
  return Denied(
      absl::StrCat("a tenant admin may only act within its own tenant \"", caller.tenant_id, "\""),
      kReasonTenantAdminOtherTenant);
}

}  // namespace

const std::string& RealmRoleFor(Role role, const RoleNames& names) {
  static const std::string* const kNone = new std::string();
  switch (role) {
    case Role::kSuperAdmin:
      return names.super_admin;
    case Role::kTenantAdmin:
      return names.tenant_admin;
    case Role::kVpnUser:
      return names.vpn_user;
    case Role::kUnspecified:
      break;
  }
  return *kNone;
}

Principal PrincipalFrom(const VerifiedToken& token, const RoleNames& names) {
  Principal p;
  p.subject = token.subject;
  p.display_name = token.preferred_username.empty() ? token.subject : token.preferred_username;
  p.tenant_id = token.tenant_id;
  p.valid_until = token.accepted_until;
  if (HasRole(token, names.super_admin)) {
    p.kind = CallerKind::kSuperAdmin;
  } else if (HasRole(token, names.tenant_admin) && !token.tenant_id.empty()) {
    p.kind = CallerKind::kTenantAdmin;
  } else {
    p.kind = CallerKind::kOther;
  }
  return p;
}

Principal AuthDisabledPrincipal() {
  Principal p;
  p.subject = "auth-disabled";
  p.display_name = "auth-disabled";
  p.kind = CallerKind::kSuperAdmin;
  return p;
}

absl::Status RequireAdmin(const Principal& caller) {
  return caller.kind == CallerKind::kOther ? NotAnAdmin() : absl::OkStatus();
}

absl::Status CanInvite(const Principal& caller, Role role, absl::string_view tenant_id) {
  switch (caller.kind) {
    case CallerKind::kSuperAdmin:
      return absl::OkStatus();
    case CallerKind::kTenantAdmin:
      if (role == Role::kSuperAdmin) {
        return Denied("a tenant admin may not invite SuperAdmins",
                      kReasonTenantAdminCannotInviteSuperAdmin);
      }
      if (caller.tenant_id.empty() || tenant_id != caller.tenant_id) return OtherTenant(caller);
      return absl::OkStatus();
    case CallerKind::kOther:
      break;
  }
  return NotAnAdmin();
}

absl::Status CanReadTenantPolicy(const Principal& caller, absl::string_view tenant_id) {
  switch (caller.kind) {
    case CallerKind::kSuperAdmin:
      return absl::OkStatus();
    case CallerKind::kTenantAdmin:
      if (caller.tenant_id.empty() || tenant_id != caller.tenant_id) return OtherTenant(caller);
      return absl::OkStatus();
    case CallerKind::kOther:
      break;
  }
  return NotAnAdmin();
}

absl::Status CanWriteTenantPolicy(const Principal& caller, absl::string_view tenant_id) {
  switch (caller.kind) {
    case CallerKind::kSuperAdmin:
      return absl::OkStatus();
    case CallerKind::kTenantAdmin:
      if (caller.tenant_id.empty() || tenant_id != caller.tenant_id) return OtherTenant(caller);
      return Denied("only a SuperAdmin may change a tenant's policy",
                    kReasonTenantAdminCannotChangePolicy);
    case CallerKind::kOther:
      break;
  }
  return NotAnAdmin();
}

absl::Status CanActOn(const Principal& caller, InvitationAction action,
                      absl::string_view invitation_tenant_id, Role invitation_role) {
  switch (caller.kind) {
    case CallerKind::kSuperAdmin:
      return absl::OkStatus();
    case CallerKind::kTenantAdmin:
      if (caller.tenant_id.empty() || invitation_tenant_id != caller.tenant_id) {
        return OtherTenant(caller);
      }
      if (invitation_role == Role::kSuperAdmin && action != InvitationAction::kGet) {
        return Denied("a tenant admin may not resend or revoke a SuperAdmin invitation",
                      kReasonTenantAdminCannotManageSuperAdmin);
      }
      return absl::OkStatus();
    case CallerKind::kOther:
      break;
  }
  return NotAnAdmin();
}

absl::StatusOr<std::string> EffectiveTenantFilter(const Principal& caller,
                                                  absl::string_view requested_tenant) {
  switch (caller.kind) {
    case CallerKind::kSuperAdmin:
      return std::string(requested_tenant);
    case CallerKind::kTenantAdmin:
      if (caller.tenant_id.empty()) return OtherTenant(caller);
      if (requested_tenant.empty() || requested_tenant == caller.tenant_id) {
        return caller.tenant_id;
      }
      return OtherTenant(caller);
    case CallerKind::kOther:
      break;
  }
  return NotAnAdmin();
}

}  // namespace securelink::invitations
