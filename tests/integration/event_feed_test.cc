// The audit trail and its feed (SPEC §2 "audit", §3 WatchInvitationEvents, §9 "Event feed
// position") over real gRPC against a real MariaDB: every change appears once, in order, with its
// actor and never a token; replays resume exactly where a subscriber left off; positions that
// cannot be placed are refused; a subscriber that falls out of the live buffer is told where to
// resume.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/email_dispatcher.h"
#include "server/expiry_sweeper.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/mail/eml_file_mail_sender.h"
#include "server/mail/smtp_mail_sender.h"
#include "storage/mysql_invitation_store.h"
#include "storage/mysql_outbox_store.h"
#include "tests/keycloak/keycloak_standin.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
namespace mail = ::securelink::invitations::mail;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Events = std::vector<pb::InvitationEvent>;

// Reads a stream to its end; returns its status and appends what it delivered to `events`.
grpc::Status ReadAll(pb::InvitationService::Stub& stub, const pb::WatchInvitationEventsRequest& req,
                     Events* events, absl::Duration deadline = absl::Seconds(30)) {
  std::unique_ptr<grpc::ClientContext> ctx = Context(deadline);
  auto reader = stub.WatchInvitationEvents(ctx.get(), req);
  pb::WatchInvitationEventsResponse response;
  while (reader->Read(&response)) events->push_back(response.event());
  return reader->Finish();
}

// The recorded events after `after`, up to the newest at the time of the call.
Events Replay(pb::InvitationService::Stub& stub, const std::string& after) {
  pb::WatchInvitationEventsRequest req;
  req.set_after_event_id(after);
  req.set_replay_only(true);
  Events events;
  grpc::Status status = ReadAll(stub, req, &events);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return events;
}

// The newest feed position now (what an empty after_event_id starts from).
std::string Now(TestServer& server) {
  absl::StatusOr<inv::EventFeed::Placement> now = server.event_feed().Place("");
  EXPECT_TRUE(now.ok()) << now.status();
  return absl::StrCat(now.ok() ? now->newest : 0);
}

// Blocks until every committed event has its feed position (the sequencer has caught up).
void WaitUntilSequenced(TestServer& server) {
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> unsequenced = SharedMariaDb().Query(
        server.database(), "SELECT COUNT(*) FROM invitation_events WHERE seq IS NULL");
    return unsequenced.ok() && absl::StripAsciiWhitespace(*unsequenced) == "0";
  }));
}

std::string Describe(const pb::InvitationEvent& e) {
  return absl::StrCat(pb::InvitationEventType_Name(e.type()), " ", e.invitation_id(), " by ",
                      e.actor());
}

pb::CreateInvitationResponse CreateVpnUser(TestServer& server, const std::string& email,
                                           const std::string& tenant, bool suppress_email = true,
                                           absl::Duration ttl = absl::ZeroDuration()) {
  pb::CreateInvitationRequest req;
  req.set_email(email);
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  req.set_suppress_email(suppress_email);
  if (ttl > absl::ZeroDuration()) req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
  pb::CreateInvitationResponse resp;
  grpc::Status status = server.stub().CreateInvitation(Context().get(), req, &resp);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return resp;
}

// ---------------------------------------------------------------------------------------------
// Every kind of change, recorded once, in order, with its actor, never with a token.

