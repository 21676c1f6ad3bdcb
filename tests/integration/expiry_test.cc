// Expiry (SPEC §2): a pending invitation past its expire_time is EXPIRED in every response at
// once, without any sweep. Driven by an injected clock, and over the wire with a short ttl.
#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/expiry_sweeper.h"
#include "storage/mysql_invitation_store.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;

class ExpiryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  pb::CreateInvitationResponse Create(const std::string& email, absl::Duration ttl) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id("acme");
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
    pb::CreateInvitationResponse resp;
    grpc::Status s = server_->stub().CreateInvitation(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  invitations::ManualClock clock_{absl::FromUnixSeconds(1'900'000'000)};
  std::unique_ptr<TestServer> server_;
};

TEST_F(ExpiryTest, PendingPastItsExpiryReadsExpiredEverywhereAtOnce) {
  pb::CreateInvitationResponse created = Create(UniqueEmail(), absl::Hours(2));
  const std::string id = created.invitation().id();
  clock_.Advance(absl::Hours(2));  // exactly at expire_time: expired

  pb::GetInvitationRequest get;
  get.set_id(id);
  pb::GetInvitationResponse got;
  ASSERT_THAT(server_->stub().GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().state(), pb::INVITATION_STATE_EXPIRED);

  pb::ListInvitationsRequest list;
  list.set_email_query(created.invitation().email());
  list.add_states(pb::INVITATION_STATE_EXPIRED);
  pb::ListInvitationsResponse listed;
  ASSERT_THAT(server_->stub().ListInvitations(Context().get(), list, &listed), IsOk());
  ASSERT_EQ(listed.invitations_size(), 1);
  EXPECT_EQ(listed.invitations(0).state(), pb::INVITATION_STATE_EXPIRED);
  list.clear_states();
  list.add_states(pb::INVITATION_STATE_PENDING);
  ASSERT_THAT(server_->stub().ListInvitations(Context().get(), list, &listed), IsOk());
  EXPECT_EQ(listed.invitations_size(), 0);

  pb::ValidateInvitationTokenRequest validate;
  validate.set_token(TokenOf(created.registration_url()));
  pb::ValidateInvitationTokenResponse valid;
  grpc::Status link = server_->stub().ValidateInvitationToken(Context().get(), validate, &valid);
  EXPECT_THAT(link, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(link), "INVITATION_EXPIRED");

  pb::RevokeInvitationRequest revoke;
  revoke.set_id(id);
  pb::RevokeInvitationResponse revoked;
  grpc::Status r = server_->stub().RevokeInvitation(Context().get(), revoke, &revoked);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(r), "INVITATION_EXPIRED");
}

TEST_F(ExpiryTest, OneMicrosecondBeforeExpiryTheLinkStillWorks) {
  pb::CreateInvitationResponse created = Create(UniqueEmail(), absl::Hours(1));
  clock_.Advance(absl::Hours(1) - absl::Microseconds(1));
  pb::ValidateInvitationTokenRequest validate;
  validate.set_token(TokenOf(created.registration_url()));
  pb::ValidateInvitationTokenResponse valid;
  EXPECT_THAT(server_->stub().ValidateInvitationToken(Context().get(), validate, &valid), IsOk());
}

TEST_F(ExpiryTest, AnExpiredInvitationNoLongerBlocksANewOne) {
  const std::string email = UniqueEmail();
  pb::CreateInvitationResponse old = Create(email, absl::Hours(1));
  clock_.Advance(absl::Hours(3));
  pb::CreateInvitationResponse fresh = Create(email, absl::Hours(1));
  EXPECT_NE(fresh.invitation().id(), old.invitation().id());
  EXPECT_EQ(fresh.invitation().state(), pb::INVITATION_STATE_PENDING);
  // The old one was persisted as EXPIRED and recorded once in the audit trail.
  absl::StatusOr<std::string> rows = SharedMariaDb().Query(
      server_->database(),
      absl::StrCat("SELECT i.state, COUNT(e.id) FROM invitations i JOIN invitation_events e "
                   "ON e.invitation_id = i.id AND e.type = 'EXPIRED' WHERE i.id = '",
                   old.invitation().id(), "' GROUP BY i.state"));
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*rows)), "EXPIRED\t1");
}

TEST_F(ExpiryTest, ResendRevivesAnExpiredInvitationWithAFreshExpiry) {
  pb::CreateInvitationResponse created = Create(UniqueEmail(), absl::Hours(1));
  clock_.Advance(absl::Hours(5));
  pb::ResendInvitationRequest req;
  req.set_id(created.invitation().id());
  req.mutable_ttl()->set_seconds(3 * 3600);
  pb::ResendInvitationResponse resent;
  ASSERT_THAT(server_->stub().ResendInvitation(Context().get(), req, &resent), IsOk());
  EXPECT_EQ(resent.invitation().state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(resent.invitation().expire_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(3)));
  pb::ValidateInvitationTokenRequest validate;
  validate.set_token(TokenOf(resent.registration_url()));
  pb::ValidateInvitationTokenResponse valid;
  EXPECT_THAT(server_->stub().ValidateInvitationToken(Context().get(), validate, &valid), IsOk());
}

