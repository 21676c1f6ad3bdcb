// SmtpMailSender against a real SMTP server (python3-aiosmtpd started per test on a free port).
#include "server/mail/smtp_mail_sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/mail/message.h"
#include "server/mail/mime.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations::mail {
namespace {

using ::securelink::testing::InspectMessage;
using ::securelink::testing::IsOk;
using ::securelink::testing::MakeTestCertificate;
using ::securelink::testing::ParsedMessage;
using ::securelink::testing::PickFreePort;
using ::securelink::testing::SmtpSink;
using ::securelink::testing::StatusIs;
using ::securelink::testing::TempDir;
using ::securelink::testing::TestCertificate;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kSender[] = "noreply@securelink.example";
constexpr char kUrlBase[] = "https://register.securelink.example/accept?token=";

// A rendered invitation to `to` whose link ends in `token`.
OutgoingMail Invitation(const std::string& to, const std::string& token,
                        const std::string& id = "") {
  InvitationEmail email;
  email.to = to;
  email.role_display = RoleDisplayName(Role::kTenantAdmin);
  email.tenant_id = "acme";
  email.inviter = "Alice Admin";
  email.expire_time = absl::Now() + absl::Hours(168);
  email.registration_url = kUrlBase + token;
  const std::string message_id = MakeMessageId(id.empty() ? token : id, "securelink.example");
  absl::StatusOr<std::string> data =
      RenderInvitationMessage(email, DefaultMailTemplates(),
                              absl::StrCat("SecureLink <", kSender, ">"), message_id, absl::Now());
  EXPECT_THAT(data, IsOk());
  return OutgoingMail{kSender, to, message_id, data.value_or("")};
}

std::unique_ptr<SmtpMailSender> MakeSender(SmtpOptions options) {
  absl::StatusOr<std::unique_ptr<SmtpMailSender>> sender = SmtpMailSender::Create(options);
  EXPECT_THAT(sender, IsOk());
  return sender.ok() ? std::move(*sender) : nullptr;
}

std::unique_ptr<SmtpMailSender> MakeSender(const std::string& url) {
  SmtpOptions options;
  options.url = url;
  options.connect_timeout = absl::Seconds(5);
  options.timeout = absl::Seconds(20);
  return MakeSender(options);
}

// The sink's ScriptedMailbox with `env` (SINK_* variables), optionally with TLS.
std::unique_ptr<SmtpSink> StartSink(std::vector<std::pair<std::string, std::string>> env = {},
                                    std::optional<TestCertificate> starttls = std::nullopt,
                                    std::optional<TestCertificate> smtps = std::nullopt) {
  SmtpSink::Options options;
  options.handler = "smtp_test_handlers.ScriptedMailbox";
  options.env = std::move(env);
  options.starttls = std::move(starttls);
  options.smtps = std::move(smtps);
  absl::StatusOr<std::unique_ptr<SmtpSink>> sink = SmtpSink::Start(std::move(options));
  EXPECT_THAT(sink, IsOk());
  return sink.ok() ? std::move(*sink) : nullptr;
}

TEST(SmtpMailSenderCreateTest, AcceptsSmtpAndSmtpsUrls) {
  for (const char* url : {"smtp://127.0.0.1:2525", "smtps://mail.example.com",
                          "smtp://relay.example.com/securelink.example"}) {
    SmtpOptions options;
    options.url = url;
    EXPECT_THAT(SmtpMailSender::Create(options), IsOk()) << url;
  }
}

TEST(SmtpMailSenderCreateTest, RejectsOtherSchemesCredentialsInUrlAndBadTimeouts) {
  for (const char* url : {"", "http://mail.example.com", "mail.example.com:25", "smtp://",
                          "smtp://user:secret@mail.example.com"}) {
    SmtpOptions options;
    options.url = url;
    EXPECT_THAT(SmtpMailSender::Create(options), StatusIs(absl::StatusCode::kInvalidArgument))
        << url;
  }
  SmtpOptions with_secret;
  with_secret.url = "smtp://user:secret@mail.example.com";
  const absl::Status status = SmtpMailSender::Create(with_secret).status();
  EXPECT_THAT(status.message(), Not(HasSubstr("secret")));
  SmtpOptions options;
  options.url = "smtp://127.0.0.1:2525";
  options.timeout = absl::ZeroDuration();
  EXPECT_THAT(SmtpMailSender::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SmtpMailSenderTest, DeliversAMessageThatArrivesIntactWithItsLink) {
  absl::StatusOr<std::unique_ptr<SmtpSink>> sink = SmtpSink::Start();  // aiosmtpd's own Mailbox
  ASSERT_THAT(sink, IsOk());
  auto sender = MakeSender((*sink)->url());
  const OutgoingMail mail = Invitation("zoe@customer.example", "tok-deliver-1");

  ASSERT_THAT(sender->Send(mail), IsOk());

  absl::StatusOr<std::vector<std::string>> messages = (*sink)->WaitForMessages(1);
  ASSERT_THAT(messages, IsOk());
  ASSERT_THAT(*messages, SizeIs(1));
  absl::StatusOr<ParsedMessage> parsed = InspectMessage((*messages)[0]);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->defects, IsEmpty());
  EXPECT_EQ(parsed->Header("X-MailFrom"), kSender);
  EXPECT_EQ(parsed->Header("X-RcptTo"), "zoe@customer.example");
  EXPECT_EQ(parsed->Header("Message-ID"), mail.message_id);
  EXPECT_EQ(parsed->content_type, "multipart/alternative");
  EXPECT_THAT(parsed->Body("text/plain"), HasSubstr(std::string(kUrlBase) + "tok-deliver-1"));
  EXPECT_THAT(parsed->Body("text/html"), HasSubstr(std::string(kUrlBase) + "tok-deliver-1"));
}

TEST(SmtpMailSenderTest, ConcurrentSendsAreEachDeliveredOnce) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(sink->url());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 3;
  std::vector<absl::Status> results(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        results[n] = sender->Send(
            Invitation(absl::StrCat("user", n, "@customer.example"), absl::StrCat("tok-", n)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : results) EXPECT_THAT(status, IsOk());

  absl::StatusOr<std::vector<std::string>> messages =
      sink->WaitForMessages(kThreads * kPerThread);
  ASSERT_THAT(messages, IsOk());
  EXPECT_THAT(*messages, SizeIs(kThreads * kPerThread));
  for (int n = 0; n < kThreads * kPerThread; ++n) {
    int count = 0;
    for (const std::string& m : *messages) count += absl::StrContains(m, absl::StrCat("tok-", n, "@"));
    EXPECT_EQ(count, 1) << "message id tok-" << n;
  }
}

TEST(SmtpMailSenderTest, ConnectionRefusedIsUnavailable) {
  const int port = PickFreePort();  // nothing listens there
  auto sender = MakeSender(absl::StrCat("smtp://127.0.0.1:", port));
  const absl::Status status = sender->Send(Invitation("zoe@customer.example", "tok-refused"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("connect"));
  EXPECT_THAT(status.message(), Not(HasSubstr("tok-refused")));
}

TEST(SmtpMailSenderTest, RelayThatNeverAnswersTimesOutAsUnavailable) {
  // A listening socket nobody serves: the kernel completes the handshake, no greeting follows.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  SmtpOptions options;
  options.url = absl::StrCat("smtp://127.0.0.1:", ntohs(addr.sin_port));
  options.timeout = absl::Milliseconds(500);
  auto sender = MakeSender(options);

  const absl::Time start = absl::Now();
  const absl::Status status = sender->Send(Invitation("zoe@customer.example", "tok-stall"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("timeouts: connect"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  close(fd);
}

TEST(SmtpMailSenderTest, PermanentRecipientRejectionIsFailedPreconditionWithTheRelaysText) {
  auto sink = StartSink({{"SINK_REJECT_RCPT", "gone@customer.example"}});
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(sink->url());

  const absl::Status status = sender->Send(Invitation("gone@customer.example", "tok-gone"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(status.message(), HasSubstr("550 5.1.1 mailbox unavailable"));
  EXPECT_THAT(status.message(), HasSubstr("RCPT TO"));
  EXPECT_THAT(sink->Messages(), IsEmpty());
  // The relay is fine otherwise.
  EXPECT_THAT(sender->Send(Invitation("zoe@customer.example", "tok-ok")), IsOk());
}

TEST(SmtpMailSenderTest, TemporaryRecipientRejectionIsUnavailable) {
  auto sink = StartSink({{"SINK_TEMPFAIL_RCPT", "busy@customer.example"}});
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(sink->url());
  const absl::Status status = sender->Send(Invitation("busy@customer.example", "tok-busy"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("451 4.3.0 try again later"));
  EXPECT_THAT(sink->Messages(), IsEmpty());
}

TEST(SmtpMailSenderTest, PermanentRejectionOfTheDataIsFailedPrecondition) {
  auto sink = StartSink({{"SINK_REJECT_DATA_FROM", kSender}});
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(sink->url());
  const absl::Status status = sender->Send(Invitation("zoe@customer.example", "tok-data"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(status.message(), HasSubstr("554 5.6.0 message content rejected"));
  EXPECT_THAT(sink->Messages(), IsEmpty());
}

TEST(SmtpMailSenderTest, LineBreaksInTheEnvelopeAreInvalidArgument) {
  auto sender = MakeSender("smtp://127.0.0.1:1");
  OutgoingMail mail = Invitation("zoe@customer.example", "tok-env");
  mail.envelope_to = "zoe@customer.example>\r\nRCPT TO:<eve@evil.example";
  EXPECT_THAT(sender->Send(mail), StatusIs(absl::StatusCode::kInvalidArgument));
  mail = Invitation("zoe@customer.example", "tok-env");
  mail.envelope_from = "noreply@securelink.example\r\nRSET";
  EXPECT_THAT(sender->Send(mail), StatusIs(absl::StatusCode::kInvalidArgument));
}

class SmtpMailSenderTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCertificate> cert = MakeTestCertificate(dir_.path());
    ASSERT_THAT(cert, IsOk());
    cert_ = *cert;
  }

  SmtpOptions Options(const SmtpSink& sink, SmtpOptions::Tls tls) const {
    SmtpOptions options;
    options.url = sink.url();
    options.tls = tls;
    options.ca_file = cert_.cert_file;
    options.timeout = absl::Seconds(20);
    return options;
  }

  // The X-Sink-TLS / X-Sink-Auth headers of the only stored message.
  static std::pair<std::string, std::string> HowItArrived(const SmtpSink& sink) {
    absl::StatusOr<std::vector<std::string>> messages = sink.WaitForMessages(1);
    EXPECT_THAT(messages, IsOk());
    if (!messages.ok() || messages->size() != 1) return {};
    absl::StatusOr<ParsedMessage> parsed = InspectMessage((*messages)[0]);
    EXPECT_THAT(parsed, IsOk());
    if (!parsed.ok()) return {};
    return {parsed->Header("X-Sink-TLS"), parsed->Header("X-Sink-Auth")};
  }

  TempDir dir_;
  TestCertificate cert_;
};

TEST_F(SmtpMailSenderTlsTest, RequiredStartTlsDeliversOverTls) {
  auto sink = StartSink({}, cert_);
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(Options(*sink, SmtpOptions::Tls::kRequired));
  ASSERT_THAT(sender->Send(Invitation("zoe@customer.example", "tok-tls")), IsOk());
  EXPECT_THAT(HowItArrived(*sink).first, HasSubstr("TLS"));
}

TEST_F(SmtpMailSenderTlsTest, OpportunisticStartTlsUpgradesWhenOffered) {
  auto sink = StartSink({}, cert_);
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(Options(*sink, SmtpOptions::Tls::kOpportunistic));
  ASSERT_THAT(sender->Send(Invitation("zoe@customer.example", "tok-try")), IsOk());
  EXPECT_THAT(HowItArrived(*sink).first, HasSubstr("TLS"));
}

TEST_F(SmtpMailSenderTlsTest, OpportunisticStartTlsSendsInPlainWhenNotOffered) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(Options(*sink, SmtpOptions::Tls::kOpportunistic));
  ASSERT_THAT(sender->Send(Invitation("zoe@customer.example", "tok-plain")), IsOk());
  EXPECT_EQ(HowItArrived(*sink).first, "none");
}

TEST_F(SmtpMailSenderTlsTest, RequiredStartTlsRefusesARelayThatDoesNotOfferIt) {
  auto sink = StartSink();
  ASSERT_NE(sink, nullptr);
  auto sender = MakeSender(Options(*sink, SmtpOptions::Tls::kRequired));
  const absl::Status status = sender->Send(Invitation("zoe@customer.example", "tok-notls"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("STARTTLS"));
  EXPECT_THAT(sink->Messages(), IsEmpty());
}

TEST_F(SmtpMailSenderTlsTest, SmtpsDelivers) {
  auto sink = StartSink({}, std::nullopt, cert_);
  ASSERT_NE(sink, nullptr);
  EXPECT_TRUE(absl::StartsWith(sink->url(), "smtps://"));
  auto sender = MakeSender(Options(*sink, SmtpOptions::Tls::kRequired));
  ASSERT_THAT(sender->Send(Invitation("zoe@customer.example", "tok-smtps")), IsOk());
  EXPECT_THAT(HowItArrived(*sink).first, HasSubstr("TLS"));
}

TEST_F(SmtpMailSenderTlsTest, UntrustedCertificateIsUnavailable) {
  auto sink = StartSink({}, cert_);
  ASSERT_NE(sink, nullptr);
  SmtpOptions options = Options(*sink, SmtpOptions::Tls::kRequired);
  options.ca_file = "";  // the system store does not know the test certificate
  auto sender = MakeSender(options);
  const absl::Status status = sender->Send(Invitation("zoe@customer.example", "tok-untrusted"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(sink->Messages(), IsEmpty());

  options.insecure_skip_verify = true;
  EXPECT_THAT(MakeSender(options)->Send(Invitation("zoe@customer.example", "tok-insecure")),
              IsOk());
}

TEST_F(SmtpMailSenderTlsTest, AuthenticatesWithTheConfiguredCredentials) {
  auto sink = StartSink({{"SINK_AUTH_USER", "mailer"}, {"SINK_AUTH_PASSWORD", "s3cret-pw"}}, cert_);
  ASSERT_NE(sink, nullptr);
  SmtpOptions options = Options(*sink, SmtpOptions::Tls::kRequired);
  options.username = "mailer";
  options.password = "s3cret-pw";
  ASSERT_THAT(MakeSender(options)->Send(Invitation("zoe@customer.example", "tok-auth")), IsOk());
  EXPECT_EQ(HowItArrived(*sink).second, "mailer");
}

TEST_F(SmtpMailSenderTlsTest, RejectedCredentialsAreUnavailableAndNeverEchoed) {
  auto sink = StartSink({{"SINK_AUTH_USER", "mailer"}, {"SINK_AUTH_PASSWORD", "s3cret-pw"}}, cert_);
  ASSERT_NE(sink, nullptr);
  SmtpOptions options = Options(*sink, SmtpOptions::Tls::kRequired);
  options.username = "mailer";
  options.password = "wrong-pw-value";
  const absl::Status status =
      MakeSender(options)->Send(Invitation("zoe@customer.example", "tok-badauth"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("535"));
  EXPECT_THAT(status.message(), Not(HasSubstr("wrong-pw-value")));
  EXPECT_THAT(sink->Messages(), IsEmpty());
}

TEST_F(SmtpMailSenderTlsTest, RelayRequiringAuthWithoutCredentialsIsUnavailable) {
  // 530 is the relay's configuration talking, not a verdict on this message: retry later.
  auto sink = StartSink({{"SINK_AUTH_USER", "mailer"}, {"SINK_AUTH_PASSWORD", "s3cret-pw"}}, cert_);
  ASSERT_NE(sink, nullptr);
  const absl::Status status = MakeSender(Options(*sink, SmtpOptions::Tls::kRequired))
                                  ->Send(Invitation("zoe@customer.example", "tok-noauth"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(status.message(), HasSubstr("530"));
}

}  // namespace
}  // namespace securelink::invitations::mail