class EveryChangeIsRecorded : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<KeycloakStandin>> standin = KeycloakStandin::Start();
    ASSERT_TRUE(standin.ok()) << standin.status();
    standin_ = *std::move(standin);
    inv::KeycloakAdminOptions kc;
    kc.base_url = standin_->base_url();
    kc.realm = standin_->options().realm;
    kc.client_id = standin_->options().client_id;
    kc.client_secret = standin_->options().client_secret;
    absl::StatusOr<std::unique_ptr<inv::KeycloakAdminClient>> keycloak =
        inv::KeycloakAdminClient::Create(kc);
    ASSERT_TRUE(keycloak.ok()) << keycloak.status();
    keycloak_ = *std::move(keycloak);
    TestServerOptions options;
    options.clock = &clock_;
    options.identity_provider = keycloak_.get();
    absl::StatusOr<std::unique_ptr<TestServer>> server =
        TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    server_.reset();
    keycloak_.reset();
    standin_.reset();
  }

  // One delivery round through `sender`, giving up after the first failed attempt.
  void DeliverOnce(mail::MailSender& sender) {
    absl::StatusOr<mail::MailTemplates> templates = mail::LoadMailTemplates("");
    ASSERT_TRUE(templates.ok()) << templates.status();
    inv::MysqlOutboxStore outbox(server_->pool());
    inv::EmailDispatcherOptions options;
    options.max_attempts = 1;
    options.registration_base_url = "https://register.example.test/register";
    auto dispatcher = inv::EmailDispatcher::Create(outbox, sender, *templates, server_->sealer(),
                                                   clock_, options);
    ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
    absl::StatusOr<int> handled = (*dispatcher)->RunOnce();
    ASSERT_TRUE(handled.ok()) << handled.status();
    ASSERT_EQ(*handled, 1);
  }

  inv::ManualClock clock_{absl::FromUnixSeconds(1'900'000'000)};
  std::unique_ptr<KeycloakStandin> standin_;
  std::unique_ptr<inv::KeycloakAdminClient> keycloak_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(EveryChangeIsRecorded, EachKindAppearsOnceInOrderWithItsActorAndNoToken) {
  TestServer& server = *server_;
  const std::string tenant = UniqueTenant();
  const std::string start = Now(server);
  std::vector<std::string> tokens;

  // CREATED, RESENT, REVOKED by the caller.
  pb::CreateInvitationResponse revoked = CreateVpnUser(server, UniqueEmail("revoked"), tenant);
  tokens.push_back(TokenOf(revoked.registration_url()));
  {
    pb::ResendInvitationRequest req;
    req.set_id(revoked.invitation().id());
    pb::ResendInvitationResponse resp;
    ASSERT_THAT(server.stub().ResendInvitation(Context().get(), req, &resp), IsOk());
    tokens.push_back(TokenOf(resp.registration_url()));
    pb::RevokeInvitationRequest revoke;
    revoke.set_id(revoked.invitation().id());
    revoke.set_reason("sent to the wrong person");
    pb::RevokeInvitationResponse revoke_resp;
    ASSERT_THAT(server.stub().RevokeInvitation(Context().get(), revoke, &revoke_resp), IsOk());
  }
  // EXPIRED by the system, once, however often the sweep runs.
  pb::CreateInvitationResponse expired =
      CreateVpnUser(server, UniqueEmail("expired"), tenant, true, absl::Hours(1));
  tokens.push_back(TokenOf(expired.registration_url()));
  clock_.Advance(absl::Hours(2));
  inv::MysqlInvitationStore store(server.pool());
  inv::ExpirySweeper sweeper(store, clock_, absl::Seconds(30));
  ASSERT_THAT(sweeper.SweepOnce(), IsOk());
  ASSERT_THAT(sweeper.SweepOnce(), IsOk());
  // ACCEPTED by the invitee, named by their new account's id.
  pb::CreateInvitationResponse accepted = CreateVpnUser(server, UniqueEmail("accepted"), tenant);
  tokens.push_back(TokenOf(accepted.registration_url()));
  std::string invitee;
  {
    pb::AcceptInvitationRequest req;
    req.set_token(tokens.back());
    req.set_password("correct horse battery staple");
    req.set_first_name("Ada");
    req.set_last_name("Lovelace");
    pb::AcceptInvitationResponse resp;
    ASSERT_THAT(server.stub().AcceptInvitation(Context().get(), req, &resp), IsOk());
    invitee = resp.user_id();
    ASSERT_FALSE(invitee.empty());
  }
  // EMAIL_FAILED, then EMAIL_SENT, by the system.
  pb::CreateInvitationResponse bounced =
      CreateVpnUser(server, UniqueEmail("bounced"), tenant, /*suppress_email=*/false);
  tokens.push_back(TokenOf(bounced.registration_url()));
  {
    mail::SmtpOptions smtp;
    smtp.url = absl::StrCat("smtp://127.0.0.1:", PickFreePort());  // nobody listens
    smtp.connect_timeout = absl::Seconds(2);
    auto refused = mail::SmtpMailSender::Create(smtp);
    ASSERT_TRUE(refused.ok()) << refused.status();
    DeliverOnce(**refused);
  }
  pb::CreateInvitationResponse mailed =
      CreateVpnUser(server, UniqueEmail("mailed"), tenant, /*suppress_email=*/false);
  tokens.push_back(TokenOf(mailed.registration_url()));
  {
    const std::string dir = absl::StrCat(::testing::TempDir(), "/feed-mail-", getpid());
    std::filesystem::create_directories(dir);
    auto eml = mail::EmlFileMailSender::Create(dir);
    ASSERT_TRUE(eml.ok()) << eml.status();
    DeliverOnce(**eml);
  }

  WaitUntilSequenced(server);
  const Events events = Replay(server.stub(), start);
  std::vector<std::string> described;
  for (const pb::InvitationEvent& e : events) described.push_back(Describe(e));
  const std::string caller = "auth-disabled";  // the subject of the unauthenticated SuperAdmin
  const std::string r = revoked.invitation().id(), x = expired.invitation().id(),
                    a = accepted.invitation().id(), b = bounced.invitation().id(),
                    m = mailed.invitation().id();
  EXPECT_THAT(described,
              ElementsAre(absl::StrCat("INVITATION_EVENT_TYPE_CREATED ", r, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_RESENT ", r, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_REVOKED ", r, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_CREATED ", x, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_EXPIRED ", x, " by system"),
                          absl::StrCat("INVITATION_EVENT_TYPE_CREATED ", a, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_ACCEPTED ", a, " by ", invitee),
                          absl::StrCat("INVITATION_EVENT_TYPE_CREATED ", b, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_EMAIL_FAILED ", b, " by system"),
                          absl::StrCat("INVITATION_EVENT_TYPE_CREATED ", m, " by ", caller),
                          absl::StrCat("INVITATION_EVENT_TYPE_EMAIL_SENT ", m, " by system")));
  int64_t previous = std::stoll(start);
  for (const pb::InvitationEvent& e : events) {
    EXPECT_EQ(e.tenant_id(), tenant);
    EXPECT_FALSE(e.email().empty());
    EXPECT_GE(absl::FromUnixSeconds(e.event_time().seconds()), absl::FromUnixSeconds(1'900'000'000));
    EXPECT_EQ(std::stoll(e.event_id()), previous + 1) << "positions are gap-free and ascending";
    previous = std::stoll(e.event_id());
    for (const std::string& token : tokens) {
      ASSERT_FALSE(token.empty());
      EXPECT_THAT(e.DebugString(), ::testing::Not(HasSubstr(token)));
    }
  }
  EXPECT_EQ(events[2].reason(), "sent to the wrong person");
  EXPECT_FALSE(events[8].reason().empty()) << "EMAIL_FAILED says why";
}

// ---------------------------------------------------------------------------------------------
// Following, resuming and refusing positions.

class EventFeedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(SharedMariaDb());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static TestServer& server() { return *server_; }
  static inline TestServer* server_ = nullptr;
};

TEST_F(EventFeedTest, AFollowerReceivesEventsAsTheyCommit) {
  const std::string tenant = UniqueTenant();
  pb::WatchInvitationEventsRequest req;
  req.set_tenant_id(tenant);
  req.set_after_event_id(Now(server()));
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  auto reader = server().stub().WatchInvitationEvents(ctx.get(), req);
  std::vector<std::string> created;
  for (int i = 0; i < 3; ++i) {
    created.push_back(CreateVpnUser(server(), UniqueEmail("follow"), tenant).invitation().id());
  }
  std::vector<std::string> seen;
  pb::WatchInvitationEventsResponse response;
  while (seen.size() < created.size() && reader->Read(&response)) {
    EXPECT_EQ(response.event().type(), pb::INVITATION_EVENT_TYPE_CREATED);
    seen.push_back(response.event().invitation_id());
  }
  EXPECT_EQ(seen, created);
  ctx->TryCancel();
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(EventFeedTest, ResumingWithTheLastIdSeesEveryEventExactlyOnceWhileCreatesRun) {
  const std::string tenant = UniqueTenant();
  const std::string start = Now(server());
  constexpr int kWriters = 4, kPerWriter = 40;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&tenant] {
      for (int i = 0; i < kPerWriter; ++i) CreateVpnUser(server(), UniqueEmail("resume"), tenant);
    });
  }
  // Reconnect after every few events while the writers run, each time after the last id seen.
  std::vector<std::string> ids;
  std::set<std::string> invitations;
  std::string position = start;
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (static_cast<int>(invitations.size()) < kWriters * kPerWriter && absl::Now() < give_up) {
    pb::WatchInvitationEventsRequest req;
    req.set_tenant_id(tenant);
    req.set_after_event_id(position);
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    auto reader = server().stub().WatchInvitationEvents(ctx.get(), req);
    pb::WatchInvitationEventsResponse response;
    for (int n = 0; n < 7 && static_cast<int>(invitations.size()) < kWriters * kPerWriter &&
                    reader->Read(&response);
         ++n) {
      ids.push_back(response.event().event_id());
      invitations.insert(response.event().invitation_id());
      position = response.event().event_id();
    }
    ctx->TryCancel();
    reader->Finish();
  }
  for (std::thread& t : writers) t.join();
  ASSERT_EQ(static_cast<int>(ids.size()), kWriters * kPerWriter) << "no event seen twice";
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_LT(std::stoll(ids[i - 1]), std::stoll(ids[i])) << "in feed order";
  }
}

TEST_F(EventFeedTest, PositionsThatCannotBePlacedAreRefusedNeverRestartedFromNow) {
  CreateVpnUser(server(), UniqueEmail("position"), UniqueTenant());
  WaitUntilSequenced(server());
  const int64_t newest = std::stoll(Now(server()));
  for (const char* malformed : {"abc", "-1", "1.5", "99999999999999999999", " 1"}) {
    pb::WatchInvitationEventsRequest req;
    req.set_after_event_id(malformed);
    Events events;
    grpc::Status status = ReadAll(server().stub(), req, &events);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument)) << malformed;
    EXPECT_THAT(ViolatedFields(status), ElementsAre("after_event_id")) << malformed;
    EXPECT_TRUE(events.empty());
  }
  pb::WatchInvitationEventsRequest future;
  future.set_after_event_id(absl::StrCat(newest + 1000));
  Events events;
  grpc::Status status = ReadAll(server().stub(), future, &events);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ErrorReason(status), "EVENT_NOT_FOUND");
  // The newest position itself is fine: nothing to replay yet.
  EXPECT_TRUE(Replay(server().stub(), absl::StrCat(newest)).empty());
  EXPECT_EQ(Replay(server().stub(), "0").size(), static_cast<size_t>(newest))
      << "0 replays everything kept";
}

