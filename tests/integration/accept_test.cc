// AcceptInvitation (SPEC §5) over real gRPC, against a real MariaDB and the Keycloak stand-in
// (tests/keycloak/keycloak_standin.py) through the real KeycloakAdminClient: the account Keycloak
// ends up with, Keycloak's refusals, concurrent accepts, Keycloak and database outages in the
// middle of the saga and their recovery on retry.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "tests/integration/accept_environment.h"
#include "tests/keycloak/keycloak_standin.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

using ::nlohmann::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class AcceptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = AcceptEnvironment::Start().release(); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    if (!env_->standin().running()) {
      ASSERT_THAT(env_->standin().StartAgain(), IsOk());
    }
    ASSERT_THAT(env_->standin().ClearFaults(), IsOk());
  }

  static AcceptEnvironment& env() { return *env_; }
  static inline AcceptEnvironment* env_ = nullptr;
};

TEST_F(AcceptTest, AcceptCreatesTheKeycloakAccountAndMarksTheInvitationAccepted) {
  const std::string tenant = UniqueTenant();
  auto [invitation, token] = env().Invite(pb::ROLE_VPN_USER, tenant);

  pb::AcceptInvitationResponse resp;
  ASSERT_THAT(env().Accept(AcceptRequest(token), &resp), IsOk());
  EXPECT_FALSE(resp.user_id().empty());
  EXPECT_EQ(resp.invitation().id(), invitation.id());
  EXPECT_EQ(resp.invitation().state(), pb::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(resp.invitation().user_id(), resp.user_id());
  EXPECT_TRUE(resp.invitation().has_accept_time());

  std::vector<json> users = env().UsersWithEmail(invitation.email());
  ASSERT_EQ(users.size(), 1u);
  const json& user = users[0];
  EXPECT_EQ(user["id"], resp.user_id());
  EXPECT_EQ(user["username"], invitation.email()) << "the username defaults to the email";
  EXPECT_EQ(user["email"], invitation.email());
  EXPECT_EQ(user["firstName"], "Ada");
  EXPECT_EQ(user["lastName"], "Lovelace");
  EXPECT_EQ(user["enabled"], true);
  EXPECT_EQ(user["emailVerified"], true);
  ASSERT_EQ(user["credentials"].size(), 1u);
  EXPECT_EQ(user["credentials"][0]["type"], "password");
  EXPECT_EQ(user["credentials"][0]["temporary"], false);
  EXPECT_THAT(AttributeOf(user, "tenant_id"), ElementsAre(tenant));
  EXPECT_THAT(AttributeOf(user, "invitation_id"), ElementsAre(invitation.id()));
  EXPECT_THAT(RolesOf(user), Contains("securelink-vpn-user"));
  // Nothing the realm requires is left for a profile form at the first login.
  EXPECT_EQ(user["loginRequiredActions"], json::array());
  EXPECT_TRUE(env().CanLogIn(invitation.email(), kPassword));

  pb::Invitation stored = env().Get(invitation.id());
  EXPECT_EQ(stored.state(), pb::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(stored.user_id(), resp.user_id());
  EXPECT_EQ(env().AcceptedEvents(invitation.id()), 1);
  // The sealed copy of the link served mail and replays; it is of no use any more.
  EXPECT_EQ(env().QueryValue(absl::StrCat("SELECT sealed_token FROM invitations WHERE id = '",
                                          invitation.id(), "'")),
            "");

  // The link is used up: both token RPCs say so, and nothing more happens in Keycloak.
  grpc::Status validate = env().Validate(token);
  EXPECT_THAT(validate, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(validate), "INVITATION_ALREADY_ACCEPTED");
  grpc::Status again = env().Accept(AcceptRequest(token));
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(again), "INVITATION_ALREADY_ACCEPTED");
  EXPECT_EQ(env().UsersWithEmail(invitation.email()).size(), 1u);
  EXPECT_EQ(env().AcceptedEvents(invitation.id()), 1);
}

TEST_F(AcceptTest, EachInvitedRoleMapsToItsRealmRole) {
  struct Case {
    pb::Role role;
    std::string tenant;
    std::string realm_role;
  };
  const std::string tenant = UniqueTenant();
  const std::vector<Case> cases = {
      {pb::ROLE_SUPER_ADMIN, "", "securelink-super-admin"},
      {pb::ROLE_TENANT_ADMIN, tenant, "securelink-tenant-admin"},
      {pb::ROLE_VPN_USER, tenant, "securelink-vpn-user"},
  };
  const std::vector<std::string> all = {"securelink-super-admin", "securelink-tenant-admin",
                                        "securelink-vpn-user"};
  for (const Case& c : cases) {
    SCOPED_TRACE(pb::Role_Name(c.role));
    auto [invitation, token] = env().Invite(c.role, c.tenant);
    pb::AcceptInvitationResponse resp;
    ASSERT_THAT(env().Accept(AcceptRequest(token), &resp), IsOk());
    std::vector<json> users = env().UsersWithEmail(invitation.email());
    ASSERT_EQ(users.size(), 1u);
    for (const std::string& role : all) {
      if (role == c.realm_role) {
        EXPECT_THAT(RolesOf(users[0]), Contains(role));
      } else {
        EXPECT_THAT(RolesOf(users[0]), Not(Contains(role)));
      }
    }
    EXPECT_THAT(AttributeOf(users[0], "invitation_id"), ElementsAre(invitation.id()));
    if (c.tenant.empty()) {
      EXPECT_THAT(AttributeOf(users[0], "tenant_id"), IsEmpty());
    } else {
      EXPECT_THAT(AttributeOf(users[0], "tenant_id"), ElementsAre(c.tenant));
    }
  }
}

TEST_F(AcceptTest, AChosenUsernameIsUsed) {
  auto [invitation, token] = env().Invite();
  const std::string username = absl::StrCat("ada-", invitation.id().substr(0, 8));
  ASSERT_THAT(env().Accept(AcceptRequest(token, kPassword, username)), IsOk());
  std::vector<json> users = env().UsersWithEmail(invitation.email());
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0]["username"], username);
}

