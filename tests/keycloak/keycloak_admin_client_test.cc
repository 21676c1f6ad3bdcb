// KeycloakAdminClient against the Keycloak stand-in (keycloak_standin.py): what the accept saga
// relies on, including Keycloak's failure modes.
#include "server/keycloak/keycloak_admin_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain/errors.h"
#include "tests/keycloak/keycloak_standin.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations {
namespace {

using ::nlohmann::json;
using ::securelink::testing::IsOk;
using ::securelink::testing::KeycloakStandin;
using ::securelink::testing::KeycloakStandinOptions;
using ::securelink::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "Correct-Horse-7731";

std::string MetadataOf(const absl::Status& status, absl::string_view key) {
  for (const auto& [k, v] : GetErrorDetails(status).metadata) {
    if (k == key) return v;
  }
  return "";
}

NewUser MakeUser(absl::string_view name, absl::string_view tenant = "tenant-a") {
  NewUser user;
  user.email = absl::StrCat(name, "@example.com");
  user.username = absl::StrCat(name);
  user.first_name = "Ada";
  user.last_name = "Lovelace";
  user.password = kPassword;
  user.tenant_id = std::string(tenant);
  user.invitation_id = absl::StrCat("inv-", name);
  user.realm_role = "securelink-vpn-user";
  return user;
}

// Polls `condition` every 20 ms for up to `timeout`.
template <typename F>
bool Eventually(F condition, absl::Duration timeout = absl::Seconds(10)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

class KeycloakAdminClientTest : public ::testing::Test {
 protected:
  void SetUp() override { StartStandin(KeycloakStandinOptions{}); }

  void StartStandin(KeycloakStandinOptions options) {
    client_.reset();
    standin_.reset();
    auto standin = KeycloakStandin::Start(std::move(options));
    ASSERT_THAT(standin.status(), IsOk());
    standin_ = *std::move(standin);
    client_ = MakeClient();
  }

  KeycloakAdminOptions Options() const {
    KeycloakAdminOptions options;
    options.base_url = standin_->base_url();
    options.realm = standin_->options().realm;
    options.client_id = standin_->options().client_id;
    options.client_secret = standin_->options().client_secret;
    options.connect_timeout = absl::Seconds(2);
    options.request_timeout = absl::Seconds(5);
    return options;
  }

  std::unique_ptr<KeycloakAdminClient> MakeClient(
      std::optional<KeycloakAdminOptions> options = std::nullopt) {
    auto client = KeycloakAdminClient::Create(options.value_or(Options()));
    EXPECT_THAT(client.status(), IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  json StandinUsers() {
    auto users = standin_->Users();
    EXPECT_THAT(users.status(), IsOk());
    return users.ok() ? *users : json::array();
  }

  std::unique_ptr<KeycloakStandin> standin_;
  std::unique_ptr<KeycloakAdminClient> client_;
};

// --- CreateUser ----------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, CreateUserReturnsTheIdFromTheLocationHeader) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());

  json users = StandinUsers();
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0]["id"], *id);
  EXPECT_EQ(users[0]["username"], "ada");
  EXPECT_EQ(users[0]["email"], "ada@example.com");
  EXPECT_EQ(users[0]["firstName"], "Ada");
  EXPECT_EQ(users[0]["lastName"], "Lovelace");
  EXPECT_EQ(users[0]["enabled"], true);
  EXPECT_EQ(users[0]["emailVerified"], true);
  EXPECT_EQ(users[0]["attributes"]["tenant_id"], json::array({"tenant-a"}));
  EXPECT_EQ(users[0]["attributes"]["invitation_id"], json::array({"inv-ada"}));
  EXPECT_EQ(users[0]["credentials"],
            json::array({json{{"type", "password"}, {"temporary", false}}}));
}

TEST_F(KeycloakAdminClientTest, CreatedUserCanLogInWithTheChosenPassword) {
  ASSERT_THAT(client_->CreateUser(MakeUser("ada")).status(), IsOk());

  auto login = standin_->Http(
      "POST", "/realms/securelink/protocol/openid-connect/token",
      absl::StrCat("grant_type=password&client_id=admin-cli&username=ada&password=",
                   kPassword),
      "application/x-www-form-urlencoded");
  ASSERT_THAT(login.status(), IsOk());
  EXPECT_EQ(login->status, 200) << login->body;
}

TEST_F(KeycloakAdminClientTest, UsernameDefaultsToTheEmail) {
  NewUser user = MakeUser("grace");
  user.username.clear();
  ASSERT_THAT(client_->CreateUser(user).status(), IsOk());
  EXPECT_EQ(StandinUsers()[0]["username"], "grace@example.com");
}

TEST_F(KeycloakAdminClientTest, DuplicateUsernameIsAlreadyExistsNamingTheUsername) {
  ASSERT_THAT(client_->CreateUser(MakeUser("ada")).status(), IsOk());
  NewUser again = MakeUser("ada");
  again.email = "other@example.com";

  absl::StatusOr<std::string> id = client_->CreateUser(again);
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(id.status().message(), "User exists with same username");
  EXPECT_EQ(ReasonOf(id.status()), kReasonIdpUserExists);
  EXPECT_EQ(MetadataOf(id.status(), "field"), "username");
}

TEST_F(KeycloakAdminClientTest, DuplicateEmailIsAlreadyExistsNamingTheEmail) {
  ASSERT_THAT(client_->CreateUser(MakeUser("ada")).status(), IsOk());
  NewUser again = MakeUser("ada");
  again.username = "ada2";
  again.email = "ADA@example.com";  // Keycloak compares emails case-insensitively

  absl::StatusOr<std::string> id = client_->CreateUser(again);
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(id.status().message(), "User exists with same email");
  EXPECT_EQ(MetadataOf(id.status(), "field"), "email");
}

TEST_F(KeycloakAdminClientTest, PasswordPolicyRejectionIsInvalidArgumentWithKeycloaksMessage) {
  NewUser user = MakeUser("ada");
  user.password = "short";

  absl::StatusOr<std::string> id = client_->CreateUser(user);
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument));
  // The shipped realm's policy: length(12) and maxLength(128) and notUsername and notEmail.
  EXPECT_THAT(std::string(id.status().message()),
              HasSubstr("Invalid password: minimum length 12."));
  std::vector<FieldViolation> violations = GetErrorDetails(id.status()).field_violations;
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "password");
  EXPECT_EQ(violations[0].description, "Invalid password: minimum length 12.");
  EXPECT_TRUE(StandinUsers().empty()) << "Keycloak rolls the user back";
}

