// The rule every way of inviting shares (CreateInvitation and BulkInvite; SPEC §2, §6): who may
// invite whom into which tenant, and what makes a role, tenant or ttl acceptable.
#ifndef SECURELINK_SERVER_INVITE_RULE_H_
#define SECURELINK_SERVER_INVITE_RULE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/authorization.h"
#include "server/domain/errors.h"
#include "server/domain/invitation.h"
#include "server/domain/validation.h"

namespace securelink::invitations {

// What an invitation request asks for, as sent.
struct InviteScope {
  Role role = Role::kUnspecified;
  std::string tenant_id;             // empty from a TenantAdmin: its own tenant
  std::optional<absl::Duration> ttl;  // unset: the policy's default
};

// The same, checked and resolved.
struct CheckedInviteScope {
  Role role = Role::kUnspecified;
  std::string tenant_id;
  absl::Duration ttl;
};

// Checks an invitation request in the order callers rely on: a caller who may invite nobody is
// PERMISSION_DENIED before anything in the request is looked at; then every field problem (the
// request's own `violations` first, then role, tenant and ttl) is one INVALID_ARGUMENT; then the
// caller's permission for this role and tenant (CanInvite: PERMISSION_DENIED).
absl::StatusOr<CheckedInviteScope> CheckInvite(const Principal& caller, InviteScope scope,
                                               const TtlPolicy& ttl_policy,
                                               std::vector<FieldViolation> violations);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_INVITE_RULE_H_