TEST_F(ExpiryTest, ResendOfAnExpiredInvitationWhileAnotherIsActiveIsAlreadyExists) {
  const std::string email = UniqueEmail();
  pb::CreateInvitationResponse old = Create(email, absl::Hours(1));
  clock_.Advance(absl::Hours(2));
  pb::CreateInvitationResponse active = Create(email, absl::Hours(24));
  pb::ResendInvitationRequest req;
  req.set_id(old.invitation().id());
  pb::ResendInvitationResponse resent;
  grpc::Status s = server_->stub().ResendInvitation(Context().get(), req, &resent);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(ErrorReason(s), "ACTIVE_INVITATION_EXISTS");
  EXPECT_EQ(ErrorMetadata(s, "invitation_id"), active.invitation().id());
}

TEST_F(ExpiryTest, ResendWithoutTtlUsesTheServerDefault) {
  pb::CreateInvitationResponse created = Create(UniqueEmail(), absl::Hours(1));
  pb::ResendInvitationRequest req;
  req.set_id(created.invitation().id());
  pb::ResendInvitationResponse resent;
  ASSERT_THAT(server_->stub().ResendInvitation(Context().get(), req, &resent), IsOk());
  EXPECT_EQ(resent.invitation().expire_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(168)));
}

// Two replicas' sweepers racing over the same overdue invitations: each is expired once, with
// one EXPIRED event, and the ones not yet due are left alone.
TEST_F(ExpiryTest, SweepersOnTwoReplicasExpireEachInvitationExactlyOnce) {
  std::vector<std::string> due, not_due;
  for (int i = 0; i < 120; ++i) due.push_back(Create(UniqueEmail("sweep"), absl::Hours(1)).invitation().id());
  for (int i = 0; i < 5; ++i) not_due.push_back(Create(UniqueEmail("keep"), absl::Hours(5)).invitation().id());
  clock_.Advance(absl::Hours(2));

  auto endpoint = invitations::ParseMysqlUri(SharedMariaDb().Uri(server_->database()));
  ASSERT_TRUE(endpoint.ok());
  struct Replica {
    std::unique_ptr<invitations::ConnectionPool> pool;
    std::unique_ptr<invitations::MysqlInvitationStore> store;
    std::unique_ptr<invitations::ExpirySweeper> sweeper;
  };
  std::vector<Replica> replicas(2);
  for (Replica& r : replicas) {
    r.pool = std::make_unique<invitations::ConnectionPool>(*endpoint, invitations::ConnectionPoolOptions{});
    r.store = std::make_unique<invitations::MysqlInvitationStore>(*r.pool);
    // Small batches so the two really interleave.
    r.sweeper = std::make_unique<invitations::ExpirySweeper>(*r.store, clock_, absl::Hours(1), 7);
  }
  std::vector<absl::StatusOr<int>> swept(2, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&, i] { swept[i] = replicas[i].sweeper->SweepOnce(); });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(swept[0].ok()) << swept[0].status();
  ASSERT_TRUE(swept[1].ok()) << swept[1].status();
  EXPECT_EQ(*swept[0] + *swept[1], 120);

  absl::StatusOr<std::string> events = SharedMariaDb().Query(
      server_->database(),
      "SELECT COUNT(*), COUNT(DISTINCT invitation_id) FROM invitation_events WHERE type = 'EXPIRED'");
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*events)), "120\t120");
  absl::StatusOr<std::string> states = SharedMariaDb().Query(
      server_->database(), "SELECT state, COUNT(*) FROM invitations GROUP BY state ORDER BY state");
  ASSERT_TRUE(states.ok());
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*states)), "EXPIRED\t120\nPENDING\t5");
  // A sweep with nothing due does nothing.
  absl::StatusOr<int> again = replicas[0].sweeper->SweepOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

// Over the wire with the real clock: a server whose minimum ttl is one second.
TEST(ExpiryOverTheWire, ShortTtlExpiresWithoutAnySweep) {
  TestServerOptions options;
  options.ttl.min_ttl = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail());
  req.set_role(pb::ROLE_SUPER_ADMIN);
  req.mutable_ttl()->set_seconds(1);
  pb::CreateInvitationResponse created;
  ASSERT_THAT((*server)->stub().CreateInvitation(Context().get(), req, &created), IsOk());
  EXPECT_EQ(created.invitation().state(), pb::INVITATION_STATE_PENDING);
  // Waiting for the expiry instant is the behaviour under test, not a synchronisation stand-in.
  absl::Time expire = absl::FromUnixSeconds(created.invitation().expire_time().seconds()) +
                      absl::Nanoseconds(created.invitation().expire_time().nanos());
  absl::SleepFor(expire - absl::Now() + absl::Milliseconds(10));
  pb::GetInvitationRequest get;
  get.set_id(created.invitation().id());
  pb::GetInvitationResponse got;
  ASSERT_THAT((*server)->stub().GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().state(), pb::INVITATION_STATE_EXPIRED);
}

}  // namespace
}  // namespace securelink::testing