TEST_F(KeycloakAdminClientTest, OtherPasswordPoliciesComeBackInKeycloaksWords) {
  ASSERT_THAT(standin_->Configure({{"password_policy", "length(8) and digits(2)"}}), IsOk());
  NewUser user = MakeUser("ada");
  user.password = "only-one-digit-1";

  absl::StatusOr<std::string> id = client_->CreateUser(user);
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(id.status().message()),
              HasSubstr("Invalid password: must contain at least 2 numerical digits."));
}

TEST_F(KeycloakAdminClientTest, UserProfileValidationErrorNamesTheRequestField) {
  NewUser user = MakeUser("ada");
  user.first_name = "<script>";

  absl::StatusOr<std::string> id = client_->CreateUser(user);
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kInvalidArgument));
  std::vector<FieldViolation> violations = GetErrorDetails(id.status()).field_violations;
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "first_name");
  EXPECT_THAT(violations[0].description, HasSubstr("not allow"));
}

// --- Lookups ---------------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, FindUserByInvitationReturnsOnlyAnExactMatch) {
  absl::StatusOr<std::string> one = client_->CreateUser(MakeUser("one"));
  ASSERT_THAT(one.status(), IsOk());
  NewUser ten = MakeUser("ten");
  ten.invitation_id = "inv-one0";  // "inv-one" is a prefix of it
  ASSERT_THAT(client_->CreateUser(ten).status(), IsOk());

  auto found = client_->FindUserByInvitation("inv-one");
  ASSERT_THAT(found.status(), IsOk());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, *one);
  EXPECT_EQ((*found)->username, "one");
  EXPECT_EQ((*found)->email, "one@example.com");
  EXPECT_EQ((*found)->attributes.at("tenant_id"), std::vector<std::string>{"tenant-a"});

  // Keycloak matches attribute values case-insensitively; invitation ids are case-sensitive.
  auto other_case = client_->FindUserByInvitation("INV-ONE");
  ASSERT_THAT(other_case.status(), IsOk());
  EXPECT_FALSE(other_case->has_value());

  auto missing = client_->FindUserByInvitation("inv-nobody");
  ASSERT_THAT(missing.status(), IsOk());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(KeycloakAdminClientTest, FindUserByInvitationQuotesAndEncodesOddValues) {
  NewUser user = MakeUser("odd");
  user.invitation_id = "a b:\"c\"&d=e+f";
  ASSERT_THAT(client_->CreateUser(user).status(), IsOk());

  auto found = client_->FindUserByInvitation(user.invitation_id);
  ASSERT_THAT(found.status(), IsOk());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->username, "odd");
}