TEST_F(AcceptTest, PasswordPolicyRejectionIsInvalidArgumentWithKeycloaksMessage) {
  auto [invitation, token] = env().Invite();
  grpc::Status s = env().Accept(AcceptRequest(token, "short1"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  // The shipped realm's policy starts with length(12).
  EXPECT_THAT(s.error_message(), HasSubstr("Invalid password: minimum length 12."));
  EXPECT_THAT(ViolatedFields(s), Contains("password"));
  EXPECT_THAT(s.error_message(), Not(HasSubstr("short1")));

  pb::Invitation stored = env().Get(invitation.id());
  EXPECT_EQ(stored.state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(stored.user_id(), "");
  EXPECT_THAT(env().UsersWithEmail(invitation.email()), IsEmpty());
  EXPECT_THAT(env().Validate(token), IsOk()) << "the link still works";

  // A password that satisfies the policy then goes through on the same link.
  ASSERT_THAT(env().Accept(AcceptRequest(token)), IsOk());
  EXPECT_EQ(env().UsersWithEmail(invitation.email()).size(), 1u);
}

TEST_F(AcceptTest, ConcurrentAcceptsOfOneLinkMakeOneAccountAndOneAcceptance) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    auto [invitation, token] = env().Invite();
    absl::Notification go;
    std::vector<grpc::Status> statuses(kThreads);
    std::vector<pb::AcceptInvitationResponse> responses(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i, token = token] {
        pb::AcceptInvitationRequest req = AcceptRequest(token);
        go.WaitForNotification();
        statuses[i] = env().Accept(req, &responses[i]);
      });
    }
    go.Notify();
    for (std::thread& t : threads) t.join();

    int ok = 0;
    std::string user_id;
    for (int i = 0; i < kThreads; ++i) {
      const grpc::Status& s = statuses[i];
      if (s.ok()) {
        ++ok;
        user_id = responses[i].user_id();
        continue;
      }
      // The losers learn that the link was used (or, at worst, a retryable conflict).
      EXPECT_TRUE(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                  s.error_code() == grpc::StatusCode::ABORTED)
          << "thread " << i << ": " << s.error_code() << " " << s.error_message();
      if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        EXPECT_EQ(ErrorReason(s), "INVITATION_ALREADY_ACCEPTED") << s.error_message();
      }
    }
    EXPECT_EQ(ok, 1);
    std::vector<json> users = env().UsersWithEmail(invitation.email());
    ASSERT_EQ(users.size(), 1u) << "one link, one account";
    EXPECT_EQ(users[0]["id"], user_id);
    EXPECT_THAT(RolesOf(users[0]), Contains("securelink-vpn-user"));
    pb::Invitation stored = env().Get(invitation.id());
    EXPECT_EQ(stored.state(), pb::INVITATION_STATE_ACCEPTED);
    EXPECT_EQ(stored.user_id(), user_id);
    EXPECT_EQ(env().AcceptedEvents(invitation.id()), 1);
  }
}

