// SPEC §10 "Accept racing revoke or resend": once RevokeInvitation or ResendInvitation has returned
// OK, the link it killed never yields an account. The Keycloak stand-in holds the saga at each of
// its Keycloak steps while the revoke or resend lands; then random timings over many rounds.
#include <grpcpp/grpcpp.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/accept_environment.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

using ::nlohmann::json;
using ::testing::Contains;

constexpr char kOtherPassword[] = "Battery-Staple-4410";

// The Keycloak requests of one accept, in saga order, where a test can hold it.
struct HoldPoint {
  const char* name;
  json fault;
};

std::vector<HoldPoint> HoldPoints() {
  return {
      {"creating the account", {{"method", "POST"}, {"path_contains", "/users"}}},
      {"after the account exists",
       {{"method", "POST"}, {"path_contains", "/users"}, {"after_commit", true}}},
      {"reading the account back", {{"method", "GET"}, {"path_contains", "/users/"}}},
      {"mapping the role", {{"method", "POST"}, {"path_contains", "/role-mappings"}}},
      {"enabling the account", {{"method", "PUT"}, {"path_contains", "/users/"}}},
  };
}

// Whether any account for `email` could be used: enabled and carrying `role`.
bool AnyUsableAccount(const std::vector<json>& users, const std::string& role) {
  for (const json& u : users) {
    std::vector<std::string> roles = RolesOf(u);
    if (u.value("enabled", false) && std::find(roles.begin(), roles.end(), role) != roles.end()) {
      return true;
    }
  }
  return false;
}

class AcceptRaceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestServerOptions options;
    // Recovery runs often so that leftovers of lost sagas are cleaned up while the test watches;
    // the lease outlives every hold below.
    options.accept_saga.lease = absl::Seconds(20);
    options.accept_saga.recovery_interval = absl::Milliseconds(100);
    env_ = AcceptEnvironment::Start(options, /*keycloak_timeout=*/absl::Seconds(20)).release();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(env_, nullptr);
    ASSERT_THAT(env_->standin().ClearFaults(), IsOk());
  }

  // Starts accepting `token` on another thread, holds it at `point`, runs `race` while it is
  // held, then lets it go on. Returns the accept's status.
  grpc::Status AcceptHeldAt(const HoldPoint& point, const std::string& token,
                            const std::function<void()>& race) {
    json fault = point.fault;
    fault["hold"] = true;
    fault["count"] = 1;
    EXPECT_THAT(env_->standin().InjectFault(fault), IsOk());
    grpc::Status accepted;
    std::thread accept([&] { accepted = env_->Accept(AcceptRequest(token)); });
    const bool held = WaitFor([&] { return env_->standin().HeldRequests() == 1; });
    EXPECT_TRUE(held) << "the saga never reached " << point.name;
    race();
    EXPECT_THAT(env_->standin().ReleaseHeld(), IsOk());
    accept.join();
    EXPECT_THAT(env_->standin().ClearFaults(), IsOk());
    return accepted;
  }

  static inline AcceptEnvironment* env_ = nullptr;
};

TEST_F(AcceptRaceTest, ARevokeThatReturnedOkLeavesNoUsableAccount) {
  for (const HoldPoint& point : HoldPoints()) {
    SCOPED_TRACE(point.name);
    auto [invitation, token] = env_->Invite();
    grpc::Status revoked;
    grpc::Status accepted =
        AcceptHeldAt(point, token, [&] { revoked = env_->Revoke(invitation.id()); });
    if (revoked.ok()) {
      EXPECT_THAT(accepted, StatusIs(absl::StatusCode::kFailedPrecondition));
      EXPECT_EQ(ErrorReason(accepted), "INVITATION_REVOKED") << accepted.error_message();
      EXPECT_FALSE(AnyUsableAccount(env_->UsersWithEmail(invitation.email()),
                                    "securelink-vpn-user"));
      EXPECT_EQ(env_->Get(invitation.id()).state(), pb::INVITATION_STATE_REVOKED);
      // What the lost saga made is cleaned up, not left behind.
      EXPECT_TRUE(WaitFor([&] { return env_->UsersWithEmail(invitation.email()).empty(); }))
          << "the account of a revoked invitation was never removed";
    } else {
      // The accept committed first.
      EXPECT_THAT(revoked, StatusIs(absl::StatusCode::kFailedPrecondition));
      EXPECT_EQ(ErrorReason(revoked), "INVITATION_ALREADY_ACCEPTED") << revoked.error_message();
      EXPECT_THAT(accepted, IsOk());
      EXPECT_TRUE(AnyUsableAccount(env_->UsersWithEmail(invitation.email()),
                                   "securelink-vpn-user"));
      EXPECT_EQ(env_->Get(invitation.id()).state(), pb::INVITATION_STATE_ACCEPTED);
    }
  }
}

