// Reminder emails (SPEC §11) end to end: a real MariaDB, real gRPC, a real SMTP server
// (aiosmtpd) and, for accept, the Keycloak stand-in. Time is a manual clock shared by the
// server, the reminder passes and the dispatchers, so "the reminder is due" is a clock move, not
// a wait. Each "replica" is the background work main.cc wires on every replica (reminder pass
// and email dispatcher, with a connection pool of its own) on the one shared database.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/email_dispatcher.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/reminder_scheduler.h"
#include "storage/mysql_outbox_store.h"
#include "storage/mysql_reminder_store.h"
#include "tests/client/e2e_support.h"
#include "tests/integration/accept_environment.h"
#include "tests/mail/mail_test_support.h"
#include "tests/ops/ops_support.h"
#include "tests/support/test_dispatcher.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
namespace mail = ::securelink::invitations::mail;
using ::testing::HasSubstr;

constexpr absl::Duration kTtl = absl::Hours(3);
constexpr absl::Duration kReminderBefore = absl::Hours(1);
// From creation to one minute past the reminder's due time (expire_time - R).
const absl::Duration kIntoReminderWindow = kTtl - kReminderBefore + absl::Minutes(1);

// One replica's background work on the shared database: the reminder pass (which wakes the
// dispatcher when it queued something) and the email dispatcher.
struct BackgroundReplica : TestDispatcher {
  BackgroundReplica(TestServer& server, const invitations::Clock& clock,
                    const std::string& smtp_url, const std::string& owner,
                    std::function<void()> after_first_claim = nullptr)
      : TestDispatcher(server, smtp_url, owner, std::move(after_first_claim), &clock) {
    reminders = std::make_unique<invitations::MysqlReminderStore>(*pool);
    invitations::ReminderSchedulerOptions pass;
    pass.interval = absl::Milliseconds(20);
    pass.batch = 3;  // several batches per pass in the tests with more invitations
    scheduler = std::make_unique<invitations::ReminderScheduler>(
        *reminders, clock, pass, [d = dispatcher.get()](int) { d->Wake(); });
  }
  ~BackgroundReplica() {
    scheduler->Stop();
    dispatcher->Stop();
  }
  std::unique_ptr<invitations::MysqlReminderStore> reminders;
  std::unique_ptr<invitations::ReminderScheduler> scheduler;
};

// What tests read back through the API and the database of one server.
class Api {
 public:
  explicit Api(TestServer& server) : server_(server) {}

  void SetReminder(const std::string& tenant, absl::Duration before) {
    pb::UpdateTenantPolicyRequest req;
    req.mutable_policy()->set_tenant_id(tenant);
    req.mutable_policy()->mutable_reminder_before_expiry()->set_seconds(
        absl::ToInt64Seconds(before));
    req.mutable_update_mask()->add_paths("reminder_before_expiry");
    pb::UpdateTenantPolicyResponse resp;
    ASSERT_THAT(server_.stub().UpdateTenantPolicy(Context().get(), req, &resp), IsOk());
  }

