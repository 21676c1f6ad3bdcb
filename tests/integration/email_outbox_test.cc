// The transactional email outbox (SPEC §4) end to end: a real MariaDB, real gRPC and a
// real SMTP server (aiosmtpd), with dispatchers wired as main.cc wires them.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <functional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/email_dispatcher.h"
#include "server/mail/smtp_mail_sender.h"
#include "storage/mysql_outbox_store.h"
#include "tests/client/e2e_support.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/test_dispatcher.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
namespace mail = ::securelink::invitations::mail;
using ::testing::HasSubstr;

using Replica = TestDispatcher;

class EmailOutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  pb::CreateInvitationResponse Create(const std::string& email, bool suppress = false) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id("acme");
    req.set_suppress_email(suppress);
    pb::CreateInvitationResponse resp;
    grpc::Status s = server_->stub().CreateInvitation(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  pb::Invitation Get(const std::string& id) {
    pb::GetInvitationRequest req;
    req.set_id(id);
    pb::GetInvitationResponse resp;
    EXPECT_THAT(server_->stub().GetInvitation(Context().get(), req, &resp), IsOk());
    return resp.invitation();
  }

  grpc::Status Validate(const std::string& token) {
    pb::ValidateInvitationTokenRequest req;
    req.set_token(token);
    pb::ValidateInvitationTokenResponse resp;
    return server_->stub().ValidateInvitationToken(Context().get(), req, &resp);
  }

  std::string OutboxStates(const std::string& invitation_id) {
    absl::StatusOr<std::string> out = SharedMariaDb().Query(
        server_->database(),
        absl::StrCat("SELECT GROUP_CONCAT(state ORDER BY id) FROM email_outbox WHERE invitation_id = '",
                     invitation_id, "'"));
    return out.ok() ? std::string(absl::StripAsciiWhitespace(*out)) : out.status().ToString();
  }

  std::unique_ptr<TestServer> server_;
};

TEST_F(EmailOutboxTest, CreateSendsExactlyOneMessageWhoseLinkWorks) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  Replica replica(*server_, (*sink)->url(), "r1");
  replica.dispatcher->Start();
  pb::CreateInvitationResponse created = Create(UniqueEmail("mail"));
  absl::StatusOr<std::vector<std::string>> messages = (*sink)->WaitForMessages(1);
  ASSERT_TRUE(messages.ok()) << messages.status();
  ASSERT_EQ(messages->size(), 1u);
  auto parsed = InspectMessage((*messages)[0]);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->Header("To"), HasSubstr(created.invitation().email()));
  EXPECT_THAT(parsed->Header("Content-Type"), HasSubstr("multipart/alternative"));
  EXPECT_THAT(parsed->Body("text/plain"), HasSubstr(created.registration_url()));
  EXPECT_THAT(parsed->Body("text/html"), HasSubstr(created.registration_url()));
  EXPECT_THAT(Validate(TokenOf(created.registration_url())), IsOk());
  ASSERT_TRUE(WaitFor([&] {
    return Get(created.invitation().id()).email_delivery_state() == pb::EMAIL_DELIVERY_STATE_SENT;
  }));
  pb::Invitation inv = Get(created.invitation().id());
  EXPECT_TRUE(inv.has_last_send_time());
  EXPECT_EQ(inv.send_count(), 1);
  replica.dispatcher->Stop();
  EXPECT_EQ((*sink)->Messages().size(), 1u);
  EXPECT_EQ(OutboxStates(created.invitation().id()), "SENT");
}

TEST_F(EmailOutboxTest, SuppressedEmailIsNeverQueued) {
  pb::CreateInvitationResponse created = Create(UniqueEmail("quiet"), /*suppress=*/true);
  EXPECT_EQ(OutboxStates(created.invitation().id()), "NULL");
  EXPECT_EQ(created.invitation().email_delivery_state(), pb::EMAIL_DELIVERY_STATE_SUPPRESSED);
}