TEST_F(AcceptRaceTest, AfterAResendTheAccountBelongsToWhoeverAcceptsTheNewLink) {
  for (const HoldPoint& point : HoldPoints()) {
    SCOPED_TRACE(point.name);
    auto [invitation, old_token] = env_->Invite();
    grpc::Status resent;
    std::string new_token;
    grpc::Status accepted = AcceptHeldAt(
        point, old_token, [&] { resent = env_->Resend(invitation.id(), &new_token); });
    if (!resent.ok()) {
      EXPECT_THAT(resent, StatusIs(absl::StatusCode::kFailedPrecondition));
      EXPECT_EQ(ErrorReason(resent), "INVITATION_ALREADY_ACCEPTED") << resent.error_message();
      EXPECT_THAT(accepted, IsOk());
      continue;
    }
    // The old link lost: the dead-link answer, and nothing usable came of it.
    EXPECT_THAT(accepted, StatusIs(absl::StatusCode::kNotFound));
    EXPECT_EQ(ErrorReason(accepted), "INVITATION_TOKEN_INVALID") << accepted.error_message();
    EXPECT_FALSE(
        AnyUsableAccount(env_->UsersWithEmail(invitation.email()), "securelink-vpn-user"));

    // The new link's holder chooses another password: the account is theirs alone.
    pb::AcceptInvitationResponse resp;
    ASSERT_THAT(env_->Accept(AcceptRequest(new_token, kOtherPassword), &resp), IsOk());
    std::vector<json> users = env_->UsersWithEmail(invitation.email());
    ASSERT_EQ(users.size(), 1u);
    EXPECT_EQ(users[0]["id"], resp.user_id());
    EXPECT_TRUE(users[0].value("enabled", false));
    EXPECT_THAT(RolesOf(users[0]), Contains("securelink-vpn-user"));
    EXPECT_TRUE(env_->CanLogIn(invitation.email(), kOtherPassword));
    EXPECT_FALSE(env_->CanLogIn(invitation.email(), kPassword))
        << "the old link's holder chose this password";
    EXPECT_EQ(env_->AcceptedEvents(invitation.id()), 1);
  }
}

// Many rounds at random timings: every Keycloak call slowed by a few milliseconds, and the revoke
// or resend fired at a random moment of the saga.
TEST_F(AcceptRaceTest, RandomTimingsKeepTheRule) {
  std::mt19937 random(20261206);
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; ++round) {
    const bool revoke = round % 2 == 0;
    const int delay_ms = std::uniform_int_distribution<int>(1, 15)(random);
    const int fire_after_ms = std::uniform_int_distribution<int>(0, 6 * delay_ms + 20)(random);
    SCOPED_TRACE(absl::StrCat("round ", round, revoke ? " revoke" : " resend", ", Keycloak +",
                              delay_ms, " ms, fired after ", fire_after_ms, " ms"));
    ASSERT_THAT(env_->standin().InjectFault({{"delay_ms", delay_ms}, {"path_contains", "/admin/"}}),
                IsOk());
    auto [invitation, token] = env_->Invite();
    grpc::Status accepted;
    std::thread accept([&, token = token] { accepted = env_->Accept(AcceptRequest(token)); });
    // Not synchronisation: a deliberate, random point in the saga for the race to land on.
    absl::SleepFor(absl::Milliseconds(fire_after_ms));
    std::string new_token;
    grpc::Status raced =
        revoke ? env_->Revoke(invitation.id()) : env_->Resend(invitation.id(), &new_token);
    accept.join();
    ASSERT_THAT(env_->standin().ClearFaults(), IsOk());

    if (raced.ok()) {
      EXPECT_FALSE(accepted.ok()) << "the killed link yielded an account";
      EXPECT_EQ(ErrorReason(accepted),
                revoke ? "INVITATION_REVOKED" : "INVITATION_TOKEN_INVALID")
          << accepted.error_message();
      EXPECT_FALSE(
          AnyUsableAccount(env_->UsersWithEmail(invitation.email()), "securelink-vpn-user"));
      if (!revoke) {
        pb::AcceptInvitationResponse resp;
        ASSERT_THAT(env_->Accept(AcceptRequest(new_token, kOtherPassword), &resp), IsOk());
        EXPECT_TRUE(env_->CanLogIn(invitation.email(), kOtherPassword));
        EXPECT_FALSE(env_->CanLogIn(invitation.email(), kPassword));
        EXPECT_EQ(env_->UsersWithEmail(invitation.email()).size(), 1u);
      }
    } else {
      EXPECT_EQ(ErrorReason(raced), "INVITATION_ALREADY_ACCEPTED") << raced.error_message();
      EXPECT_THAT(accepted, IsOk());
      EXPECT_TRUE(
          AnyUsableAccount(env_->UsersWithEmail(invitation.email()), "securelink-vpn-user"));
    }
  }
}

}  // namespace
}  // namespace securelink::testing