  pb::CreateInvitationResponse Create(const std::string& tenant, bool suppress = false) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("remind"));
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(suppress);
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(kTtl));
    pb::CreateInvitationResponse resp;
    grpc::Status s = server_.stub().CreateInvitation(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  pb::ResendInvitationResponse Resend(const std::string& id) {
    pb::ResendInvitationRequest req;
    req.set_id(id);
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(kTtl));
    pb::ResendInvitationResponse resp;
    EXPECT_THAT(server_.stub().ResendInvitation(Context().get(), req, &resp), IsOk());
    return resp;
  }

  void Revoke(const std::string& id) {
    pb::RevokeInvitationRequest req;
    req.set_id(id);
    pb::RevokeInvitationResponse resp;
    EXPECT_THAT(server_.stub().RevokeInvitation(Context().get(), req, &resp), IsOk());
  }

  pb::Invitation Get(const std::string& id) {
    pb::GetInvitationRequest req;
    req.set_id(id);
    pb::GetInvitationResponse resp;
    EXPECT_THAT(server_.stub().GetInvitation(Context().get(), req, &resp), IsOk());
    return resp.invitation();
  }

  // How many events of `type` the feed replays for invitation `id`.
  int FeedEvents(const std::string& id, pb::InvitationEventType type) {
    pb::WatchInvitationEventsRequest req;
    req.set_after_event_id("0");
    req.set_replay_only(true);
    auto ctx = Context();
    auto reader = server_.stub().WatchInvitationEvents(ctx.get(), req);
    int n = 0;
    pb::WatchInvitationEventsResponse resp;
    while (reader->Read(&resp)) {
      if (resp.event().invitation_id() == id && resp.event().type() == type) ++n;
    }
    EXPECT_THAT(reader->Finish(), IsOk());
    return n;
  }

  std::string Sql(const std::string& sql) {
    absl::StatusOr<std::string> out = SharedMariaDb().Query(server_.database(), sql);
    return out.ok() ? std::string(absl::StripAsciiWhitespace(*out)) : out.status().ToString();
  }
  // The states of the invitation's outbox rows of `kind`, in order ("NULL": none).
  std::string Outbox(const std::string& id, const std::string& kind) {
    return Sql(absl::StrCat(
        "SELECT GROUP_CONCAT(state ORDER BY id) FROM email_outbox WHERE invitation_id = '", id,
        "' AND kind = '", kind, "'"));
  }

 private:
  TestServer& server_;
};

// Every stored message, as a mail client reads it (one Python run per message: parse once).
std::vector<ParsedMessage> ParseAll(const SmtpSink& sink) {
  std::vector<ParsedMessage> out;
  for (const std::string& raw : sink.Messages()) {
    absl::StatusOr<ParsedMessage> parsed = InspectMessage(raw);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) out.push_back(*std::move(parsed));
  }
  return out;
}

// Those of `messages` addressed to `email`, in the order they were stored.
std::vector<ParsedMessage> MessagesTo(const std::vector<ParsedMessage>& messages,
                                      const std::string& email) {
  std::vector<ParsedMessage> out;
  for (const ParsedMessage& m : messages) {
    if (absl::StrContains(m.Header("To"), email)) out.push_back(m);
  }
  return out;
}
std::vector<ParsedMessage> MessagesTo(const SmtpSink& sink, const std::string& email) {
  return MessagesTo(ParseAll(sink), email);
}

absl::Time WholeSecondNow() { return absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())); }

class ReminderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    api_ = std::make_unique<Api>(*server_);
    auto sink = SmtpSink::Start();
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = *std::move(sink);
    tenant_ = UniqueTenant();
    api_->SetReminder(tenant_, kReminderBefore);
  }

  std::unique_ptr<BackgroundReplica> NewReplica(const std::string& owner,
                                                std::function<void()> after_first_claim = nullptr) {
    return std::make_unique<BackgroundReplica>(*server_, clock_, sink_->url(), owner,
                                               std::move(after_first_claim));
  }

  // Delivers everything due now on the calling thread.
  static void Drain(BackgroundReplica& r) {
    while (true) {
      absl::StatusOr<int> n = r.dispatcher->RunOnce();
      ASSERT_TRUE(n.ok()) << n.status();
      if (*n == 0) return;
    }
  }
  static int Pass(BackgroundReplica& r) {
    absl::StatusOr<int> n = r.scheduler->RunOnce();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  invitations::ManualClock clock_{WholeSecondNow()};
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<SmtpSink> sink_;
  std::string tenant_;
};