TEST_F(KeycloakAdminClientTest, FindUserByEmailIsExactAndCaseInsensitive) {
  ASSERT_THAT(client_->CreateUser(MakeUser("alice")).status(), IsOk());

  auto found = client_->FindUserByEmail("ALICE@Example.com");
  ASSERT_THAT(found.status(), IsOk());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->email, "alice@example.com");

  auto partial = client_->FindUserByEmail("lice@example.com");
  ASSERT_THAT(partial.status(), IsOk());
  EXPECT_FALSE(partial->has_value());
}

TEST_F(KeycloakAdminClientTest, FindUserByEmailEncodesThePlusSign) {
  NewUser user = MakeUser("plus");
  user.email = "a+b@example.com";
  ASSERT_THAT(client_->CreateUser(user).status(), IsOk());

  auto found = client_->FindUserByEmail("a+b@example.com");
  ASSERT_THAT(found.status(), IsOk());
  EXPECT_TRUE(found->has_value()) << "an unencoded '+' would reach Keycloak as a space";
}

// --- VerifyAttributes ------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, VerifyAttributesPassesWhenBothAttributesStuck) {
  NewUser user = MakeUser("ada");
  absl::StatusOr<std::string> id = client_->CreateUser(user);
  ASSERT_THAT(id.status(), IsOk());
  EXPECT_THAT(client_->VerifyAttributes(*id, user), IsOk());
}

TEST_F(KeycloakAdminClientTest, SuperAdminWithoutTenantNeedsOnlyTheInvitationId) {
  NewUser user = MakeUser("root", /*tenant=*/"");
  absl::StatusOr<std::string> id = client_->CreateUser(user);
  ASSERT_THAT(id.status(), IsOk());
  EXPECT_FALSE(StandinUsers()[0]["attributes"].contains("tenant_id"));
  EXPECT_THAT(client_->VerifyAttributes(*id, user), IsOk());
}

TEST_F(KeycloakAdminClientTest, UndeclaredAttributeIsDroppedAndVerifyAttributesNamesIt) {
  KeycloakStandinOptions options;
  options.declared_attributes = {"invitation_id"};  // the realm forgot tenant_id
  StartStandin(options);
  NewUser user = MakeUser("ada");
  absl::StatusOr<std::string> id = client_->CreateUser(user);
  ASSERT_THAT(id.status(), IsOk()) << "Keycloak accepts the user and drops the attribute";

  absl::Status verified = client_->VerifyAttributes(*id, user);
  EXPECT_THAT(verified, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(verified.message()), HasSubstr("tenant_id"));
  EXPECT_THAT(std::string(verified.message()), Not(HasSubstr("invitation_id,")));
  EXPECT_EQ(ReasonOf(verified), kReasonIdpAttributeDropped);
  EXPECT_EQ(MetadataOf(verified, "attribute"), "tenant_id");
}

