// Rendering the invitation email: a well-formed MIME message that states the facts, in which no
// input can add a header or markup, judged by Python's email package as a mail client would.
#include "server/mail/message.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations::mail {
namespace {

using ::securelink::testing::InspectMessage;
using ::securelink::testing::IsOk;
using ::securelink::testing::ParsedMessage;
using ::securelink::testing::StatusIs;
using ::securelink::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kFrom[] = "SecureLink <noreply@securelink.example>";
constexpr char kMessageId[] = "<outbox-1.inv-42@securelink.example>";
constexpr char kUrl[] =
    "https://register.securelink.example/accept?token=Qm9vdHN0cmFwLXRva2VuLWZvci10ZXN0cy0xMjM0NTY";

absl::Time At(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

InvitationEmail SampleEmail() {
  InvitationEmail email;
  email.to = "zoe@customer.example";
  email.role_display = RoleDisplayName(Role::kVpnUser);
  email.tenant_id = "acme-corp";
  email.inviter = "Alice Admin";
  email.expire_time = At(2024, 5, 21, 9, 30);
  email.registration_url = kUrl;
  return email;
}

absl::StatusOr<std::string> Render(const InvitationEmail& email,
                                   const MailTemplates& templates = DefaultMailTemplates()) {
  return RenderInvitationMessage(email, templates, kFrom, kMessageId, At(2024, 5, 14, 9, 30));
}

// The header block of a raw message, as lines (folds kept as separate lines).
std::vector<std::string> HeaderLines(const std::string& message) {
  const std::string head = message.substr(0, message.find("\r\n\r\n"));
  return absl::StrSplit(head, "\r\n");
}

// Names of the header fields in the top-level header block.
std::vector<std::string> HeaderNames(const std::string& message) {
  std::vector<std::string> names;
  for (const std::string& line : HeaderLines(message)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '\t') {
      names.push_back(line.substr(0, line.find(':')));
    }
  }
  return names;
}

const std::vector<std::string> kExpectedHeaders = {
    "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted",
    "Content-Language", "Content-Type"};

TEST(MailTemplatesTest, ShippedDefaultsAreValidAndUseEveryFact) {
  const MailTemplates t = DefaultMailTemplates();
  EXPECT_THAT(ValidateMailTemplates(t), IsOk());
  for (const char* placeholder :
       {"{{role}}", "{{tenant}}", "{{inviter}}", "{{expire_time}}", "{{registration_url}}"}) {
    EXPECT_THAT(t.text, HasSubstr(placeholder));
    EXPECT_THAT(t.html, HasSubstr(placeholder));
  }
}

TEST(MailTemplatesTest, TemplateFilesInTheRepoAreWhatIsCompiledIn) {
  // The repository's language directories, read as an operator's, change nothing.
  absl::StatusOr<MailCatalog> loaded = LoadMailCatalog(SERVER_MAIL_TEMPLATE_DIR);
  ASSERT_THAT(loaded, IsOk());
  const MailCatalog defaults = DefaultMailCatalog();
  ASSERT_EQ(loaded->Languages(), defaults.Languages());
  for (const std::string& tag : defaults.Languages()) {
    EXPECT_EQ(loaded->For(tag).subject, defaults.For(tag).subject) << tag;
    EXPECT_EQ(loaded->For(tag).text, defaults.For(tag).text) << tag;
    EXPECT_EQ(loaded->For(tag).html, defaults.For(tag).html) << tag;
    EXPECT_EQ(loaded->For(tag).reminder_html, defaults.For(tag).reminder_html) << tag;
    EXPECT_EQ(loaded->For(tag).messages, defaults.For(tag).messages) << tag;
  }
}

TEST(MailTemplatesTest, EmptyDirectoryMeansTheDefaults) {
  absl::StatusOr<MailTemplates> loaded = LoadMailTemplates("");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->html, DefaultMailTemplates().html);
}