TEST_F(ReminderTest, TwoReplicasSendExactlyOneReminderPerInvitationCarryingTheSameLink) {
  constexpr int kInvitations = 7;
  std::vector<pb::CreateInvitationResponse> created;
  for (int i = 0; i < kInvitations; ++i) created.push_back(api_->Create(tenant_));
  auto a = NewReplica("replica-a");
  auto b = NewReplica("replica-b");
  a->dispatcher->Start();
  b->dispatcher->Start();
  ASSERT_TRUE(sink_->WaitForMessages(kInvitations).ok());
  // Both passes run all the time from here on, each every 20 ms, racing for the same rows.
  a->scheduler->Start();
  b->scheduler->Start();
  clock_.Advance(kIntoReminderWindow);
  ASSERT_TRUE(sink_->WaitForMessages(2 * kInvitations).ok());
  // Enough further passes on both replicas that a second reminder would have been queued.
  ASSERT_TRUE(WaitFor([&] {
    return api_->Sql("SELECT COUNT(*) FROM email_outbox WHERE kind = 'REMINDER' "
                     "AND state = 'SENT'") == absl::StrCat(kInvitations);
  }));
  EXPECT_EQ(Pass(*a), 0);
  EXPECT_EQ(Pass(*b), 0);
  a->scheduler->Stop();
  b->scheduler->Stop();
  a->dispatcher->Stop();
  b->dispatcher->Stop();

  const std::vector<ParsedMessage> all = ParseAll(*sink_);
  EXPECT_EQ(all.size(), 2u * kInvitations);
  for (const pb::CreateInvitationResponse& c : created) {
    const std::string& id = c.invitation().id();
    SCOPED_TRACE(id);
    std::vector<ParsedMessage> mails = MessagesTo(all, c.invitation().email());
    ASSERT_EQ(mails.size(), 2u);
    EXPECT_NE(mails[0].Header("Message-ID"), mails[1].Header("Message-ID"));
    for (const ParsedMessage& m : mails) {
      EXPECT_THAT(m.Body("text/plain"), HasSubstr(c.registration_url()));
      EXPECT_THAT(m.Body("text/html"), HasSubstr(c.registration_url()));
    }
    EXPECT_EQ(api_->Outbox(id, "REMINDER"), "SENT");
    EXPECT_EQ(api_->FeedEvents(id, pb::INVITATION_EVENT_TYPE_REMINDER_SENT), 1);
    EXPECT_EQ(api_->FeedEvents(id, pb::INVITATION_EVENT_TYPE_EMAIL_SENT), 1);
    pb::Invitation inv = api_->Get(id);
    EXPECT_EQ(inv.send_count(), 2);
    EXPECT_EQ(inv.state(), pb::INVITATION_STATE_PENDING);
    EXPECT_EQ(inv.email_delivery_state(), pb::EMAIL_DELIVERY_STATE_SENT);
  }
}

TEST_F(ReminderTest, NothingIsQueuedBeforeTheReminderIsDue) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  auto r = NewReplica("r");
  clock_.Advance(kTtl - kReminderBefore - absl::Seconds(1));
  EXPECT_EQ(Pass(*r), 0);
  clock_.Advance(absl::Seconds(1));  // exactly expire_time - R: due
  EXPECT_EQ(Pass(*r), 1);
  EXPECT_EQ(api_->Outbox(c.invitation().id(), "REMINDER"), "PENDING");
}

TEST_F(ReminderTest, NoReminderForATenantWithoutAReminderPolicy) {
  const std::string no_policy = UniqueTenant();
  const std::string zero_policy = UniqueTenant();
  api_->SetReminder(zero_policy, absl::ZeroDuration());
  pb::CreateInvitationResponse a = api_->Create(no_policy);
  pb::CreateInvitationResponse b = api_->Create(zero_policy);
  pb::CreateInvitationResponse suppressed = api_->Create(tenant_, /*suppress=*/true);
  auto r = NewReplica("r");
  for (int step = 0; step < 4; ++step) {
    clock_.Advance(kTtl / 4 - absl::Seconds(1));
    EXPECT_EQ(Pass(*r), 0);
  }
  for (const auto* c : {&a, &b, &suppressed}) {
    EXPECT_EQ(api_->Outbox(c->invitation().id(), "REMINDER"), "NULL");
    EXPECT_EQ(api_->Get(c->invitation().id()).send_count(), c->invitation().send_count());
  }
}