TEST_F(EmailOutboxTest, ResendMailsOnlyTheNewLinkAndNeverTheQueuedOldOne) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  pb::CreateInvitationResponse created = Create(UniqueEmail("resend"));  // queued, not sent yet
  pb::ResendInvitationRequest req;
  req.set_id(created.invitation().id());
  pb::ResendInvitationResponse resent;
  ASSERT_THAT(server_->stub().ResendInvitation(Context().get(), req, &resent), IsOk());
  EXPECT_EQ(OutboxStates(created.invitation().id()), "SUPERSEDED,PENDING");

  Replica replica(*server_, (*sink)->url(), "r1");
  replica.dispatcher->Start();
  ASSERT_TRUE((*sink)->WaitForMessages(1).ok());
  ASSERT_TRUE(WaitFor([&] { return OutboxStates(created.invitation().id()) == "SUPERSEDED,SENT"; }));
  replica.dispatcher->Stop();
  std::vector<std::string> messages = (*sink)->Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], HasSubstr(TokenOf(resent.registration_url())));
  EXPECT_THAT(messages[0], ::testing::Not(HasSubstr(TokenOf(created.registration_url()))));
  EXPECT_THAT(Validate(TokenOf(resent.registration_url())), IsOk());
  EXPECT_THAT(Validate(TokenOf(created.registration_url())), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(EmailOutboxTest, ARevokedInvitationsQueuedEmailIsNeverSent) {
  pb::CreateInvitationResponse created = Create(UniqueEmail("revoked"));
  pb::RevokeInvitationRequest req;
  req.set_id(created.invitation().id());
  pb::RevokeInvitationResponse revoked;
  ASSERT_THAT(server_->stub().RevokeInvitation(Context().get(), req, &revoked), IsOk());
  EXPECT_EQ(OutboxStates(created.invitation().id()), "SUPERSEDED");
}

// SPEC §10: the Resend commits after the dispatcher claimed the old link's message and before
// that message reaches SMTP. Send() is synchronous and the sink stores a message before it
// answers 250, so whatever a round sent is in the sink when RunOnce() returns.
TEST_F(EmailOutboxTest, AResendLandingAfterTheClaimKeepsTheOldLinkOutOfSmtp) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  pb::CreateInvitationResponse created = Create(UniqueEmail("late-resend"));
  const std::string id = created.invitation().id();
  pb::ResendInvitationResponse resent;
  Replica replica(*server_, (*sink)->url(), "r1", [&] {
    pb::ResendInvitationRequest req;
    req.set_id(id);
    ASSERT_THAT(server_->stub().ResendInvitation(Context().get(), req, &resent), IsOk());
  });

  absl::StatusOr<int> handled = replica.dispatcher->RunOnce();  // claims the old link's message
  ASSERT_TRUE(handled.ok()) << handled.status();
  ASSERT_EQ(*handled, 1);
  ASSERT_FALSE(resent.registration_url().empty()) << "the Resend did not run after the claim";
  EXPECT_EQ((*sink)->Messages().size(), 0u) << "the dead link was mailed";
  EXPECT_EQ(OutboxStates(id), "SUPERSEDED,PENDING");

  handled = replica.dispatcher->RunOnce();  // the new link's message
  ASSERT_TRUE(handled.ok()) << handled.status();
  ASSERT_TRUE((*sink)->WaitForMessages(1).ok());
  std::vector<std::string> messages = (*sink)->Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], HasSubstr(TokenOf(resent.registration_url())));
  EXPECT_THAT(messages[0], ::testing::Not(HasSubstr(TokenOf(created.registration_url()))));
  EXPECT_EQ(OutboxStates(id), "SUPERSEDED,SENT");
  EXPECT_EQ(Get(id).email_delivery_state(), pb::EMAIL_DELIVERY_STATE_SENT);
}

TEST_F(EmailOutboxTest, ARevokeLandingAfterTheClaimKeepsTheMessageOutOfSmtp) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  pb::CreateInvitationResponse created = Create(UniqueEmail("late-revoke"));
  const std::string id = created.invitation().id();
  bool revoked = false;
  Replica replica(*server_, (*sink)->url(), "r1", [&] {
    pb::RevokeInvitationRequest req;
    req.set_id(id);
    pb::RevokeInvitationResponse resp;
    ASSERT_THAT(server_->stub().RevokeInvitation(Context().get(), req, &resp), IsOk());
    revoked = true;
  });

  absl::StatusOr<int> handled = replica.dispatcher->RunOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  ASSERT_EQ(*handled, 1);
  ASSERT_TRUE(revoked) << "the Revoke did not run after the claim";
  EXPECT_EQ((*sink)->Messages().size(), 0u) << "the revoked link was mailed";
  EXPECT_EQ(OutboxStates(id), "SUPERSEDED");
  handled = replica.dispatcher->RunOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  EXPECT_EQ(*handled, 0);  // nothing left to try later either
  EXPECT_EQ((*sink)->Messages().size(), 0u);
}

// A dispatcher whose lease ran out (it stalled) while another took the row over must leave the
// message to the new owner: sending it too would mail it twice.
TEST_F(EmailOutboxTest, ADispatcherThatLostItsLeaseDoesNotSend) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  pb::CreateInvitationResponse created = Create(UniqueEmail("lost-lease"));
  const std::string id = created.invitation().id();
  Replica replica(*server_, (*sink)->url(), "r1", [&] {
    ASSERT_THAT(SharedMariaDb().Execute(
                    server_->database(),
                    absl::StrCat("UPDATE email_outbox SET lease_owner = 'another-replica' "
                                 "WHERE invitation_id = '", id, "'")),
                IsOk());
  });

  absl::StatusOr<int> handled = replica.dispatcher->RunOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  ASSERT_EQ(*handled, 1);
  EXPECT_EQ((*sink)->Messages().size(), 0u) << "sent by a dispatcher that no longer held it";
  absl::StatusOr<std::string> row = SharedMariaDb().Query(
      server_->database(),
      absl::StrCat("SELECT state, lease_owner FROM email_outbox WHERE invitation_id = '", id,
                   "'"));
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*row), "PENDING\tanother-replica");
}