TEST_F(KeycloakAdminClientTest, DroppedAttributesFaultFailsVerifyAttributes) {
  ASSERT_THAT(standin_->InjectFault({{"drop_attributes", true}}), IsOk());
  NewUser user = MakeUser("ada");
  absl::StatusOr<std::string> id = client_->CreateUser(user);
  ASSERT_THAT(id.status(), IsOk());

  absl::Status verified = client_->VerifyAttributes(*id, user);
  EXPECT_THAT(verified, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(MetadataOf(verified, "attribute"), "invitation_id, tenant_id");
}

TEST_F(KeycloakAdminClientTest, VerifyAttributesOfAnotherInvitationFails) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());
  NewUser expected = MakeUser("ada");
  expected.invitation_id = "inv-someone-else";

  absl::Status verified = client_->VerifyAttributes(*id, expected);
  EXPECT_THAT(verified, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(verified.message()), HasSubstr("inv-someone-else"));
}

TEST_F(KeycloakAdminClientTest, VerifyAttributesOfAnUnknownUserIsNotFound) {
  absl::Status verified =
      client_->VerifyAttributes("7d0b8d53-0000-4000-8000-000000000000", MakeUser("x"));
  EXPECT_THAT(verified, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ReasonOf(verified), kReasonIdpUserNotFound);
}

// --- AssignRealmRole -------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, AssignRealmRoleMapsTheRoleAndIsIdempotent) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());

  ASSERT_THAT(client_->AssignRealmRole(*id, "securelink-tenant-admin"), IsOk());
  ASSERT_THAT(client_->AssignRealmRole(*id, "securelink-tenant-admin"), IsOk());

  EXPECT_EQ(StandinUsers()[0]["realmRoles"],
            json::array({"default-roles-securelink", "securelink-tenant-admin"}));
}

TEST_F(KeycloakAdminClientTest, UnknownRoleIsFailedPreconditionNamingTheRole) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());

  absl::Status assigned = client_->AssignRealmRole(*id, "securelink-astronaut");
  EXPECT_THAT(assigned, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(assigned.message()), HasSubstr("'securelink-astronaut'"));
  EXPECT_EQ(ReasonOf(assigned), kReasonIdpRoleNotFound);
}

TEST_F(KeycloakAdminClientTest, AssignRealmRoleToAnUnknownUserIsNotFound) {
  absl::Status assigned =
      client_->AssignRealmRole("7d0b8d53-0000-4000-8000-000000000000", "securelink-vpn-user");
  EXPECT_THAT(assigned, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ReasonOf(assigned), kReasonIdpUserNotFound);
}

// --- The accept saga's account changes -----------------------------------------------------

TEST_F(KeycloakAdminClientTest, ADisabledAccountCannotLogInUntilEnabledAndKeepsItsAttributes) {
  NewUser user = MakeUser("ada");
  user.enabled = false;
  absl::StatusOr<std::string> id = client_->CreateUser(user);
  ASSERT_THAT(id.status(), IsOk());
  auto login = [&] {
    auto r = standin_->Http(
        "POST", "/realms/securelink/protocol/openid-connect/token",
        absl::StrCat("grant_type=password&client_id=admin-cli&username=ada&password=",
                     kPassword),
        "application/x-www-form-urlencoded");
    return r.ok() ? r->status : -1;
  };
  EXPECT_EQ(login(), 401);
  absl::StatusOr<ExistingUser> before = client_->GetUser(*id);
  ASSERT_THAT(before.status(), IsOk());
  EXPECT_FALSE(before->enabled);

  UserChanges enable;
  enable.enabled = true;
  ASSERT_THAT(client_->UpdateUser(*id, enable), IsOk());
  EXPECT_EQ(login(), 200);
  // Keycloak 24+ replaces attributes with what an update sends: they must all have gone back.
  EXPECT_THAT(client_->VerifyAttributes(*id, user), IsOk());
  absl::StatusOr<ExistingUser> after = client_->GetUser(*id);
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_TRUE(after->enabled);
  EXPECT_EQ(after->first_name, "Ada");
}

