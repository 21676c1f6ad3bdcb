// SPEC §6 as a table: SuperAdmin may do everything; TenantAdmin only within its own tenant and
// never for SuperAdmin accounts; everyone else is PERMISSION_DENIED.
#include "server/auth/authorization.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain/errors.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations {
namespace {

using ::securelink::testing::IsOk;
using ::securelink::testing::StatusIs;

// Callers of the matrix. "acme" is the own tenant, "globex" another one, "" none.
const Principal kSuper{"sub-super", "root", CallerKind::kSuperAdmin, ""};
const Principal kSuperWithTenant{"sub-super2", "root2", CallerKind::kSuperAdmin, "acme"};
const Principal kTenantAdmin{"sub-ta", "tina", CallerKind::kTenantAdmin, "acme"};
const Principal kTenantAdminWithoutTenant{"sub-ta0", "tom", CallerKind::kTenantAdmin, ""};
const Principal kOther{"sub-vpn", "victor", CallerKind::kOther, "acme"};

constexpr char kOk[] = "";  // expected reason "" means the call is allowed
constexpr absl::string_view kNotAdmin = kReasonNotAnAdmin;
constexpr absl::string_view kOtherTenant = kReasonTenantAdminOtherTenant;
constexpr absl::string_view kNoSuperInvite = kReasonTenantAdminCannotInviteSuperAdmin;
constexpr absl::string_view kNoSuperManage = kReasonTenantAdminCannotManageSuperAdmin;

std::string Name(const Principal& p) { return p.display_name; }

void ExpectDecision(const absl::Status& status, absl::string_view expected_reason) {
  if (expected_reason.empty()) {
    EXPECT_THAT(status, IsOk());
  } else {
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_EQ(ReasonOf(status), expected_reason);
    EXPECT_FALSE(status.message().empty());
  }
}

struct InviteCase {
  const Principal* caller;
  Role role;
  const char* tenant;
  absl::string_view expected;
};

TEST(Authorization, InviteMatrix) {
  const std::vector<InviteCase> cases = {
      // SuperAdmin: any role anywhere (role/tenant validity is the domain's business).
      {&kSuper, Role::kSuperAdmin, "acme", kOk},
      {&kSuper, Role::kSuperAdmin, "globex", kOk},
      {&kSuper, Role::kSuperAdmin, "", kOk},
      {&kSuper, Role::kTenantAdmin, "acme", kOk},
      {&kSuper, Role::kTenantAdmin, "globex", kOk},
      {&kSuper, Role::kTenantAdmin, "", kOk},
      {&kSuper, Role::kVpnUser, "acme", kOk},
      {&kSuper, Role::kVpnUser, "globex", kOk},
      {&kSuper, Role::kVpnUser, "", kOk},
      {&kSuperWithTenant, Role::kSuperAdmin, "globex", kOk},
      {&kSuperWithTenant, Role::kVpnUser, "globex", kOk},
      // TenantAdmin: tenant admins and VPN users of its own tenant, never a SuperAdmin.
      {&kTenantAdmin, Role::kSuperAdmin, "acme", kNoSuperInvite},
      {&kTenantAdmin, Role::kSuperAdmin, "globex", kNoSuperInvite},
      {&kTenantAdmin, Role::kSuperAdmin, "", kNoSuperInvite},
      {&kTenantAdmin, Role::kTenantAdmin, "acme", kOk},
      {&kTenantAdmin, Role::kTenantAdmin, "globex", kOtherTenant},
      {&kTenantAdmin, Role::kTenantAdmin, "", kOtherTenant},
      {&kTenantAdmin, Role::kVpnUser, "acme", kOk},
      {&kTenantAdmin, Role::kVpnUser, "globex", kOtherTenant},
      {&kTenantAdmin, Role::kVpnUser, "", kOtherTenant},
      {&kTenantAdmin, Role::kVpnUser, "ACME", kOtherTenant},  // tenant ids are exact
      // A TenantAdmin with no tenant (never built by PrincipalFrom) still gets nothing.
      {&kTenantAdminWithoutTenant, Role::kVpnUser, "", kOtherTenant},
      {&kTenantAdminWithoutTenant, Role::kVpnUser, "acme", kOtherTenant},
      // Anyone else: nothing, not even in its own tenant.
      {&kOther, Role::kSuperAdmin, "acme", kNotAdmin},
      {&kOther, Role::kSuperAdmin, "globex", kNotAdmin},
      {&kOther, Role::kSuperAdmin, "", kNotAdmin},
      {&kOther, Role::kTenantAdmin, "acme", kNotAdmin},
      {&kOther, Role::kTenantAdmin, "globex", kNotAdmin},
      {&kOther, Role::kTenantAdmin, "", kNotAdmin},
      {&kOther, Role::kVpnUser, "acme", kNotAdmin},
      {&kOther, Role::kVpnUser, "globex", kNotAdmin},
      {&kOther, Role::kVpnUser, "", kNotAdmin},
  };
  for (const InviteCase& c : cases) {
    SCOPED_TRACE(
        absl::StrCat(Name(*c.caller), " invites ", RoleName(c.role), " into '", c.tenant, "'"));
    ExpectDecision(CanInvite(*c.caller, c.role, c.tenant), c.expected);
  }
}

struct ActCase {
  const Principal* caller;
  const char* tenant;  // of the invitation
  Role role;           // of the invitation
  absl::string_view get;
  absl::string_view resend;
  absl::string_view revoke;
};

TEST(Authorization, ActOnInvitationMatrix) {
  const std::vector<ActCase> cases = {
      {&kSuper, "acme", Role::kVpnUser, kOk, kOk, kOk},
      {&kSuper, "globex", Role::kTenantAdmin, kOk, kOk, kOk},
      {&kSuper, "", Role::kSuperAdmin, kOk, kOk, kOk},
      {&kSuper, "acme", Role::kSuperAdmin, kOk, kOk, kOk},
      {&kSuperWithTenant, "globex", Role::kVpnUser, kOk, kOk, kOk},
      {&kTenantAdmin, "acme", Role::kVpnUser, kOk, kOk, kOk},
      {&kTenantAdmin, "acme", Role::kTenantAdmin, kOk, kOk, kOk},
      // A SuperAdmin invitation that names the tenant may be read, not resent (which would
      // hand the tenant admin a SuperAdmin registration link) nor revoked.
      {&kTenantAdmin, "acme", Role::kSuperAdmin, kOk, kNoSuperManage, kNoSuperManage},
      {&kTenantAdmin, "globex", Role::kVpnUser, kOtherTenant, kOtherTenant, kOtherTenant},
      {&kTenantAdmin, "globex", Role::kTenantAdmin, kOtherTenant, kOtherTenant, kOtherTenant},
      {&kTenantAdmin, "globex", Role::kSuperAdmin, kOtherTenant, kOtherTenant, kOtherTenant},
      {&kTenantAdmin, "", Role::kSuperAdmin, kOtherTenant, kOtherTenant, kOtherTenant},
      {&kTenantAdminWithoutTenant, "", Role::kVpnUser, kOtherTenant, kOtherTenant, kOtherTenant},
      {&kOther, "acme", Role::kVpnUser, kNotAdmin, kNotAdmin, kNotAdmin},
      {&kOther, "globex", Role::kVpnUser, kNotAdmin, kNotAdmin, kNotAdmin},
      {&kOther, "", Role::kSuperAdmin, kNotAdmin, kNotAdmin, kNotAdmin},
  };
  for (const ActCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(Name(*c.caller), " on a ", RoleName(c.role), " invitation of '",
                              c.tenant, "'"));
    ExpectDecision(CanActOn(*c.caller, InvitationAction::kGet, c.tenant, c.role), c.get);
    ExpectDecision(CanActOn(*c.caller, InvitationAction::kResend, c.tenant, c.role), c.resend);
    ExpectDecision(CanActOn(*c.caller, InvitationAction::kRevoke, c.tenant, c.role), c.revoke);
  }
}