TEST(EventFeedArchive, APositionOlderThanTheEventsKeptIsOutOfRange) {
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(SharedMariaDb());
  ASSERT_TRUE(server.ok()) << server.status();
  for (int i = 0; i < 3; ++i) CreateVpnUser(**server, UniqueEmail("archived"), UniqueTenant());
  WaitUntilSequenced(**server);
  // An operator archives the oldest events.
  ASSERT_THAT(SharedMariaDb().Query((*server)->database(),
                                    "DELETE FROM invitation_events WHERE seq <= 2"),
              IsOk());
  pb::WatchInvitationEventsRequest req;
  req.set_after_event_id("0");
  Events events;
  grpc::Status status = ReadAll((*server)->stub(), req, &events);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(ErrorReason(status), "EVENT_POSITION_EXPIRED");
  EXPECT_THAT(status.error_message(), HasSubstr("resume from now"));
  // Right after the archived ones is still a position.
  EXPECT_EQ(Replay((*server)->stub(), "2").size(), 1u);
}

TEST(EventFeedBuffer, ASubscriberThatFallsOutOfTheLiveBufferIsToldWhereToResume) {
  TestServerOptions options;
  options.event_feed.buffered_events = 16;
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;
  const std::string start = Now(server);
  pb::WatchInvitationEventsRequest req;
  req.set_after_event_id(start);
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  auto reader = server.stub().WatchInvitationEvents(ctx.get(), req);

  // 200 events commit in one transaction: far more than the 16 the live buffer holds.
  pb::BulkInviteRequest bulk;
  for (int i = 0; i < 200; ++i) bulk.mutable_emails()->add_emails(UniqueEmail("flood"));
  bulk.set_role(pb::ROLE_VPN_USER);
  bulk.set_tenant_id(UniqueTenant());
  bulk.set_suppress_email(true);
  {
    std::unique_ptr<grpc::ClientContext> bulk_ctx = Context();
    auto results = server.stub().BulkInvite(bulk_ctx.get(), bulk);
    pb::BulkInviteResponse r;
    while (results->Read(&r)) {
    }
    ASSERT_THAT(results->Finish(), IsOk());
  }

  Events first;
  pb::WatchInvitationEventsResponse response;
  while (reader->Read(&response)) first.push_back(response.event());
  grpc::Status status = reader->Finish();
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(ErrorReason(status), "EVENT_SUBSCRIBER_BEHIND");
  const std::string resume = ErrorMetadata(status, "resume_after_event_id");
  EXPECT_EQ(resume, first.empty() ? start : first.back().event_id());
  EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat("after_event_id=", resume)));

  // Resuming there replays the rest from the database: every event exactly once.
  Events rest = Replay(server.stub(), resume);
  std::set<std::string> ids;
  for (const auto* part : {&first, &rest}) {
    for (const pb::InvitationEvent& e : *part) EXPECT_TRUE(ids.insert(e.event_id()).second);
  }
  EXPECT_EQ(ids.size(), 200u);
}