TEST(MailTemplatesTest, MissingDirectoryIsNotFoundRatherThanSilentDefaults) {
  EXPECT_THAT(LoadMailTemplates("/nonexistent/securelink/templates"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(MailTemplatesTest, OperatorFilesReplaceDefaultsFileByFile) {
  TempDir dir;
  std::ofstream(dir / "subject.txt") << "Welcome to {{ product_name }}, {{role}}!\n";
  std::ofstream(dir / "body.html") << "<p>Hi {{email}}: <a href=\"{{registration_url}}\">go</a></p>";
  absl::StatusOr<MailTemplates> loaded = LoadMailTemplates(dir.path());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->subject, "Welcome to {{ product_name }}, {{role}}!");
  EXPECT_EQ(loaded->text, DefaultMailTemplates().text);

  absl::StatusOr<std::string> message = Render(SampleEmail(), *loaded);
  ASSERT_THAT(message, IsOk());
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*message);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->Header("Subject"), "Welcome to SecureLink, VPN User!");
  EXPECT_THAT(parsed->Body("text/html"), HasSubstr(std::string("href=\"") + kUrl + "\""));
}

TEST(MailTemplatesTest, UnknownPlaceholderIsRejectedNamingFileAndLine) {
  TempDir dir;
  std::ofstream(dir / "body.txt") << "Hello\n\nYour password is {{password}}\n";
  const absl::StatusOr<MailTemplates> loaded = LoadMailTemplates(dir.path());
  EXPECT_THAT(loaded, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(loaded.status().message(), HasSubstr("body.txt line 3"));
  EXPECT_THAT(loaded.status().message(), HasSubstr("{{password}}"));
}

TEST(MailTemplatesTest, UnclosedPlaceholderIsRejected) {
  MailTemplates t = DefaultMailTemplates();
  t.html += "<p>{{registration_url</p>\n";
  EXPECT_THAT(ValidateMailTemplates(t), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MailTemplatesTest, SubjectMustBeOneNonEmptyLine) {
  MailTemplates t = DefaultMailTemplates();
  t.subject = "Invitation\r\nBcc: eve@evil.example";
  EXPECT_THAT(ValidateMailTemplates(t), StatusIs(absl::StatusCode::kInvalidArgument));
  t.subject = "  ";
  EXPECT_THAT(ValidateMailTemplates(t), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MailTemplatesTest, SubjectMayNotCarryTheLink) {
  MailTemplates t = DefaultMailTemplates();
  t.subject = "Your link: {{ registration_url }}";
  const absl::Status status = ValidateMailTemplates(t);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("registration_url"));
}

TEST(MailTemplatesTest, InvalidUtf8IsRejected) {
  MailTemplates t = DefaultMailTemplates();
  t.text = "caf\xe9 {{registration_url}}";
  EXPECT_THAT(ValidateMailTemplates(t), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FormatExpireTimeTest, IsHumanReadableUtc) {
  EXPECT_EQ(FormatExpireTime(At(2024, 5, 21, 9, 5)), "Tuesday, 21 May 2024 at 09:05 UTC");
}

TEST(RenderInvitationMessageTest, HasEachRequiredHeaderExactlyOnce) {
  absl::StatusOr<std::string> message = Render(SampleEmail());
  ASSERT_THAT(message, IsOk());
  EXPECT_EQ(HeaderNames(*message), kExpectedHeaders);
  const std::vector<std::string> lines = HeaderLines(*message);
  EXPECT_THAT(lines, ::testing::Contains("Date: Tue, 14 May 2024 09:30:00 +0000"));
  EXPECT_THAT(lines, ::testing::Contains("From: SecureLink <noreply@securelink.example>"));
  EXPECT_THAT(lines, ::testing::Contains("To: zoe@customer.example"));
  EXPECT_THAT(lines, ::testing::Contains("Subject: You are invited to SecureLink as VPN User"));
  EXPECT_THAT(lines, ::testing::Contains("Message-ID: <outbox-1.inv-42@securelink.example>"));
  EXPECT_THAT(lines, ::testing::Contains("MIME-Version: 1.0"));
}

TEST(RenderInvitationMessageTest, IsSevenBitWithCrlfLinesWithinLimits) {
  InvitationEmail email = SampleEmail();
  email.inviter = "Zoë Åström 田中";
  absl::StatusOr<std::string> message = Render(email);
  ASSERT_THAT(message, IsOk());
  for (size_t i = 0; i < message->size(); ++i) {
    const unsigned char c = static_cast<unsigned char>((*message)[i]);
    ASSERT_LT(c, 0x80) << "8-bit octet at " << i;
    if (c == '\n') {
      ASSERT_TRUE(i > 0 && (*message)[i - 1] == '\r') << "bare LF at " << i;
    }
    if (c == '\r') {
      ASSERT_EQ((*message)[i + 1], '\n') << "bare CR at " << i;
    }
  }
  for (absl::string_view line : absl::StrSplit(*message, "\r\n")) {
    EXPECT_LE(line.size(), 78u) << line;
  }
  EXPECT_TRUE(absl::EndsWith(*message, "--\r\n"));
}

TEST(RenderInvitationMessageTest, IsMultipartAlternativeTextThenHtmlStatingEveryFact) {
  absl::StatusOr<std::string> message = Render(SampleEmail());
  ASSERT_THAT(message, IsOk());
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*message);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->strict_error, "");
  EXPECT_THAT(parsed->defects, IsEmpty());
  EXPECT_EQ(parsed->content_type, "multipart/alternative");
  ASSERT_EQ(parsed->parts.size(), 2u);
  EXPECT_EQ(parsed->parts[0].content_type, "text/plain");
  EXPECT_EQ(parsed->parts[1].content_type, "text/html");
  for (const ParsedMessage::Part& part : parsed->parts) {
    EXPECT_EQ(part.charset, "utf-8");
    EXPECT_EQ(part.transfer_encoding, "quoted-printable");
    EXPECT_THAT(part.body, HasSubstr(kUrl)) << part.content_type;
    EXPECT_THAT(part.body, HasSubstr("VPN User"));
    EXPECT_THAT(part.body, HasSubstr("acme-corp"));
    EXPECT_THAT(part.body, HasSubstr("Alice Admin"));
    EXPECT_THAT(part.body, HasSubstr("Tuesday, 21 May 2024 at 09:30 UTC"));
    EXPECT_THAT(part.body, HasSubstr("zoe@customer.example"));
  }
  // The link stands on a line of its own in the text part, so clients make it clickable whole.
  EXPECT_THAT(absl::StrSplit(parsed->Body("text/plain"), "\r\n"), ::testing::Contains(kUrl));
  EXPECT_THAT(parsed->Body("text/html"), HasSubstr(std::string("href=\"") + kUrl + "\""));
  EXPECT_EQ(parsed->Header("To"), "zoe@customer.example");
  EXPECT_EQ(parsed->Header("Message-ID"), kMessageId);
}

TEST(RenderInvitationMessageTest, SameInputsGiveTheSameBytes) {
  // A retried outbox row re-renders; identical bytes keep the Message-ID meaningful.
  EXPECT_EQ(*Render(SampleEmail()), *Render(SampleEmail()));
}

TEST(RenderInvitationMessageTest, GlobalInvitationSaysSoInsteadOfAnEmptyTenant) {
  InvitationEmail email = SampleEmail();
  email.role_display = RoleDisplayName(Role::kSuperAdmin);
  email.tenant_id = "";
  email.inviter = "";
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*Render(email));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->Body("text/plain"), HasSubstr("none (global access)"));
  EXPECT_THAT(parsed->Body("text/plain"), HasSubstr("an administrator"));
  EXPECT_THAT(parsed->Body("text/html"), HasSubstr("Super Administrator"));
}