struct ListCase {
  const Principal* caller;
  const char* requested;
  absl::string_view expected_reason;
  const char* expected_filter;  // when allowed
};

TEST(Authorization, ListAndWatchTenantFilterMatrix) {
  const std::vector<ListCase> cases = {
      {&kSuper, "", kOk, ""},  // every tenant
      {&kSuper, "acme", kOk, "acme"},
      {&kSuper, "globex", kOk, "globex"},
      {&kSuperWithTenant, "", kOk, ""},  // a tenant claim does not narrow a SuperAdmin
      {&kTenantAdmin, "", kOk, "acme"},  // defaults to its own
      {&kTenantAdmin, "acme", kOk, "acme"},
      {&kTenantAdmin, "globex", kOtherTenant, nullptr},
      {&kTenantAdminWithoutTenant, "", kOtherTenant, nullptr},
      {&kOther, "", kNotAdmin, nullptr},
      {&kOther, "acme", kNotAdmin, nullptr},
      {&kOther, "globex", kNotAdmin, nullptr},
  };
  for (const ListCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(Name(*c.caller), " lists '", c.requested, "'"));
    absl::StatusOr<std::string> filter = EffectiveTenantFilter(*c.caller, c.requested);
    ExpectDecision(filter.status(), c.expected_reason);
    if (filter.ok()) {
      EXPECT_EQ(*filter, c.expected_filter);
    }
  }
}