TEST_F(KeycloakAdminClientTest, UpdateUserWithoutEnabledLeavesItAsItIs) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());
  UserChanges names;
  names.first_name = "Grace";
  names.last_name = "Hopper";
  ASSERT_THAT(client_->UpdateUser(*id, names), IsOk());
  absl::StatusOr<ExistingUser> user = client_->GetUser(*id);
  ASSERT_THAT(user.status(), IsOk());
  EXPECT_TRUE(user->enabled);
  EXPECT_EQ(user->first_name, "Grace");
  EXPECT_EQ(user->last_name, "Hopper");
}

TEST_F(KeycloakAdminClientTest, SetPasswordReplacesItAndKeepsThePolicyWordsSecret) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());
  absl::Status refused = client_->SetPassword(*id, "short7");
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("minimum length"));
  ASSERT_THAT(client_->SetPassword(*id, "Another-Long-Password-2"), IsOk());
  auto r = standin_->Http(
      "POST", "/realms/securelink/protocol/openid-connect/token",
      "grant_type=password&client_id=admin-cli&username=ada&password=Another-Long-Password-2",
      "application/x-www-form-urlencoded");
  ASSERT_THAT(r.status(), IsOk());
  EXPECT_EQ(r->status, 200);
}

TEST_F(KeycloakAdminClientTest, DeleteUserIsIdempotentAndUnknownUsersAreNotFound) {
  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  ASSERT_THAT(id.status(), IsOk());
  ASSERT_THAT(client_->DeleteUser(*id), IsOk());
  ASSERT_THAT(client_->DeleteUser(*id), IsOk());
  EXPECT_THAT(client_->GetUser(*id).status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client_->UpdateUser(*id, UserChanges()), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(client_->SetPassword(*id, kPassword), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(StandinUsers().size(), 0u);
}

// --- Tokens ------------------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, OneTokenServesManyCalls) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(client_->FindUserByEmail("nobody@example.com").status(), IsOk());
  }
  EXPECT_EQ(standin_->Stat("token_requests"), 1);
}

TEST_F(KeycloakAdminClientTest, ConcurrentCallsShareOneToken) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        NewUser user = MakeUser(absl::StrCat("u", t, "x", i));
        absl::StatusOr<std::string> id = client_->CreateUser(user);
        if (!id.ok() || !client_->VerifyAttributes(*id, user).ok() ||
            !client_->AssignRealmRole(*id, "securelink-vpn-user").ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(StandinUsers().size(), 24u);
  EXPECT_EQ(standin_->Stat("token_requests"), 1);
}

TEST_F(KeycloakAdminClientTest, ExpiredTokenIsReplacedBeforeItIsUsed) {
  KeycloakStandinOptions options;
  options.token_lifetime_seconds = 1;
  StartStandin(options);
  ASSERT_THAT(client_->FindUserByEmail("nobody@example.com").status(), IsOk());
  ASSERT_EQ(standin_->Stat("token_requests"), 1);

  // The token expiring is the behaviour under test: wait for it.
  ASSERT_TRUE(Eventually([&] { return standin_->Stat("active_tokens") == 0; }));
  ASSERT_THAT(client_->FindUserByEmail("nobody@example.com").status(), IsOk());

  EXPECT_EQ(standin_->Stat("token_requests"), 2);
  EXPECT_EQ(standin_->Stat("unauthorized"), 0) << "the client must not send an expired token";
}

TEST_F(KeycloakAdminClientTest, RejectedTokenIsReplacedOnceAndTheCallRetried) {
  ASSERT_THAT(client_->FindUserByEmail("nobody@example.com").status(), IsOk());
  ASSERT_THAT(standin_->RevokeTokens(), IsOk());  // e.g. Keycloak rotated its keys

  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  EXPECT_THAT(id.status(), IsOk());
  EXPECT_EQ(standin_->Stat("token_requests"), 2);
  EXPECT_EQ(standin_->Stat("unauthorized"), 1);
  EXPECT_EQ(StandinUsers().size(), 1u);
}

