// The invitation email in the invitation's language (SPEC §11) end to end: CreateInvitation over
// real gRPC on a real MariaDB, the dispatcher delivering to a real SMTP server (aiosmtpd), the
// message judged by Python's email package.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/email_dispatcher.h"
#include "server/mail/message.h"
#include "server/mail/smtp_mail_sender.h"
#include "storage/mysql_outbox_store.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
namespace mail = ::securelink::invitations::mail;
using ::testing::HasSubstr;

// One dispatcher with its own pool and SMTP sender, as a replica runs it, with `templates`.
struct Dispatcher {
  Dispatcher(TestServer& server, const std::string& smtp_url, mail::MailCatalog templates) {
    auto endpoint = invitations::ParseMysqlUri(SharedMariaDb().Uri(server.database()));
    pool = std::make_unique<invitations::ConnectionPool>(*endpoint,
                                                         invitations::ConnectionPoolOptions{});
    outbox = std::make_unique<invitations::MysqlOutboxStore>(*pool);
    mail::SmtpOptions smtp;
    smtp.url = smtp_url;
    smtp.timeout = absl::Seconds(10);
    sender = *mail::SmtpMailSender::Create(smtp);
    invitations::EmailDispatcherOptions options;
    options.owner = "lang";
    options.registration_base_url = "https://register.example.test/register";
    options.poll_interval = absl::Milliseconds(50);
    dispatcher = *invitations::EmailDispatcher::Create(*outbox, *sender, std::move(templates),
                                                       server.sealer(), clock, options);
  }
  invitations::SystemClock clock;
  std::unique_ptr<invitations::ConnectionPool> pool;
  std::unique_ptr<invitations::MysqlOutboxStore> outbox;
  std::unique_ptr<mail::SmtpMailSender> sender;
  std::unique_ptr<invitations::EmailDispatcher> dispatcher;
};

class LocalizedEmailTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> available = {"de", "en", "fr"}) {
    TestServerOptions options;
    options.available_locales = std::move(available);
    auto s = TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    auto sink = SmtpSink::Start();
    ASSERT_TRUE(sink.ok()) << sink.status();
    sink_ = *std::move(sink);
  }

  grpc::Status Create(const std::string& email, const std::string& tenant,
                      const std::string& locale, pb::CreateInvitationResponse* out) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_locale(locale);
    return server_->stub().CreateInvitation(Context().get(), req, out);
  }

  // The one message delivered for a fresh invitation created with `locale` (after `before`
  // messages already in the sink).
  ParsedMessage Deliver(const std::string& tenant, const std::string& locale,
                        pb::Invitation* created = nullptr) {
    const size_t before = sink_->Messages().size();
    pb::CreateInvitationResponse resp;
    EXPECT_THAT(Create(UniqueEmail("lang"), tenant, locale, &resp), IsOk());
    if (created != nullptr) *created = resp.invitation();
    absl::StatusOr<std::vector<std::string>> messages = sink_->WaitForMessages(before + 1);
    EXPECT_TRUE(messages.ok()) << messages.status();
    if (!messages.ok()) return {};
    // The sink's file names order messages within one second loosely: find it by recipient.
    for (const std::string& raw : *messages) {
      absl::StatusOr<ParsedMessage> parsed = InspectMessage(raw);
      EXPECT_TRUE(parsed.ok()) << parsed.status();
      if (!parsed.ok() || !absl::StrContains(parsed->Header("To"), resp.invitation().email())) {
        continue;
      }
      EXPECT_THAT(parsed->Body("text/plain"), HasSubstr(resp.registration_url()));
      return *std::move(parsed);
    }
    ADD_FAILURE() << "no message to " << resp.invitation().email();
    return {};
  }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<SmtpSink> sink_;
};