// Rotating the sealing key (README) discards the sealed copies the new key cannot open. Their
// queued mail can never be built: it fails at once, saying what to do, instead of being retried
// for hours.
TEST_F(EmailOutboxTest, MailWhoseSealedCopyWasDiscardedFailsAtOnceAskingForAResend) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  pb::CreateInvitationResponse created = Create(UniqueEmail("rotated"));
  const std::string id = created.invitation().id();
  ASSERT_THAT(SharedMariaDb().Execute(
                  server_->database(),
                  absl::StrCat("UPDATE invitations SET sealed_token = NULL WHERE id = '", id,
                               "'")),
              IsOk());
  Replica replica(*server_, (*sink)->url(), "r1");

  absl::StatusOr<int> handled = replica.dispatcher->RunOnce();
  ASSERT_TRUE(handled.ok()) << handled.status();
  ASSERT_EQ(*handled, 1);
  EXPECT_EQ(OutboxStates(id), "FAILED");
  pb::Invitation inv = Get(id);
  EXPECT_EQ(inv.email_delivery_state(), pb::EMAIL_DELIVERY_STATE_FAILED);
  EXPECT_THAT(inv.email_last_error(), HasSubstr("resend the invitation"));
  EXPECT_EQ((*sink)->Messages().size(), 0u);
}

TEST_F(EmailOutboxTest, SmtpOutageDelaysMailButLosesNone) {
  const int port = PickFreePort();  // nothing listens yet
  Replica replica(*server_, absl::StrCat("smtp://127.0.0.1:", port), "r1");
  replica.dispatcher->Start();
  std::vector<pb::CreateInvitationResponse> created;
  for (int i = 0; i < 5; ++i) created.push_back(Create(UniqueEmail("outage")));
  // Every message is tried and deferred with the error recorded, none given up.
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> q = SharedMariaDb().Query(
        server_->database(),
        "SELECT COUNT(*) FROM email_outbox WHERE state = 'PENDING' AND attempts >= 2 AND last_error IS NOT NULL");
    return q.ok() && absl::StripAsciiWhitespace(*q) == "5";
  }));
  SmtpSink::Options options;
  options.port = port;
  auto sink = SmtpSink::Start(options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  ASSERT_TRUE((*sink)->WaitForMessages(5, absl::Seconds(30)).ok());
  for (const auto& c : created) {
    ASSERT_TRUE(WaitFor([&] { return OutboxStates(c.invitation().id()) == "SENT"; }));
  }
  replica.dispatcher->Stop();
  std::vector<std::string> messages = (*sink)->Messages();
  EXPECT_EQ(messages.size(), 5u);
  for (const auto& c : created) {
    int copies = 0;
    for (const std::string& m : messages) copies += m.find(TokenOf(c.registration_url())) != std::string::npos;
    EXPECT_EQ(copies, 1) << c.invitation().email();
  }
}

TEST_F(EmailOutboxTest, TwoReplicasDeliverEveryMessageExactlyOnce) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::vector<pb::CreateInvitationResponse> created;
  for (int i = 0; i < 40; ++i) created.push_back(Create(UniqueEmail("twice")));
  Replica a(*server_, (*sink)->url(), "replica-a");
  Replica b(*server_, (*sink)->url(), "replica-b");
  a.dispatcher->Start();
  b.dispatcher->Start();
  ASSERT_TRUE((*sink)->WaitForMessages(40, absl::Seconds(60)).ok());
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> q = SharedMariaDb().Query(
        server_->database(), "SELECT COUNT(*) FROM email_outbox WHERE state = 'SENT'");
    return q.ok() && absl::StripAsciiWhitespace(*q) == "40";
  }));
  a.dispatcher->Stop();
  b.dispatcher->Stop();
  std::vector<std::string> messages = (*sink)->Messages();
  EXPECT_EQ(messages.size(), 40u);
  std::set<std::string> ids;
  for (const std::string& m : messages) {
    auto parsed = InspectMessage(m);
    ASSERT_TRUE(parsed.ok());
    ids.insert(parsed->Header("Message-ID"));
  }
  EXPECT_EQ(ids.size(), 40u);
}