TEST(RenderInvitationMessageTest, HtmlPartEscapesMarkupFromInviterAndTenant) {
  InvitationEmail email = SampleEmail();
  email.inviter = "<script>alert('inviter')</script>";
  email.tenant_id = "<img src=x onerror=alert(1)>";
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*Render(email));
  ASSERT_THAT(parsed, IsOk());
  const std::string html = parsed->Body("text/html");
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(&#39;inviter&#39;)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("&lt;img src=x onerror=alert(1)&gt;"));
  // The text part shows them literally: it is not markup.
  EXPECT_THAT(parsed->Body("text/plain"), HasSubstr("<script>alert('inviter')</script>"));
}

TEST(RenderInvitationMessageTest, LineBreaksInFreeTextCannotAddHeadersOrLines) {
  InvitationEmail email = SampleEmail();
  email.inviter = "Alice\r\nBcc: eve@evil.example\r\n\r\nInjected body";
  email.tenant_id = "acme\nX-Injected: 1";
  email.role_display = "VPN User\rReply-To: eve@evil.example";
  email.product_name = "SecureLink\r\nSubject: forged";
  MailTemplates templates = DefaultMailTemplates();
  templates.subject = "{{inviter}} invited you to {{tenant}} ({{role}}) on {{product_name}}";
  absl::StatusOr<std::string> message = Render(email, templates);
  ASSERT_THAT(message, IsOk());
  EXPECT_EQ(HeaderNames(*message), kExpectedHeaders);

  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*message);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->defects, IsEmpty());
  EXPECT_THAT(parsed->HeaderNames(), ElementsAre("Date", "From", "To", "Subject", "Message-ID",
                                                 "MIME-Version", "Auto-Submitted",
                                                 "Content-Language", "Content-Type"));
  EXPECT_EQ(parsed->Header("Subject"),
            "Alice Bcc: eve@evil.example Injected body invited you to acme X-Injected: 1 "
            "(VPN User Reply-To: eve@evil.example) on SecureLink Subject: forged");
  // Nor can they forge a line of the text body that looks like a separate instruction.
  for (absl::string_view line : absl::StrSplit(parsed->Body("text/plain"), '\n')) {
    EXPECT_FALSE(absl::StartsWith(line, "Injected body")) << line;
    EXPECT_FALSE(absl::StartsWith(line, "X-Injected")) << line;
  }
}