TEST_F(ReminderTest, NoReminderAfterRevoke) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  api_->Revoke(c.invitation().id());
  auto r = NewReplica("r");
  clock_.Advance(kIntoReminderWindow);
  EXPECT_EQ(Pass(*r), 0);
  EXPECT_EQ(api_->Outbox(c.invitation().id(), "REMINDER"), "NULL");
}

TEST_F(ReminderTest, NoReminderOnceTheInvitationHasExpired) {
  // The pass did not run during the whole window (every replica down, say): too late now.
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  auto r = NewReplica("r");
  clock_.Advance(kTtl);  // exactly expire_time: expired
  EXPECT_EQ(Pass(*r), 0);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(Pass(*r), 0);
  EXPECT_EQ(api_->Outbox(c.invitation().id(), "REMINDER"), "NULL");
  EXPECT_EQ(api_->Get(c.invitation().id()).send_count(), 1);
}

TEST_F(ReminderTest, AReminderQueuedButNotSentBeforeExpiryIsNeverSent) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  auto r = NewReplica("r");
  Drain(*r);  // the invitation mail
  clock_.Advance(kIntoReminderWindow);
  ASSERT_EQ(Pass(*r), 1);
  clock_.Advance(kReminderBefore);  // SMTP was down until after expiry
  Drain(*r);
  EXPECT_EQ(MessagesTo(*sink_, c.invitation().email()).size(), 1u);
  EXPECT_EQ(api_->Outbox(c.invitation().id(), "REMINDER"), "SUPERSEDED");
  EXPECT_EQ(api_->FeedEvents(c.invitation().id(), pb::INVITATION_EVENT_TYPE_REMINDER_SENT), 0);
}

TEST_F(ReminderTest, ResendStartsANewCycleAndTheOldLinksReminderNeverGoesOut) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  const std::string id = c.invitation().id();
  auto r = NewReplica("r");
  Drain(*r);
  clock_.Advance(kIntoReminderWindow);
  ASSERT_EQ(Pass(*r), 1);  // the first link's reminder, queued, not yet sent
  pb::ResendInvitationResponse resent = api_->Resend(id);
  Drain(*r);
  // Which mail carries which link (the sink's file names order mails within a second loosely).
  auto carrying = [&](const std::string& url) {
    int n = 0;
    for (const ParsedMessage& m : MessagesTo(*sink_, c.invitation().email())) {
      n += absl::StrContains(m.Body("text/plain"), url);
    }
    return n;
  };
  // The first mail and the resend's; no reminder of the old link.
  ASSERT_EQ(MessagesTo(*sink_, c.invitation().email()).size(), 2u);
  EXPECT_EQ(carrying(c.registration_url()), 1);
  EXPECT_EQ(carrying(resent.registration_url()), 1);
  EXPECT_EQ(api_->Outbox(id, "REMINDER"), "SUPERSEDED");

  EXPECT_EQ(Pass(*r), 0);  // the new link is not due yet
  clock_.Advance(kIntoReminderWindow);
  ASSERT_EQ(Pass(*r), 1);
  EXPECT_EQ(Pass(*r), 0);
  Drain(*r);
  ASSERT_EQ(MessagesTo(*sink_, c.invitation().email()).size(), 3u);
  EXPECT_EQ(carrying(c.registration_url()), 1);
  EXPECT_EQ(carrying(resent.registration_url()), 2) << "the resend's mail and its reminder";
  EXPECT_EQ(api_->Outbox(id, "REMINDER"), "SUPERSEDED,SENT");
  EXPECT_EQ(api_->FeedEvents(id, pb::INVITATION_EVENT_TYPE_REMINDER_SENT), 1);
  // Create 1, the first link's reminder (queued: it counted then) 1, Resend 1, the new one 1.
  EXPECT_EQ(api_->Get(id).send_count(), 4);
}