TEST(EventFeedCancel, AFollowerCancelledWhileEventsAreBeingWrittenLetsTheServerStop) {
  absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start(SharedMariaDb());
  ASSERT_TRUE(started.ok()) << started.status();
  for (int round = 0; round < 5; ++round) {
    pb::WatchInvitationEventsRequest req;
    req.set_after_event_id(Now(**started));
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    auto reader = (*started)->stub().WatchInvitationEvents(ctx.get(), req);
    pb::BulkInviteRequest bulk;
    for (int i = 0; i < 300; ++i) bulk.mutable_emails()->add_emails(UniqueEmail("cancel"));
    bulk.set_role(pb::ROLE_VPN_USER);
    bulk.set_tenant_id(UniqueTenant());
    bulk.set_suppress_email(true);
    std::unique_ptr<grpc::ClientContext> bulk_ctx = Context();
    auto results = (*started)->stub().BulkInvite(bulk_ctx.get(), bulk);
    pb::BulkInviteResponse r;
    while (results->Read(&r)) {
    }
    ASSERT_THAT(results->Finish(), IsOk());
    // Cancel while the server is busy writing the flood: the stream must still end.
    pb::WatchInvitationEventsResponse response;
    ASSERT_TRUE(reader->Read(&response));
    ctx->TryCancel();
    EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  }
  // A stream that never finished would keep the server's shutdown waiting forever.
  std::future<void> stopped = std::async(std::launch::async, [&] { started->reset(); });
  if (stopped.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "the server did not stop: a cancelled stream never finished";
    std::_Exit(1);
  }
}