TEST_F(KeycloakAdminClientTest, RepeatedUnauthorizedIsUnavailableWithoutLooping) {
  ASSERT_THAT(standin_->InjectFault({{"fail_next", 2},
                                     {"status", 401},
                                     {"path_contains", "/admin/"},
                                     {"body", {{"error", "HTTP 401 Unauthorized"}}}}),
              IsOk());

  absl::StatusOr<std::optional<ExistingUser>> found =
      client_->FindUserByEmail("nobody@example.com");
  EXPECT_THAT(found, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(found.status()), kReasonIdpUnavailable);
  EXPECT_EQ(standin_->Stat("token_requests"), 2);
}

TEST_F(KeycloakAdminClientTest, WrongClientSecretIsFailedPrecondition) {
  KeycloakAdminOptions options = Options();
  options.client_secret = "not-the-Secret-4242";
  std::unique_ptr<KeycloakAdminClient> client = MakeClient(options);

  absl::StatusOr<std::string> id = client->CreateUser(MakeUser("ada"));
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReasonOf(id.status()), kReasonIdpCredentialsRejected);
  EXPECT_THAT(std::string(id.status().message()),
              HasSubstr("Invalid client or Invalid client credentials"));
  EXPECT_THAT(std::string(id.status().message()), Not(HasSubstr("not-the-Secret-4242")));
  EXPECT_TRUE(StandinUsers().empty());
}

TEST_F(KeycloakAdminClientTest, UnknownRealmIsFailedPrecondition) {
  KeycloakAdminOptions options = Options();
  options.realm = "no-such-realm";
  std::unique_ptr<KeycloakAdminClient> client = MakeClient(options);

  auto found = client->FindUserByEmail("nobody@example.com");
  EXPECT_THAT(found, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReasonOf(found.status()), kReasonIdpRealmNotFound);
}

TEST_F(KeycloakAdminClientTest, ServiceAccountWithoutManageUsersIsFailedPrecondition) {
  ASSERT_THAT(standin_->Configure({{"service_account_roles", {"view-users", "query-users"}}}),
              IsOk());

  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReasonOf(id.status()), kReasonIdpPermissionDenied);
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("manage-users"));
}

// --- Connections -------------------------------------------------------------------------------

// What one accept asks of Keycloak (token, look-ups, create, read-back, role, enable) travels over
// one kept-alive connection: one TCP and, in production, one TLS handshake instead of nine.
TEST_F(KeycloakAdminClientTest, TheRequestsOfOneAcceptShareOneConnection) {
  NewUser user = MakeUser("ada");
  user.enabled = false;

  ASSERT_THAT(client_->FindUserByInvitation(user.invitation_id).status(), IsOk());
  ASSERT_THAT(client_->FindUserByEmail(user.email).status(), IsOk());
  absl::StatusOr<std::string> id = client_->CreateUser(user);
  ASSERT_THAT(id.status(), IsOk());
  ASSERT_THAT(client_->VerifyAttributes(*id, user), IsOk());
  ASSERT_THAT(client_->AssignRealmRole(*id, user.realm_role), IsOk());
  UserChanges enable;
  enable.enabled = true;
  ASSERT_THAT(client_->UpdateUser(*id, enable), IsOk());

  absl::StatusOr<json> requests = standin_->Requests();
  ASSERT_THAT(requests.status(), IsOk());
  EXPECT_EQ(requests->size(), 9u) << requests->dump();
  EXPECT_EQ(standin_->Stat("connections"), 1);
}

// --- Outages -----------------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, KeycloakDownIsUnavailableAndRecoveryNeedsNoRestart) {
  ASSERT_THAT(client_->FindUserByEmail("nobody@example.com").status(), IsOk());
  ASSERT_THAT(standin_->Stop(), IsOk());

  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(id.status()), kReasonIdpUnavailable);
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("unreachable"));

  ASSERT_THAT(standin_->StartAgain(), IsOk());
  EXPECT_THAT(client_->CreateUser(MakeUser("ada")).status(), IsOk());
}