TEST_F(ReminderTest, AReminderClaimedThenRevokedBeforeTheSmtpHandOffIsNotSent) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  const std::string id = c.invitation().id();
  auto first = NewReplica("first");
  Drain(*first);
  clock_.Advance(kIntoReminderWindow);
  auto r = NewReplica("r", [&] { api_->Revoke(id); });
  ASSERT_EQ(Pass(*r), 1);
  Drain(*r);
  EXPECT_EQ(MessagesTo(*sink_, c.invitation().email()).size(), 1u);
  EXPECT_EQ(api_->Outbox(id, "REMINDER"), "SUPERSEDED");
  EXPECT_EQ(api_->FeedEvents(id, pb::INVITATION_EVENT_TYPE_REMINDER_SENT), 0);
}

// Many passes at once (threads, each with a pool of its own, as replicas) over the same due
// rows: the store queues each link's reminder exactly once.
TEST_F(ReminderTest, ConcurrentPassesQueueEachReminderExactlyOnce) {
  constexpr int kInvitations = 40;
  constexpr int kPasses = 8;
  std::vector<std::string> ids;
  for (int i = 0; i < kInvitations; ++i) {
    ids.push_back(api_->Create(tenant_, /*suppress=*/false).invitation().id());
  }
  std::vector<std::unique_ptr<BackgroundReplica>> replicas;
  for (int i = 0; i < kPasses; ++i) replicas.push_back(NewReplica(absl::StrCat("p", i)));
  clock_.Advance(kIntoReminderWindow);
  std::atomic<int> queued{0};
  std::atomic<int> failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPasses; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      for (int round = 0; round < 5; ++round) {
        // Small batches: many transactions per thread, interleaved with the others'.
        absl::StatusOr<int> n = replicas[i]->reminders->QueueDueReminders(clock_.Now(), 2);
        if (n.ok()) {
          queued += *n;
        } else {
          ++failures;
        }
      }
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  // Whatever the rounds left over (or lost to a conflict) is queued by one more pass.
  absl::StatusOr<int> rest = replicas[0]->scheduler->RunOnce();
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(queued.load() + *rest, kInvitations) << failures.load() << " passes failed";
  EXPECT_EQ(api_->Sql("SELECT COUNT(*) FROM email_outbox WHERE kind = 'REMINDER'"),
            absl::StrCat(kInvitations));
  EXPECT_EQ(api_->Sql("SELECT COUNT(DISTINCT invitation_id) FROM email_outbox "
                      "WHERE kind = 'REMINDER'"),
            absl::StrCat(kInvitations));
  EXPECT_EQ(api_->Sql("SELECT COUNT(*) FROM invitations WHERE send_count = 2"),
            absl::StrCat(kInvitations));
  EXPECT_EQ(replicas[1]->scheduler->RunOnce().value_or(-1), 0);
}

// Accept needs the Keycloak stand-in: its own fixture.
class ReminderAcceptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions options;
    options.clock = &clock_;
    env_ = AcceptEnvironment::Start(options);
    ASSERT_NE(env_, nullptr);
    api_ = std::make_unique<Api>(env_->server());
    auto sink = SmtpSink::Start();
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = *std::move(sink);
    tenant_ = UniqueTenant();
    api_->SetReminder(tenant_, kReminderBefore);
  }
  std::unique_ptr<BackgroundReplica> NewReplica(const std::string& owner,
                                                std::function<void()> after_first_claim = nullptr) {
    return std::make_unique<BackgroundReplica>(env_->server(), clock_, sink_->url(), owner,
                                               std::move(after_first_claim));
  }

  invitations::ManualClock clock_{WholeSecondNow()};
  std::unique_ptr<AcceptEnvironment> env_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<SmtpSink> sink_;
  std::string tenant_;
};

