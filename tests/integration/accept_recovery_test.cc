// The accept saga across a crash (SPEC §5, §10): a real invitation_server process is SIGKILLed
// while the Keycloak stand-in holds one of the saga's requests; after a restart the recoverer
// finishes what was decided and undoes what can no longer be accepted, and the link's holder can
// still accept with a password of their own.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/e2e_support.h"
#include "tests/integration/accept_environment.h"
#include "tests/keycloak/keycloak_standin.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

using ::nlohmann::json;
using ::testing::Contains;

constexpr char kOtherPassword[] = "Battery-Staple-4410";

class AcceptRecoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<KeycloakStandin>> standin = KeycloakStandin::Start();
    ASSERT_TRUE(standin.ok()) << standin.status();
    standin_ = standin->release();
  }
  static void TearDownTestSuite() {
    delete standin_;
    standin_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(standin_, nullptr);
    ASSERT_THAT(standin_->ClearFaults(), IsOk());
    const std::string database = absl::StrCat("accept_recovery_", UniqueTenant());
    ASSERT_THAT(SharedMariaDb().CreateDatabase(database), IsOk());
    e2e::ServerProcess::Options options;
    options.mysql_uri = SharedMariaDb().Uri(database);
    options.env = {
        "INVITATIONS_AUTH=disabled",
        absl::StrCat("INVITATIONS_KEYCLOAK_URL=", standin_->base_url()),
        absl::StrCat("INVITATIONS_KEYCLOAK_REALM=", standin_->options().realm),
        absl::StrCat("INVITATIONS_KEYCLOAK_CLIENT_ID=", standin_->options().client_id),
        absl::StrCat("INVITATIONS_KEYCLOAK_CLIENT_SECRET=", standin_->options().client_secret),
        // A dead attempt is taken over quickly, and looked for often.
        "INVITATIONS_ACCEPT_SAGA_LEASE=2s",
        "INVITATIONS_ACCEPT_RECOVERY_INTERVAL=100ms",
        absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                     e2e::WriteTempFile("sealing.key",
                                        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")),
    };
    absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server =
        e2e::ServerProcess::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = pb::InvitationService::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  std::pair<pb::Invitation, std::string> Invite() {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("crash"));
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id("acme");
    req.set_suppress_email(true);
    pb::CreateInvitationResponse resp;
    EXPECT_THAT(stub_->CreateInvitation(Context().get(), req, &resp), IsOk());
    return {resp.invitation(), TokenOf(resp.registration_url())};
  }

  pb::Invitation Get(const std::string& id) {
    pb::GetInvitationRequest req;
    req.set_id(id);
    pb::GetInvitationResponse resp;
    EXPECT_THAT(stub_->GetInvitation(Context().get(), req, &resp), IsOk());
    return resp.invitation();
  }

  std::vector<json> Accounts(const std::string& email) {
    absl::StatusOr<json> users = standin_->Users();
    EXPECT_TRUE(users.ok()) << users.status();
    std::vector<json> out;
    for (const json& u : users.ok() ? *users : json::array()) {
      if (u.value("email", "") == email) out.push_back(u);
    }
    return out;
  }

  // Accepts `token` while the stand-in holds the request `fault` names, SIGKILLs the server while
  // it is held, lets the request go on (`fault_after_release` decides what becomes of it), and
  // starts the server again.
  void KillDuring(const std::string& token, json hold, const json& fault_after_release = {}) {
    hold["hold"] = true;
    hold["count"] = 1;
    ASSERT_THAT(standin_->InjectFault(hold), IsOk());
    if (!fault_after_release.is_null()) {
      ASSERT_THAT(standin_->InjectFault(fault_after_release), IsOk());
    }
    std::thread accept([&] {
      pb::AcceptInvitationResponse resp;
      (void)stub_->AcceptInvitation(Context().get(), AcceptRequest(token), &resp);
    });
    ASSERT_TRUE(WaitFor([&] { return standin_->HeldRequests() == 1; }))
        << "the saga never reached " << hold.dump();
    server_->Kill();
    accept.join();
    ASSERT_THAT(standin_->ReleaseHeld(), IsOk());
    ASSERT_TRUE(WaitFor([&] { return standin_->HeldRequests() == 0; }));
    ASSERT_THAT(standin_->ClearFaults(), IsOk());
    ASSERT_THAT(server_->Restart(), IsOk());
  }

  static inline KeycloakStandin* standin_ = nullptr;
  std::unique_ptr<e2e::ServerProcess> server_;
  std::unique_ptr<pb::InvitationService::Stub> stub_;
};

bool Usable(const json& account) {
  std::vector<std::string> roles = RolesOf(account);
  return account.value("enabled", false) &&
         std::find(roles.begin(), roles.end(), "securelink-vpn-user") != roles.end();
}

// Killed after Keycloak made the account, before the decision: the account stays unusable, and
// once the invitation is revoked the recoverer removes it.
TEST_F(AcceptRecoveryTest, AnAccountLeftByACrashIsRemovedWhenTheInvitationIsRevoked) {
  auto [invitation, token] = Invite();
  KillDuring(token, {{"method", "POST"}, {"path_contains", "/users"}, {"after_commit", true}});
  std::vector<json> left = Accounts(invitation.email());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_FALSE(Usable(left[0]));
  EXPECT_EQ(Get(invitation.id()).state(), pb::INVITATION_STATE_PENDING);

  pb::RevokeInvitationRequest revoke;
  revoke.set_id(invitation.id());
  pb::RevokeInvitationResponse revoked;
  ASSERT_THAT(stub_->RevokeInvitation(Context().get(), revoke, &revoked), IsOk());
  EXPECT_TRUE(WaitFor([&] { return Accounts(invitation.email()).empty(); }))
      << "the recoverer never removed the account of the revoked invitation";
}

// Killed before the decision: the same link's holder accepts again, with another password, and
// gets the one account, usable with that password.
TEST_F(AcceptRecoveryTest, TheLinkStillWorksAfterACrashAndTheRetrysPasswordCounts) {
  auto [invitation, token] = Invite();
  KillDuring(token, {{"method", "POST"}, {"path_contains", "/users"}, {"after_commit", true}});

  pb::AcceptInvitationResponse resp;
  ASSERT_THAT(stub_->AcceptInvitation(Context().get(), AcceptRequest(token, kOtherPassword), &resp),
              IsOk());
  std::vector<json> accounts = Accounts(invitation.email());
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_EQ(accounts[0]["id"], resp.user_id());
  EXPECT_TRUE(Usable(accounts[0]));
  EXPECT_EQ(resp.invitation().state(), pb::INVITATION_STATE_ACCEPTED);
}

// Killed after the decision, before the account was enabled: the recoverer of the restarted
// server enables it.
TEST_F(AcceptRecoveryTest, ADecidedAcceptIsFinishedByTheRecovererAfterACrash) {
  auto [invitation, token] = Invite();
  // The held enable never reaches Keycloak: the crash took its caller.
  KillDuring(token, {{"method", "PUT"}, {"path_contains", "/users/"}},
             {{"fail_next", 1}, {"method", "PUT"}, {"path_contains", "/users/"},
              {"drop_connection", true}});
  EXPECT_EQ(Get(invitation.id()).state(), pb::INVITATION_STATE_ACCEPTED);
  EXPECT_TRUE(WaitFor([&] {
    std::vector<json> accounts = Accounts(invitation.email());
    return accounts.size() == 1 && Usable(accounts[0]);
  })) << "the recoverer never enabled the account of the accepted invitation";
}

}  // namespace
}  // namespace securelink::testing