TEST_F(KeycloakAdminClientTest, NothingListeningIsUnavailable) {
  KeycloakAdminOptions options = Options();
  ASSERT_THAT(standin_->Stop(), IsOk());
  std::unique_ptr<KeycloakAdminClient> client = MakeClient(options);

  auto found = client->FindUserByInvitation("inv-1");
  EXPECT_THAT(found, StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(KeycloakAdminClientTest, ServerErrorIsUnavailableAndCreatesNothing) {
  ASSERT_THAT(standin_->InjectFault({{"fail_next", 1}, {"status", 503}, {"method", "POST"},
                                     {"path_contains", "/users"}}),
              IsOk());

  absl::StatusOr<std::string> id = client_->CreateUser(MakeUser("ada"));
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("HTTP 503"));
  EXPECT_TRUE(StandinUsers().empty());
}

TEST_F(KeycloakAdminClientTest, TokenEndpointErrorIsUnavailable) {
  ASSERT_THAT(standin_->InjectFault({{"fail_next", 1}, {"status", 502},
                                     {"path_contains", "/openid-connect/token"}}),
              IsOk());
  EXPECT_THAT(client_->FindUserByEmail("nobody@example.com"),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(client_->FindUserByEmail("nobody@example.com").status(), IsOk());
}

TEST_F(KeycloakAdminClientTest, SlowKeycloakTimesOutAsUnavailable) {
  KeycloakAdminOptions options = Options();
  options.request_timeout = absl::Milliseconds(300);
  std::unique_ptr<KeycloakAdminClient> client = MakeClient(options);
  ASSERT_THAT(standin_->InjectFault({{"delay_ms", 3000}, {"path_contains", "/admin/"}}), IsOk());

  absl::Time start = absl::Now();
  auto found = client->FindUserByEmail("nobody@example.com");
  EXPECT_THAT(found, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(found.status().message()), HasSubstr("in time"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(KeycloakAdminClientTest, LostCreateResponseLeavesTheUserFindableByInvitation) {
  // Keycloak commits the user, then the answer is lost (crash, proxy reset).
  ASSERT_THAT(standin_->InjectFault({{"fail_next", 1},
                                     {"drop_connection", true},
                                     {"after_commit", true},
                                     {"method", "POST"},
                                     {"path_contains", "/users"}}),
              IsOk());
  NewUser user = MakeUser("ada");

  EXPECT_THAT(client_->CreateUser(user), StatusIs(absl::StatusCode::kUnavailable));
  auto found = client_->FindUserByInvitation(user.invitation_id);
  ASSERT_THAT(found.status(), IsOk());
  ASSERT_TRUE(found->has_value()) << "the saga adopts this user instead of creating another";
  EXPECT_THAT(client_->CreateUser(user), StatusIs(absl::StatusCode::kAlreadyExists));
}

// --- Secrets ---------------------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, NeitherSecretNorPasswordAppearsInAnyError) {
  constexpr char kSecret[] = "S3cret-Of-The-Service";
  constexpr char kUserPassword[] = "Pa55word-Of-The-User";
  KeycloakStandinOptions standin_options;
  standin_options.client_secret = kSecret;
  StartStandin(standin_options);
  NewUser user = MakeUser("ada");
  user.password = kUserPassword;

  std::vector<absl::Status> errors;
  // A Keycloak (or a proxy in front of it) that echoes what it was sent.
  std::string echo = absl::StrCat("value ", kUserPassword, " and ", kSecret, " rejected");
  for (int status : {400, 409, 500}) {
    ASSERT_THAT(standin_->InjectFault({{"fail_next", 1}, {"status", status}, {"method", "POST"},
                                       {"path_contains", "/admin/"},
                                       {"body", {{"errorMessage", echo}, {"field", "password"}}}}),
                IsOk());
    errors.push_back(client_->CreateUser(user).status());
  }
  ASSERT_THAT(standin_->InjectFault({{"fail_next", 1}, {"status", 401},
                                     {"path_contains", "/token"},
                                     {"body", {{"error", "unauthorized_client"},
                                               {"error_description", echo}}}}),
              IsOk());
  ASSERT_THAT(standin_->RevokeTokens(), IsOk());
  errors.push_back(client_->CreateUser(user).status());
  NewUser weak = user;
  weak.password = "Weak-1";  // too short for length(8)
  errors.push_back(client_->CreateUser(weak).status());
  ASSERT_THAT(client_->CreateUser(user).status(), IsOk());
  errors.push_back(client_->CreateUser(user).status());  // duplicate
  ASSERT_THAT(standin_->Stop(), IsOk());
  errors.push_back(client_->CreateUser(user).status());  // connection refused
  KeycloakAdminOptions wrong = Options();
  wrong.client_secret = "Wrong-Secret-Given";
  errors.push_back(MakeClient(wrong)->CreateUser(user).status());

  for (const absl::Status& error : errors) {
    EXPECT_FALSE(error.ok());
    std::string everything = error.ToString();  // message and payloads
    EXPECT_THAT(everything, Not(HasSubstr(kSecret))) << everything;
    EXPECT_THAT(everything, Not(HasSubstr(kUserPassword))) << everything;
    EXPECT_THAT(everything, Not(HasSubstr("Wrong-Secret-Given"))) << everything;
  }
  EXPECT_THAT(errors[0], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(errors[0].message()), HasSubstr("[redacted]"));
}

// --- Readiness and options ---------------------------------------------------------------------

TEST_F(KeycloakAdminClientTest, ReadinessCheckPassesAgainstTheShippedRealmShape) {
  EXPECT_THAT(client_->CheckReadiness({"securelink-super-admin", "securelink-tenant-admin",
                                       "securelink-vpn-user"}),
              IsOk());
}

TEST_F(KeycloakAdminClientTest, ReadinessCheckNamesAMissingRole) {
  absl::Status ready = client_->CheckReadiness({"securelink-vpn-user", "securelink-auditor"});
  EXPECT_THAT(ready, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(ready.message()), HasSubstr("securelink-auditor"));
}

TEST_F(KeycloakAdminClientTest, ReadinessCheckNamesUndeclaredAttributes) {
  ASSERT_THAT(standin_->Configure({{"attributes", json::array()}}), IsOk());
  absl::Status ready = client_->CheckReadiness({"securelink-vpn-user"});
  EXPECT_THAT(ready, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(MetadataOf(ready, "attribute"), "tenant_id, invitation_id");

  ASSERT_THAT(standin_->Configure({{"unmanaged_attribute_policy", "ADMIN_EDIT"}}), IsOk());
  EXPECT_THAT(client_->CheckReadiness({"securelink-vpn-user"}), IsOk());
}

TEST(KeycloakAdminOptionsTest, CreateRejectsUnusableOptions) {
  KeycloakAdminOptions good;
  good.base_url = "http://127.0.0.1:1/";
  good.client_secret = "x";
  EXPECT_THAT(KeycloakAdminClient::Create(good).status(), IsOk());

  KeycloakAdminOptions ftp = good;
  ftp.base_url = "ftp://sso.example.com";
  EXPECT_THAT(KeycloakAdminClient::Create(ftp), StatusIs(absl::StatusCode::kInvalidArgument));
  KeycloakAdminOptions userinfo = good;
  userinfo.base_url = "https://admin:pw@sso.example.com";
  EXPECT_THAT(KeycloakAdminClient::Create(userinfo),
              StatusIs(absl::StatusCode::kInvalidArgument));
  KeycloakAdminOptions no_secret = good;
  no_secret.client_secret.clear();
  EXPECT_THAT(KeycloakAdminClient::Create(no_secret),
              StatusIs(absl::StatusCode::kInvalidArgument));
  KeycloakAdminOptions no_realm = good;
  no_realm.realm.clear();
  EXPECT_THAT(KeycloakAdminClient::Create(no_realm),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace securelink::invitations