TEST_F(AcceptTest, KeycloakDownIsUnavailableAndTheLinkWorksOnceItIsBack) {
  auto [invitation, token] = env().Invite();
  ASSERT_THAT(env().standin().Stop(), IsOk());

  grpc::Status down = env().Accept(AcceptRequest(token));
  EXPECT_THAT(down, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(down.error_message(), Not(HasSubstr(kPassword)));
  pb::Invitation stored = env().Get(invitation.id());
  EXPECT_EQ(stored.state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(stored.user_id(), "");
  EXPECT_THAT(env().Validate(token), IsOk());

  ASSERT_THAT(env().standin().StartAgain(), IsOk());
  pb::AcceptInvitationResponse resp;
  ASSERT_THAT(env().Accept(AcceptRequest(token), &resp), IsOk());
  EXPECT_EQ(resp.invitation().state(), pb::INVITATION_STATE_ACCEPTED);
  std::vector<json> users = env().UsersWithEmail(invitation.email());
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0]["id"], resp.user_id());
}

TEST_F(AcceptTest, KeycloakServerErrorsAreUnavailableAndLeaveThePendingInvitation) {
  auto [invitation, token] = env().Invite();
  ASSERT_THAT(env().standin().InjectFault({{"fail_all", true}, {"status", 503}}), IsOk());
  grpc::Status s = env().Accept(AcceptRequest(token));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(env().Get(invitation.id()).state(), pb::INVITATION_STATE_PENDING);
  ASSERT_THAT(env().standin().ClearFaults(), IsOk());
  EXPECT_THAT(env().UsersWithEmail(invitation.email()), IsEmpty());
  ASSERT_THAT(env().Accept(AcceptRequest(token)), IsOk());
}

// Create an account in Keycloak directly (as an admin of the realm would).
void CreateKeycloakUser(KeycloakStandin& standin, const std::string& username,
                        const std::string& email) {
  absl::StatusOr<std::string> token = standin.ServiceAccountToken();
  ASSERT_TRUE(token.ok()) << token.status();
  json body = {{"username", username}, {"email", email}, {"enabled", true}};
  absl::StatusOr<KeycloakStandin::Response> created =
      standin.Http("POST", absl::StrCat("/admin/realms/", standin.options().realm, "/users"),
                   body.dump(), "application/json", {"Authorization: Bearer " + *token});
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->status, 201) << created->body;
}

TEST_F(AcceptTest, AnotherAccountWithTheEmailIsAlreadyExists) {
  for (bool same_username : {true, false}) {
    SCOPED_TRACE(same_username ? "existing username = email" : "existing username differs");
    auto [invitation, token] = env().Invite();
    CreateKeycloakUser(env().standin(),
                       same_username ? invitation.email()
                                     : absl::StrCat("other-", invitation.id().substr(0, 8)),
                       invitation.email());

    grpc::Status s = env().Accept(AcceptRequest(token));
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_THAT(s.error_message(), HasSubstr(invitation.email()));
    EXPECT_EQ(ErrorReason(s), "ACCOUNT_EXISTS");
    pb::Invitation stored = env().Get(invitation.id());
    EXPECT_EQ(stored.state(), pb::INVITATION_STATE_PENDING);
    EXPECT_EQ(stored.user_id(), "");
    std::vector<json> users = env().UsersWithEmail(invitation.email());
    ASSERT_EQ(users.size(), 1u) << "only the account that was there before";
    EXPECT_THAT(AttributeOf(users[0], "invitation_id"), IsEmpty()) << "not taken over";
  }
}

TEST_F(AcceptTest, AChosenUsernameThatIsTakenIsReportedAsTheUsername) {
  auto [first, first_token] = env().Invite();
  const std::string username = absl::StrCat("taken-", first.id().substr(0, 8));
  ASSERT_THAT(env().Accept(AcceptRequest(first_token, kPassword, username)), IsOk());

  auto [second, second_token] = env().Invite();
  grpc::Status s = env().Accept(AcceptRequest(second_token, kPassword, username));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(s.error_message(), HasSubstr("username"));
  EXPECT_EQ(ErrorReason(s), "USERNAME_TAKEN");
  EXPECT_EQ(ErrorMetadata(s, "field"), "username");
  EXPECT_THAT(s.error_message(), Not(HasSubstr(absl::StrCat("an account for ", second.email()))))
      << "the invitee has no account yet: telling them to log in would mislead them";
  EXPECT_EQ(env().Get(second.id()).state(), pb::INVITATION_STATE_PENDING);
  EXPECT_THAT(env().UsersWithEmail(second.email()), IsEmpty());
}