TEST(EventFeedDrain, FollowersOfADrainingReplicaAreToldWhereToResume) {
  absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start(SharedMariaDb());
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;
  const std::string tenant = UniqueTenant();
  pb::WatchInvitationEventsRequest req;
  req.set_tenant_id(tenant);
  req.set_after_event_id(Now(server));
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  auto reader = server.stub().WatchInvitationEvents(ctx.get(), req);
  const std::string id = CreateVpnUser(server, UniqueEmail("drain"), tenant).invitation().id();
  pb::WatchInvitationEventsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.event().invitation_id(), id);

  server.event_feed().CloseSubscriptions();
  EXPECT_FALSE(reader->Read(&response));
  grpc::Status status = reader->Finish();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ErrorReason(status), "SERVER_SHUTTING_DOWN");
  EXPECT_EQ(ErrorMetadata(status, "resume_after_event_id"), response.event().event_id());
}

TEST(EventFeedStreamLimit, WithAuthenticationDisabledEveryStreamCountsAgainstOneCaller) {
  // Every caller is the pseudo caller "auth-disabled", so --watch_streams_per_caller bounds the
  // replica's streams as a whole.
  TestServerOptions options;
  options.rpc.watch_streams_per_caller = 2;
  absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;
  const std::string tenant = UniqueTenant();
  pb::WatchInvitationEventsRequest req;
  req.set_tenant_id(tenant);
  req.set_after_event_id(Now(server));
  CreateVpnUser(server, UniqueEmail("limit"), tenant);

  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<pb::WatchInvitationEventsResponse>>> readers;
  pb::WatchInvitationEventsResponse response;
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(Context());
    readers.push_back(server.stub().WatchInvitationEvents(contexts.back().get(), req));
    // Replaying the one event shows the server admitted the stream.
    const bool admitted = readers.back()->Read(&response);
    EXPECT_EQ(admitted, i < 2) << "stream " << i + 1;
  }
  const grpc::Status third = readers.back()->Finish();
  EXPECT_THAT(third, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ErrorReason(third), "TOO_MANY_STREAMS");
  EXPECT_THAT(third.error_message(), HasSubstr("--watch_streams_per_caller=2"));
  for (int i = 0; i < 2; ++i) {
    contexts[i]->TryCancel();
    EXPECT_THAT(readers[i]->Finish(), StatusIs(absl::StatusCode::kCancelled));
  }
}

}  // namespace
}  // namespace securelink::testing