TEST_F(EmailOutboxTest, PermanentRejectionFailsTheDeliveryWithTheRelaysWords) {
  const std::string email = UniqueEmail("bounce");
  SmtpSink::Options options;
  options.handler = "smtp_test_handlers.ScriptedMailbox";
  options.env = {{"SINK_REJECT_RCPT", email}};
  auto sink = SmtpSink::Start(options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  Replica replica(*server_, (*sink)->url(), "r1");
  replica.dispatcher->Start();
  pb::CreateInvitationResponse created = Create(email);
  ASSERT_TRUE(WaitFor([&] {
    return Get(created.invitation().id()).email_delivery_state() == pb::EMAIL_DELIVERY_STATE_FAILED;
  }));
  replica.dispatcher->Stop();
  pb::Invitation inv = Get(created.invitation().id());
  EXPECT_THAT(inv.email_last_error(), HasSubstr("550"));
  EXPECT_EQ(OutboxStates(created.invitation().id()), "FAILED");
  EXPECT_EQ(inv.state(), pb::INVITATION_STATE_PENDING);  // the invitation itself is still usable
}

// Two real invitation_server processes on one database and one SMTP relay: every invitation,
// whichever replica created it, is mailed exactly once.
TEST(EmailOutboxProcesses, TwoServerProcessesMailEveryInvitationExactlyOnce) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  MariaDbServer& db = SharedMariaDb();
  const std::string database = absl::StrCat("two_", getpid());
  ASSERT_TRUE(db.CreateDatabase(database).ok());
  const std::string key_file = e2e::WriteTempFile("sealing.key", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
  e2e::ServerProcess::Options options;
  options.mysql_uri = db.Uri(database);
  options.env = {absl::StrCat("INVITATIONS_SMTP_URL=", (*sink)->url()),
                 absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=", key_file),
                 "INVITATIONS_AUTH=disabled"};
  auto a = e2e::ServerProcess::Start(options);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = e2e::ServerProcess::Start(options);
  ASSERT_TRUE(b.ok()) << b.status();
  std::vector<std::unique_ptr<pb::InvitationService::Stub>> stubs;
  for (const auto* p : {a->get(), b->get()}) {
    stubs.push_back(pb::InvitationService::NewStub(
        grpc::CreateChannel(p->address(), grpc::InsecureChannelCredentials())));
  }
  std::vector<std::string> tokens;
  for (int i = 0; i < 30; ++i) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("procmail"));
    req.set_role(pb::ROLE_SUPER_ADMIN);
    pb::CreateInvitationResponse resp;
    ASSERT_THAT(stubs[i % 2]->CreateInvitation(Context().get(), req, &resp), IsOk());
    tokens.push_back(TokenOf(resp.registration_url()));
  }
  ASSERT_TRUE((*sink)->WaitForMessages(30, absl::Seconds(60)).ok());
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> q =
        db.Query(database, "SELECT COUNT(*) FROM email_outbox WHERE state = 'SENT'");
    return q.ok() && absl::StripAsciiWhitespace(*q) == "30";
  }));
  EXPECT_EQ((*a)->Terminate(), 0);
  EXPECT_EQ((*b)->Terminate(), 0);
  std::vector<std::string> messages = (*sink)->Messages();
  EXPECT_EQ(messages.size(), 30u);
  for (const std::string& token : tokens) {
    int copies = 0;
    for (const std::string& m : messages) copies += m.find(token) != std::string::npos;
    EXPECT_EQ(copies, 1);
  }
}

// Without --smtp_url (the README's local run) the same pipeline writes .eml files.
TEST(EmailOutboxProcesses, WithoutSmtpMailIsWrittenAsEmlFiles) {
  MariaDbServer& db = SharedMariaDb();
  const std::string database = absl::StrCat("eml_", getpid());
  ASSERT_TRUE(db.CreateDatabase(database).ok());
  const std::string mail_dir = absl::StrCat(::testing::TempDir(), "/eml-", getpid());
  e2e::ServerProcess::Options options;
  options.mysql_uri = db.Uri(database);
  options.env = {absl::StrCat("INVITATIONS_MAIL_DIR=", mail_dir), "INVITATIONS_AUTH=disabled"};
  auto server = e2e::ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("eml"));
  req.set_role(pb::ROLE_SUPER_ADMIN);
  pb::CreateInvitationResponse resp;
  ASSERT_THAT(stub->CreateInvitation(Context().get(), req, &resp), IsOk());
  std::string found;
  ASSERT_TRUE(WaitFor([&] {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(mail_dir, ec)) {
      if (entry.path().extension() == ".eml") found = e2e::ReadWholeFile(entry.path());
    }
    return !found.empty();
  }));
  EXPECT_THAT(found, HasSubstr(TokenOf(resp.registration_url())));
  auto parsed = InspectMessage(found);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->Header("To"), HasSubstr(resp.invitation().email()));
  EXPECT_EQ((*server)->Terminate(), 0);
  std::filesystem::remove_all(mail_dir);
}

}  // namespace
}  // namespace securelink::testing