TEST(RenderInvitationMessageTest, LineBreaksInAddressesOrIdAreRejected) {
  InvitationEmail email = SampleEmail();
  email.to = "zoe@customer.example\r\nBcc: eve@evil.example";
  EXPECT_THAT(Render(email), StatusIs(absl::StatusCode::kInvalidArgument));

  const absl::Time date = At(2024, 5, 14, 9, 30);
  const MailTemplates t = DefaultMailTemplates();
  EXPECT_THAT(RenderInvitationMessage(SampleEmail(), t,
                                      "SecureLink <noreply@securelink.example>\r\nBcc: e@e.example",
                                      kMessageId, date),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RenderInvitationMessage(SampleEmail(), t, kFrom, "<a@b.example>\r\nBcc: e@e.example",
                                      date),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RenderInvitationMessageTest, RegistrationUrlMustBeAPlainHttpUrl) {
  for (const char* url : {"javascript:alert(1)", "https://x.example/a b", "https://x.example/\"><b>",
                          "https://x.example/\r\nBcc: e@e.example", "ftp://x.example/", "https://",
                          "https:///path"}) {
    InvitationEmail email = SampleEmail();
    email.registration_url = url;
    EXPECT_THAT(Render(email), StatusIs(absl::StatusCode::kInvalidArgument)) << url;
  }
}

TEST(RenderInvitationMessageTest, NonAsciiSubjectIsEncodedAndDecodesBack) {
  InvitationEmail email = SampleEmail();
  email.inviter = "Zoë Åström";
  email.tenant_id = "acme";
  MailTemplates templates = DefaultMailTemplates();
  templates.subject = "{{inviter}} vous invite à rejoindre {{product_name}} — 招待";
  absl::StatusOr<std::string> message = Render(email, templates);
  ASSERT_THAT(message, IsOk());
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*message);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->strict_error, "");
  EXPECT_EQ(parsed->Header("Subject"), "Zoë Åström vous invite à rejoindre SecureLink — 招待");
  std::string raw_subject;
  for (const auto& [name, value] : parsed->raw_headers) {
    if (name == "Subject") raw_subject = value;
  }
  EXPECT_TRUE(absl::StartsWith(raw_subject, "=?UTF-8?B?")) << raw_subject;
  EXPECT_THAT(parsed->Body("text/plain"), HasSubstr("Zoë Åström"));
}

TEST(RenderInvitationMessageTest, NonAsciiFromDisplayNameIsEncoded) {
  absl::StatusOr<std::string> message = RenderInvitationMessage(
      SampleEmail(), DefaultMailTemplates(), "Sécurité <noreply@securelink.example>", kMessageId,
      At(2024, 5, 14, 9, 30));
  ASSERT_THAT(message, IsOk());
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(*message);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_THAT(parsed->defects, IsEmpty());
  EXPECT_EQ(parsed->Header("From"), "Sécurité <noreply@securelink.example>");
}

TEST(RenderInvitationMessageTest, EmptyRoleIsRejected) {
  InvitationEmail email = SampleEmail();
  email.role_display = "\r\n";
  EXPECT_THAT(Render(email), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace securelink::invitations::mail
