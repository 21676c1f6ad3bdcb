#include "server/invite_rule.h"

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {

absl::StatusOr<CheckedInviteScope> CheckInvite(const Principal& caller, InviteScope scope,
                                               const TtlPolicy& ttl_policy,
                                               std::vector<FieldViolation> violations) {
  if (scope.tenant_id.empty() && caller.kind == CallerKind::kTenantAdmin) {
    scope.tenant_id = caller.tenant_id;
  }
  // Refused before validation (SPEC §6), so that a bad request does not turn the answer into
  // INVALID_ARGUMENT for somebody who may not invite at all.
  RETURN_IF_ERROR(RequireAdmin(caller));
  if (scope.role == Role::kUnspecified) {
    violations.push_back(
        {"role", "is required: ROLE_SUPER_ADMIN, ROLE_TENANT_ADMIN or ROLE_VPN_USER"});
  }
  if (std::optional<std::string> problem = TenantIdProblem(scope.tenant_id)) {
    violations.push_back({"tenant_id", *problem});
  } else if (scope.tenant_id.empty() && RoleRequiresTenant(scope.role)) {
    violations.push_back({"tenant_id", absl::StrCat("is required for role ", RoleName(scope.role))});
  }
  absl::StatusOr<absl::Duration> ttl = ResolveTtl(scope.ttl, ttl_policy);
  if (!ttl.ok()) violations.push_back({"ttl", std::string(ttl.status().message())});
  if (!violations.empty()) return InvalidFields(std::move(violations));
  RETURN_IF_ERROR(CanInvite(caller, scope.role, scope.tenant_id));
  return CheckedInviteScope{scope.role, std::move(scope.tenant_id), *ttl};
}

}  // namespace securelink::invitations