TEST_F(AcceptTest, DroppedAttributesAreReportedNotSilentlyAccepted) {
  auto [invitation, token] = env().Invite(pb::ROLE_VPN_USER, UniqueTenant());
  ASSERT_THAT(env().standin().InjectFault({{"drop_attributes", true}}), IsOk());

  grpc::Status s = env().Accept(AcceptRequest(token));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(s.error_message(), HasSubstr("invitation_id"));
  EXPECT_THAT(s.error_message(), HasSubstr("tenant_id"));
  EXPECT_EQ(ErrorReason(s), "IDENTITY_PROVIDER_ATTRIBUTE_DROPPED");
  EXPECT_THAT(ErrorMetadata(s, "attribute"), HasSubstr("invitation_id"));

  pb::Invitation stored = env().Get(invitation.id());
  EXPECT_EQ(stored.state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(stored.user_id(), "");
  EXPECT_EQ(env().AcceptedEvents(invitation.id()), 0);
}

// Keycloak stores the user but its answer is lost (503 after the commit, or the connection
// dropped): the saga finds the account by its invitation_id instead of creating a second one.
TEST_F(AcceptTest, ALostCreateResponseIsRecoveredWithoutASecondAccount) {
  for (bool drop_connection : {false, true}) {
    SCOPED_TRACE(drop_connection ? "connection dropped" : "503 after commit");
    auto [invitation, token] = env().Invite();
    const size_t log_start = env().RequestCount();
    json fault = {{"fail_next", 1},   {"status", 503},         {"method", "POST"},
                  {"path_contains", "/users"}, {"after_commit", true}};
    if (drop_connection) fault["drop_connection"] = true;
    ASSERT_THAT(env().standin().InjectFault(fault), IsOk());

    pb::AcceptInvitationResponse resp;
    grpc::Status first = env().Accept(AcceptRequest(token), &resp);
    EXPECT_EQ(env().CountRequests(log_start, "POST", "/users", drop_connection ? 0 : 503), 1)
        << "the fault was not hit";
    if (!first.ok()) {
      // Allowed to fail, but only retryably, and the retry must finish the job.
      EXPECT_THAT(first, StatusIs(absl::StatusCode::kUnavailable));
      EXPECT_EQ(env().Get(invitation.id()).state(), pb::INVITATION_STATE_PENDING);
      ASSERT_THAT(env().Accept(AcceptRequest(token), &resp), IsOk());
    }
    EXPECT_EQ(resp.invitation().state(), pb::INVITATION_STATE_ACCEPTED);
    std::vector<json> users = env().UsersWithEmail(invitation.email());
    ASSERT_EQ(users.size(), 1u);
    EXPECT_EQ(users[0]["id"], resp.user_id());
    EXPECT_THAT(RolesOf(users[0]), Contains("securelink-vpn-user"));
    EXPECT_EQ(env().Get(invitation.id()).user_id(), resp.user_id());
    EXPECT_EQ(env().AcceptedEvents(invitation.id()), 1);
  }
}

// The account exists and is recorded, then Keycloak fails the role mapping: the invitation stays
// PENDING, and the retry finishes with the recorded account rather than creating another.
TEST_F(AcceptTest, AFailureAfterTheAccountIsRecordedIsResumedOnRetry) {
  auto [invitation, token] = env().Invite();
  const size_t log_start = env().RequestCount();
  ASSERT_THAT(env().standin().InjectFault({{"fail_next", 1},
                                           {"status", 503},
                                           {"method", "POST"},
                                           {"path_contains", "role-mappings"}}),
              IsOk());

  grpc::Status first = env().Accept(AcceptRequest(token));
  EXPECT_THAT(first, StatusIs(absl::StatusCode::kUnavailable));
  std::vector<json> users = env().UsersWithEmail(invitation.email());
  ASSERT_EQ(users.size(), 1u);
  const std::string user_id = users[0]["id"];
  EXPECT_EQ(env().Get(invitation.id()).state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(env().RecordedAcceptUserId(invitation.id()), user_id);

  pb::AcceptInvitationResponse resp;
  ASSERT_THAT(env().Accept(AcceptRequest(token), &resp), IsOk());
  EXPECT_EQ(resp.user_id(), user_id);
  users = env().UsersWithEmail(invitation.email());
  ASSERT_EQ(users.size(), 1u);
  EXPECT_THAT(RolesOf(users[0]), Contains("securelink-vpn-user"));
  EXPECT_EQ(env().CountRequests(log_start, "POST", "/users", 201), 1) << "one account created";
  EXPECT_EQ(env().AcceptedEvents(invitation.id()), 1);
}

// ---- Database outages in the middle of the saga. Runs last: it stops the shared MariaDB. -----

class AcceptResilienceZ : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestServerOptions options;
    options.pool.connect_timeout = absl::Seconds(1);
    options.pool.acquire_timeout = absl::Seconds(2);
    // Longer than a request held by the stand-in below.
    env_ = AcceptEnvironment::Start(options, /*keycloak_timeout=*/absl::Seconds(30)).release();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    ASSERT_THAT(env_->standin().ClearFaults(), IsOk());
  }
  void TearDown() override {
    if (!SharedMariaDb().running()) {
      EXPECT_THAT(SharedMariaDb().StartAgain(), IsOk());
    }
  }

  // Accepts `token` on another thread while the stand-in holds the Keycloak request matching
  // `held_method` `held_path`; stops MariaDB while it is held, then lets it go on, so the
  // database step right after that Keycloak call fails. Returns the accept's status; MariaDB is
  // running again afterwards.
  grpc::Status AcceptWhileTheDatabaseGoesDown(const std::string& token,
                                              const std::string& held_method,
                                              const std::string& held_path) {
    EXPECT_THAT(env_->standin().InjectFault({{"hold", true},
                                             {"count", 1},
                                             {"method", held_method},
                                             {"path_contains", held_path}}),
                IsOk());
    grpc::Status status;
    std::thread accept([&] { status = env_->Accept(AcceptRequest(token), nullptr, absl::Seconds(60)); });
    const bool reached = WaitFor([&] { return env_->standin().HeldRequests() == 1; });
    EXPECT_TRUE(reached) << "the saga never reached " << held_method << " " << held_path;
    EXPECT_THAT(SharedMariaDb().Stop(), IsOk());
    EXPECT_THAT(env_->standin().ReleaseHeld(), IsOk());
    accept.join();
    EXPECT_THAT(SharedMariaDb().StartAgain(), IsOk());
    return status;
  }

  static inline AcceptEnvironment* env_ = nullptr;
};