TEST_F(LocalizedEmailTest, RequestLocaleTenantDefaultAndFallbackPickTheLanguage) {
  StartServer();
  Dispatcher d(*server_, sink_->url(), mail::DefaultMailCatalog());
  d.dispatcher->Start();

  pb::Invitation inv;
  ParsedMessage de = Deliver(UniqueTenant(), "de", &inv);
  EXPECT_EQ(inv.locale(), "de");
  EXPECT_EQ(de.Header("Content-Language"), "de");
  EXPECT_THAT(de.Header("Subject"), HasSubstr("Ihre Einladung zu SecureLink als VPN-Benutzer"));
  EXPECT_THAT(de.Body("text/plain"), HasSubstr(" UTC"));
  EXPECT_THAT(de.Body("text/plain"), HasSubstr("Mandant:"));
  EXPECT_THAT(de.Body("text/html"), HasSubstr("Einladung annehmen"));

  ParsedMessage fr_ca = Deliver(UniqueTenant(), "fr-CA", &inv);
  EXPECT_EQ(inv.locale(), "fr");
  EXPECT_EQ(fr_ca.Header("Content-Language"), "fr");
  EXPECT_THAT(fr_ca.Header("Subject"), HasSubstr("Votre invitation à SecureLink"));
  EXPECT_THAT(fr_ca.Body("text/plain"), HasSubstr(" h "));  // "à 09 h 30 UTC"

  ParsedMessage plain = Deliver(UniqueTenant(), "", &inv);
  EXPECT_EQ(inv.locale(), "en");
  EXPECT_EQ(plain.Header("Content-Language"), "en");
  EXPECT_THAT(plain.Header("Subject"), HasSubstr("You are invited to SecureLink"));

  // A tenant whose policy says French, and a request that says nothing.
  const std::string tenant = UniqueTenant();
  pb::UpdateTenantPolicyRequest update;
  update.mutable_policy()->set_tenant_id(tenant);
  update.mutable_policy()->set_default_locale("fr");
  update.mutable_update_mask()->add_paths("default_locale");
  pb::UpdateTenantPolicyResponse updated;
  ASSERT_THAT(server_->stub().UpdateTenantPolicy(Context().get(), update, &updated), IsOk());
  ParsedMessage by_policy = Deliver(tenant, "", &inv);
  EXPECT_EQ(inv.locale(), "fr");
  EXPECT_EQ(by_policy.Header("Content-Language"), "fr");
  EXPECT_THAT(by_policy.Body("text/html"), HasSubstr("Accepter l’invitation"));
  d.dispatcher->Stop();
}

TEST_F(LocalizedEmailTest, AMalformedLocaleIsInvalidArgumentNamingIt) {
  StartServer();
  pb::CreateInvitationResponse resp;
  const grpc::Status status = Create(UniqueEmail("badlang"), "acme", "not a tag!", &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message() + status.error_details(), HasSubstr("locale"));
}

TEST_F(LocalizedEmailTest, AnOperatorAddedLanguageIsUsedWithoutRebuild) {
  StartServer({"de", "en", "fr", "nl"});
  TempDir dir_holder("lang-nl");
  const std::filesystem::path nl = std::filesystem::path(dir_holder.path()) / "nl";
  std::filesystem::create_directories(nl);
  // The English set copied and the words that matter changed, as an operator would.
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(SERVER_MAIL_TEMPLATE_DIR) / "en")) {
    std::filesystem::copy_file(entry.path(), nl / entry.path().filename());
  }
  std::ofstream(nl / "subject.txt") << "Uw uitnodiging voor {{product_name}} als {{role}}\n";
  std::ofstream(nl / "dates.conf")
      << "weekdays = maandag, dinsdag, woensdag, donderdag, vrijdag, zaterdag, zondag\n"
         "months = januari, februari, maart, april, mei, juni, juli, augustus, september, "
         "oktober, november, december\n"
         "pattern = {weekday} {day} {month} {year} om {hour}:{minute} UTC\n";
  absl::StatusOr<mail::MailCatalog> catalog = mail::LoadMailCatalog(dir_holder.path());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  Dispatcher d(*server_, sink_->url(), *std::move(catalog));
  d.dispatcher->Start();
  pb::Invitation inv;
  ParsedMessage m = Deliver(UniqueTenant(), "nl-BE", &inv);
  EXPECT_EQ(inv.locale(), "nl");
  EXPECT_EQ(m.Header("Content-Language"), "nl");
  EXPECT_EQ(m.Header("Subject"), "Uw uitnodiging voor SecureLink als VPN User");
  EXPECT_THAT(m.Body("text/plain"), HasSubstr(" om "));
  d.dispatcher->Stop();
}

}  // namespace
}  // namespace securelink::testing