VerifiedToken TokenWith(std::vector<std::string> roles, std::string tenant) {
  VerifiedToken token;
  token.subject = "sub-1";
  token.preferred_username = "alice";
  token.realm_roles = std::move(roles);
  token.tenant_id = std::move(tenant);
  return token;
}

TEST(PrincipalFrom, SuperAdminRoleMakesASuperAdmin) {
  Principal p = PrincipalFrom(TokenWith({"offline_access", "securelink-super-admin"}, ""), {});
  EXPECT_EQ(p.kind, CallerKind::kSuperAdmin);
  EXPECT_EQ(p.subject, "sub-1");
  EXPECT_EQ(p.display_name, "alice");
}

TEST(PrincipalFrom, SuperAdminWinsOverTenantAdmin) {
  Principal p =
      PrincipalFrom(TokenWith({"securelink-tenant-admin", "securelink-super-admin"}, "acme"), {});
  EXPECT_EQ(p.kind, CallerKind::kSuperAdmin);
  EXPECT_EQ(p.tenant_id, "acme");
}

TEST(PrincipalFrom, TenantAdminNeedsATenantClaim) {
  Principal with = PrincipalFrom(TokenWith({"securelink-tenant-admin"}, "acme"), {});
  EXPECT_EQ(with.kind, CallerKind::kTenantAdmin);
  EXPECT_EQ(with.tenant_id, "acme");
  Principal without = PrincipalFrom(TokenWith({"securelink-tenant-admin"}, ""), {});
  EXPECT_EQ(without.kind, CallerKind::kOther);
}

TEST(PrincipalFrom, VpnUsersAndRolelessCallersAreOther) {
  EXPECT_EQ(PrincipalFrom(TokenWith({"securelink-vpn-user"}, "acme"), {}).kind, CallerKind::kOther);
  EXPECT_EQ(PrincipalFrom(TokenWith({}, "acme"), {}).kind, CallerKind::kOther);
  // Realm role names are case-sensitive in Keycloak.
  EXPECT_EQ(PrincipalFrom(TokenWith({"SECURELINK-SUPER-ADMIN"}, ""), {}).kind, CallerKind::kOther);
}

TEST(PrincipalFrom, RoleNamesAreConfigurable) {
  RoleNames names{"root", "tenant-boss", "vpn"};
  EXPECT_EQ(PrincipalFrom(TokenWith({"root"}, ""), names).kind, CallerKind::kSuperAdmin);
  EXPECT_EQ(PrincipalFrom(TokenWith({"tenant-boss"}, "acme"), names).kind,
            CallerKind::kTenantAdmin);
  EXPECT_EQ(PrincipalFrom(TokenWith({"securelink-super-admin"}, ""), names).kind,
            CallerKind::kOther);
  // An unset name never matches a role (an empty role string in a token grants nothing).
  EXPECT_EQ(PrincipalFrom(TokenWith({""}, "acme"), RoleNames{"", "", ""}).kind, CallerKind::kOther);
}

TEST(PrincipalFrom, DisplayNameFallsBackToTheSubject) {
  VerifiedToken token = TokenWith({}, "");
  token.preferred_username.clear();
  EXPECT_EQ(PrincipalFrom(token, {}).display_name, "sub-1");
}

TEST(PrincipalFrom, CarriesWhenTheTokenStopsBeingAccepted) {
  VerifiedToken token = TokenWith({"securelink-super-admin"}, "");
  token.expires = absl::FromUnixSeconds(1'700'000'300);
  token.accepted_until = absl::FromUnixSeconds(1'700'000'330);
  EXPECT_EQ(PrincipalFrom(token, {}).valid_until, absl::FromUnixSeconds(1'700'000'330));
}

TEST(AuthDisabledPrincipal, IsANamedSuperAdmin) {
  Principal p = AuthDisabledPrincipal();
  EXPECT_EQ(p.kind, CallerKind::kSuperAdmin);
  EXPECT_EQ(p.subject, "auth-disabled");
  EXPECT_EQ(p.valid_until, absl::InfiniteFuture()) << "nothing to expire";
}

TEST(RealmRoleFor, MapsInvitedRolesToRealmRoles) {
  RoleNames names;
  EXPECT_EQ(RealmRoleFor(Role::kSuperAdmin, names), "securelink-super-admin");
  EXPECT_EQ(RealmRoleFor(Role::kTenantAdmin, names), "securelink-tenant-admin");
  EXPECT_EQ(RealmRoleFor(Role::kVpnUser, names), "securelink-vpn-user");
  EXPECT_EQ(RealmRoleFor(Role::kUnspecified, names), "");
}

}  // namespace
}  // namespace securelink::invitations