// Keycloak has made the account and it is recorded; the database dies before the invitation is
// marked ACCEPTED. The retry adopts the recorded account.
TEST_F(AcceptResilienceZ, DatabaseDownAtTheFinalStepIsRecoveredWithTheRecordedAccount) {
  auto [invitation, token] = env_->Invite();
  grpc::Status first = AcceptWhileTheDatabaseGoesDown(token, "POST", "role-mappings");
  EXPECT_THAT(first, StatusIs(absl::StatusCode::kUnavailable));

  std::vector<json> users = env_->UsersWithEmail(invitation.email());
  ASSERT_EQ(users.size(), 1u);
  const std::string user_id = users[0]["id"];
  EXPECT_EQ(env_->Get(invitation.id()).state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(env_->RecordedAcceptUserId(invitation.id()), user_id);

  pb::AcceptInvitationResponse resp;
  ASSERT_THAT(env_->Accept(AcceptRequest(token), &resp), IsOk());
  EXPECT_EQ(resp.user_id(), user_id);
  EXPECT_EQ(resp.invitation().state(), pb::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(env_->UsersWithEmail(invitation.email()).size(), 1u);
  EXPECT_EQ(env_->AcceptedEvents(invitation.id()), 1);
}

// The database dies while Keycloak creates the account, so not even the intermediate step is
// recorded. The retry finds the account by the invitation_id attribute and adopts it.
TEST_F(AcceptResilienceZ, DatabaseDownBeforeTheAccountIsRecordedIsRecoveredByItsAttribute) {
  auto [invitation, token] = env_->Invite();
  grpc::Status first = AcceptWhileTheDatabaseGoesDown(token, "POST", "/users");
  EXPECT_THAT(first, StatusIs(absl::StatusCode::kUnavailable));

  std::vector<json> users = env_->UsersWithInvitation(invitation.id());
  ASSERT_EQ(users.size(), 1u);
  const std::string user_id = users[0]["id"];
  EXPECT_EQ(env_->Get(invitation.id()).state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(env_->RecordedAcceptUserId(invitation.id()), "");

  pb::AcceptInvitationResponse resp;
  ASSERT_THAT(env_->Accept(AcceptRequest(token), &resp), IsOk());
  EXPECT_EQ(resp.user_id(), user_id);
  EXPECT_EQ(env_->UsersWithEmail(invitation.email()).size(), 1u);
  EXPECT_EQ(env_->AcceptedEvents(invitation.id()), 1);
}

}  // namespace
}  // namespace securelink::testing