TEST_F(ReminderAcceptTest, NoReminderAfterAccept) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  ASSERT_THAT(env_->Accept(AcceptRequest(TokenOf(c.registration_url()))), IsOk());
  auto r = NewReplica("r");
  clock_.Advance(kIntoReminderWindow);
  EXPECT_EQ(r->scheduler->RunOnce().value_or(-1), 0);
  EXPECT_EQ(api_->Outbox(c.invitation().id(), "REMINDER"), "NULL");
}

TEST_F(ReminderAcceptTest, AReminderQueuedThenAcceptedBeforeTheSmtpHandOffIsNotSent) {
  pb::CreateInvitationResponse c = api_->Create(tenant_);
  const std::string id = c.invitation().id();
  {
    auto first = NewReplica("first");
    while (first->dispatcher->RunOnce().value_or(0) > 0) {
    }
  }
  clock_.Advance(kIntoReminderWindow);
  auto r = NewReplica("r", [&] {
    EXPECT_THAT(env_->Accept(AcceptRequest(TokenOf(c.registration_url()))), IsOk());
  });
  ASSERT_EQ(r->scheduler->RunOnce().value_or(-1), 1);
  while (r->dispatcher->RunOnce().value_or(0) > 0) {
  }
  EXPECT_EQ(MessagesTo(*sink_, c.invitation().email()).size(), 1u);
  EXPECT_EQ(api_->Get(id).state(), pb::INVITATION_STATE_ACCEPTED);
  EXPECT_EQ(api_->FeedEvents(id, pb::INVITATION_EVENT_TYPE_REMINDER_SENT), 0);
}

// The real invitation_server binary, its --reminder_interval set through the environment twin:
// the reminder is queued and delivered by the replica's own pass and dispatcher, and /metrics
// counts both. Real time here: the link lives 60 s and is due for its reminder after 2 s, so a
// slow machine has most of a minute before the expiry would (rightly) stop the reminder.
TEST(ReminderProcessTest, TheServersOwnPassQueuesAndSendsTheReminderAndCountsIt) {
  const std::string db = e2e::UniqueName("reminders");
  ASSERT_THAT(SharedMariaDb().CreateDatabase(db), IsOk());
  e2e::ServerProcess::Options options;
  options.mysql_uri = SharedMariaDb().Uri(db);
  options.env = {"INVITATIONS_REMINDER_INTERVAL=1s", "INVITATIONS_TTL_MIN=10s"};
  absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server = e2e::ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  const std::string tenant = UniqueTenant();
  pb::UpdateTenantPolicyRequest policy;
  policy.mutable_policy()->set_tenant_id(tenant);
  policy.mutable_policy()->mutable_reminder_before_expiry()->set_seconds(58);
  policy.mutable_update_mask()->add_paths("reminder_before_expiry");
  pb::UpdateTenantPolicyResponse updated;
  ASSERT_THAT(stub->UpdateTenantPolicy(Context().get(), policy, &updated), IsOk());
  auto metric = [&](const std::map<std::string, std::string>& labels,
                    const char* name = "invitations_reminders_total") {
    absl::StatusOr<std::string> page = ops::HttpGet((*server)->metrics_port());
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? ops::Sample(*page, name, labels).value_or(-1) : -1;
  };
  EXPECT_EQ(metric({{"result", "queued"}}), 0);  // present at zero from the start
  EXPECT_EQ(metric({{"result", "sent"}}), 0);

  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("process"));
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  req.mutable_ttl()->set_seconds(60);
  pb::CreateInvitationResponse created;
  ASSERT_THAT(stub->CreateInvitation(Context().get(), req, &created), IsOk());
  ASSERT_TRUE(WaitFor([&] { return metric({{"result", "sent"}}) == 1; }, absl::Seconds(50)));
  EXPECT_EQ(metric({{"result", "queued"}}), 1);
  EXPECT_EQ(metric({{"result", "sent"}}, "invitations_emails_total"), 2);
  pb::GetInvitationRequest get;
  get.set_id(created.invitation().id());
  pb::GetInvitationResponse got;
  ASSERT_THAT(stub->GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().send_count(), 2);
}

}  // namespace
}  // namespace securelink::testing
