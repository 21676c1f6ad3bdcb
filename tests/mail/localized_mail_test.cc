// The email in the invitation's language (SPEC §11): the shipped en/de/fr sets, an operator's
// language directories, the date formatter per language, the choice by subtag, the reminder
// variant, and Content-Language; judged by Python's email package as a mail client would.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/mail/localized_text.h"
#include "server/mail/message.h"
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
using ::testing::Not;

constexpr char kFrom[] = "SecureLink <noreply@securelink.example>";
constexpr char kMessageId[] = "<outbox-7.inv-9@securelink.example>";
constexpr char kUrl[] = "https://register.securelink.example/register?token=abcDEF123";

absl::Time At(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::UTCTimeZone());
}

InvitationEmail SampleEmail(const std::string& locale) {
  InvitationEmail email;
  email.to = "zoe@customer.example";
  email.role_display = RoleDisplayName(Role::kVpnUser);
  email.tenant_id = "acme-corp";
  email.inviter = "Alice Admin";
  email.expire_time = At(2024, 5, 21, 9, 30);
  email.registration_url = kUrl;
  email.locale = locale;
  return email;
}

ParsedMessage RenderParsed(const InvitationEmail& email, const MailCatalog& catalog) {
  absl::StatusOr<std::string> message =
      RenderInvitationMessage(email, catalog, kFrom, kMessageId, At(2024, 5, 14, 9, 30));
  EXPECT_THAT(message, IsOk());
  absl::StatusOr<ParsedMessage> parsed = InspectMessage(message.value_or(""));
  EXPECT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->strict_error, "");
  return parsed.value_or(ParsedMessage{});
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A complete Dutch set, as an operator would add it.
void WriteDutch(const std::filesystem::path& dir) {
  WriteFile(dir / "subject.txt", "Uw uitnodiging voor {{product_name}} als {{role}}\n");
  WriteFile(dir / "body.txt", "Hallo,\n\nU bent uitgenodigd. Geldig tot {{expire_time}}.\n\n"
                              "{{registration_url}}\n");
  WriteFile(dir / "body.html", "<html lang=\"nl\"><p>U bent uitgenodigd als {{role}} "
                               "tot {{expire_time}}: <a href=\"{{registration_url}}\">ga</a></p>");
  WriteFile(dir / "reminder_subject.txt", "Herinnering: uw uitnodiging verloopt op "
                                          "{{expire_time}}\n");
  WriteFile(dir / "reminder_body.txt", "De link werkt nog: {{registration_url}}\n");
  WriteFile(dir / "reminder_body.html", "<p>De link werkt nog: {{registration_url}}</p>");
  WriteFile(dir / "messages.conf",
            "role.super_admin = Superbeheerder\nrole.tenant_admin = Tenantbeheerder\n"
            "role.vpn_user = VPN-gebruiker\nrole.user = Gebruiker\n"
            "tenant.none = geen (globale toegang)\ninviter.unknown = een beheerder\n");
  WriteFile(dir / "dates.conf",
            "weekdays = maandag, dinsdag, woensdag, donderdag, vrijdag, zaterdag, zondag\n"
            "months = januari, februari, maart, april, mei, juni, juli, augustus, september, "
            "oktober, november, december\n"
            "pattern = {weekday} {day} {month} {year} om {hour}:{minute} UTC\n");
}

TEST(LocalizedTimeTest, EachShippedLanguageWritesTheExpiryItsOwnWay) {
  const absl::Time t = At(2024, 5, 21, 9, 5);
  const MailCatalog catalog = DefaultMailCatalog();
  EXPECT_EQ(FormatLocalizedTime(t, catalog.For("en").dates), "Tuesday, 21 May 2024 at 09:05 UTC");
  EXPECT_EQ(FormatLocalizedTime(t, catalog.For("de").dates),
            "Dienstag, 21. Mai 2024 um 09:05 UTC");
  EXPECT_EQ(FormatLocalizedTime(t, catalog.For("fr").dates), "mardi 21 mai 2024 à 09 h 05 UTC");
  EXPECT_EQ(FormatLocalizedTime(At(2025, 3, 2, 23, 59), catalog.For("de").dates),
            "Sonntag, 2. März 2025 um 23:59 UTC");
  EXPECT_EQ(FormatLocalizedTime(At(2025, 8, 1, 0, 0), catalog.For("fr").dates),
            "vendredi 1 août 2025 à 00 h 00 UTC");
  // The English default stays what it always was.
  EXPECT_EQ(FormatExpireTime(t), "Tuesday, 21 May 2024 at 09:05 UTC");
}

TEST(LocalizedTimeTest, DatesConfIsCheckedNamingFileAndLine) {
  EXPECT_THAT(ParseDateFormat("weekdays = a, b\n", "nl/dates.conf").status().message(),
              HasSubstr("nl/dates.conf: weekdays needs 7"));
  EXPECT_THAT(ParseDateFormat("# c\npattern {day}\n", "nl/dates.conf").status().message(),
              HasSubstr("nl/dates.conf line 2: expected key = value"));
  EXPECT_THAT(ParseDateFormat("pattern = {weekday} {dya}\n", "x/dates.conf").status().message(),
              HasSubstr("unknown placeholder {dya}"));
  EXPECT_THAT(ParseDateFormat("colour = red\n", "x/dates.conf").status().message(),
              HasSubstr("x/dates.conf line 1: unknown key 'colour'"));
}

TEST(MailCatalogTest, ShipsEnglishGermanAndFrenchEachCompleteAndValid) {
  const MailCatalog catalog = DefaultMailCatalog();
  EXPECT_THAT(catalog.Languages(), ElementsAre("de", "en", "fr"));
  for (const std::string& tag : catalog.Languages()) {
    const MailTemplates& t = catalog.For(tag);
    EXPECT_EQ(t.language, tag);
    EXPECT_THAT(ValidateMailTemplates(t), IsOk()) << tag;
    for (const char* placeholder : {"{{role}}", "{{tenant}}", "{{inviter}}", "{{expire_time}}",
                                    "{{registration_url}}"}) {
      EXPECT_THAT(t.text, HasSubstr(placeholder)) << tag;
      EXPECT_THAT(t.html, HasSubstr(placeholder)) << tag;
      EXPECT_THAT(t.reminder_text, HasSubstr(placeholder)) << tag;
      EXPECT_THAT(t.reminder_html, HasSubstr(placeholder)) << tag;
    }
    EXPECT_THAT(t.html, HasSubstr("lang=\"" + tag + "\""));
    EXPECT_EQ(t.messages.size(), MailMessageKeys().size()) << tag;
  }
}

TEST(MailCatalogTest, ChoosesBySubtagThenEnglish) {
  const MailCatalog catalog = DefaultMailCatalog();
  EXPECT_EQ(catalog.For("de-AT").language, "de");
  EXPECT_EQ(catalog.For("fr-CA").language, "fr");
  EXPECT_EQ(catalog.For("de").language, "de");
  EXPECT_EQ(catalog.For("xx").language, "en");
  EXPECT_EQ(catalog.For("").language, "en");
  EXPECT_EQ(catalog.For("not a tag!").language, "en");
  EXPECT_EQ(catalog.For("DE-at").language, "de");
}

TEST(RenderLocalizedTest, GermanMessageIsGermanThroughout) {
  const ParsedMessage m = RenderParsed(SampleEmail("de-AT"), DefaultMailCatalog());
  EXPECT_EQ(m.Header("Content-Language"), "de");
  EXPECT_EQ(m.Header("Subject"), "Ihre Einladung zu SecureLink als VPN-Benutzer");
  for (const char* type : {"text/plain", "text/html"}) {
    const std::string body = m.Body(type);
    EXPECT_THAT(body, HasSubstr("Dienstag, 21. Mai 2024 um 09:30 UTC")) << type;
    EXPECT_THAT(body, HasSubstr("Mandant")) << type;
    EXPECT_THAT(body, HasSubstr("VPN-Benutzer")) << type;
    EXPECT_THAT(body, HasSubstr(kUrl)) << type;
    EXPECT_THAT(body, Not(HasSubstr("expires"))) << type;
  }
  EXPECT_THAT(m.Body("text/html"), HasSubstr("Einladung annehmen"));
  EXPECT_THAT(m.Body("text/html"), HasSubstr("lang=\"de\""));
}

TEST(RenderLocalizedTest, FrenchMessageIsFrenchWithItsTypography) {
  InvitationEmail email = SampleEmail("fr-CA");
  email.tenant_id = "";
  email.inviter = "";
  const ParsedMessage m = RenderParsed(email, DefaultMailCatalog());
  EXPECT_EQ(m.Header("Content-Language"), "fr");
  EXPECT_EQ(m.Header("Subject"), "Votre invitation à SecureLink (Utilisateur VPN)");
  const std::string text = m.Body("text/plain");
  EXPECT_THAT(text, HasSubstr("mardi 21 mai 2024 à 09 h 30 UTC"));
  EXPECT_THAT(text, HasSubstr("aucun (accès global)"));
  EXPECT_THAT(text, HasSubstr("un administrateur"));
  EXPECT_THAT(text, HasSubstr("Rôle\u00a0:"));  // no-break space before the colon
  EXPECT_THAT(m.Body("text/html"), HasSubstr("Accepter l’invitation"));
}

TEST(RenderLocalizedTest, EnglishIsTheFallbackAndSaysSo) {
  const ParsedMessage m = RenderParsed(SampleEmail("xx"), DefaultMailCatalog());
  EXPECT_EQ(m.Header("Content-Language"), "en");
  EXPECT_EQ(m.Header("Subject"), "You are invited to SecureLink as VPN User");
}

TEST(RenderLocalizedTest, ReminderUsesTheReminderTemplatesInEveryLanguage) {
  const MailCatalog catalog = DefaultMailCatalog();
  const struct {
    const char* locale;
    const char* subject;
    const char* still_works;
  } cases[] = {
      {"en", "Reminder: your SecureLink invitation expires on Tuesday, 21 May 2024 at 09:30 UTC",
       "still works"},
      {"de", "Erinnerung: Ihre Einladung zu SecureLink läuft am Dienstag, 21. Mai 2024 um 09:30 "
             "UTC ab",
       "funktioniert weiterhin"},
      {"fr", "Rappel\u00a0: votre invitation à SecureLink expire le mardi 21 mai 2024 à 09 h 30 UTC",
       "fonctionne toujours"},
  };
  for (const auto& c : cases) {
    InvitationEmail email = SampleEmail(c.locale);
    email.reminder = true;
    const ParsedMessage m = RenderParsed(email, catalog);
    EXPECT_EQ(m.Header("Subject"), c.subject);
    EXPECT_EQ(m.Header("Content-Language"), c.locale);
    EXPECT_THAT(m.Body("text/plain"), HasSubstr(c.still_works)) << c.locale;
    EXPECT_THAT(m.Body("text/html"), HasSubstr(c.still_works)) << c.locale;
    EXPECT_THAT(m.Body("text/plain"), HasSubstr(kUrl)) << c.locale;
  }
}

TEST(LoadMailCatalogTest, OperatorAddsALanguageWithoutRebuild) {
  TempDir dir;
  WriteDutch(std::filesystem::path(dir.path()) / "nl");
  absl::StatusOr<MailCatalog> catalog = LoadMailCatalog(dir.path());
  ASSERT_THAT(catalog, IsOk());
  EXPECT_THAT(catalog->Languages(), ElementsAre("de", "en", "fr", "nl"));
  const ParsedMessage m = RenderParsed(SampleEmail("nl-BE"), *catalog);
  EXPECT_EQ(m.Header("Content-Language"), "nl");
  EXPECT_EQ(m.Header("Subject"), "Uw uitnodiging voor SecureLink als VPN-gebruiker");
  EXPECT_THAT(m.Body("text/plain"), HasSubstr("dinsdag 21 mei 2024 om 09:30 UTC"));
}

TEST(LoadMailCatalogTest, DirectoryNamesAreCanonicalisedAndSubtagsInheritTheirParent) {
  TempDir dir;
  // Swiss German: only the subject differs; the rest comes from the shipped German.
  WriteFile(std::filesystem::path(dir.path()) / "de-ch" / "subject.txt",
            "Ihre Einladung zu {{product_name}} (Schweiz)\n");
  absl::StatusOr<MailCatalog> catalog = LoadMailCatalog(dir.path());
  ASSERT_THAT(catalog, IsOk());
  EXPECT_THAT(catalog->Languages(), ElementsAre("de", "de-CH", "en", "fr"));
  const MailTemplates& swiss = catalog->For("de-CH");
  EXPECT_EQ(swiss.subject, "Ihre Einladung zu {{product_name}} (Schweiz)");
  EXPECT_EQ(swiss.text, DefaultMailCatalog().For("de").text);
  EXPECT_EQ(FormatLocalizedTime(At(2024, 5, 21, 9, 5), swiss.dates),
            "Dienstag, 21. Mai 2024 um 09:05 UTC");
  EXPECT_EQ(catalog->For("de-AT").language, "de");
}

TEST(LoadMailCatalogTest, AConfFileOfAShippedLanguageIsMergedKeyByKey) {
  TempDir dir;
  WriteFile(std::filesystem::path(dir.path()) / "de" / "messages.conf",
            "role.vpn_user = Fernzugriff\n");
  absl::StatusOr<MailCatalog> catalog = LoadMailCatalog(dir.path());
  ASSERT_THAT(catalog, IsOk());
  EXPECT_EQ(catalog->For("de").messages.at("role.vpn_user"), "Fernzugriff");
  EXPECT_EQ(catalog->For("de").messages.at("tenant.none"), "keiner (globaler Zugriff)");
  EXPECT_EQ(RenderParsed(SampleEmail("de"), *catalog).Header("Subject"),
            "Ihre Einladung zu SecureLink als Fernzugriff");
}

TEST(LoadMailCatalogTest, TopLevelFilesStillReplaceEnglishOnly) {
  TempDir dir;
  WriteFile(std::filesystem::path(dir.path()) / "subject.txt", "Welcome, {{role}}\n");
  absl::StatusOr<MailCatalog> catalog = LoadMailCatalog(dir.path());
  ASSERT_THAT(catalog, IsOk());
  EXPECT_EQ(catalog->For("en").subject, "Welcome, {{role}}");
  EXPECT_EQ(catalog->For("de").subject, DefaultMailCatalog().For("de").subject);
}

TEST(LoadMailCatalogTest, ANewLanguageMissingAFileIsRefusedNamingIt) {
  TempDir dir;
  const std::filesystem::path nl = std::filesystem::path(dir.path()) / "nl";
  WriteDutch(nl);
  std::filesystem::remove(nl / "reminder_body.html");
  const absl::Status status = LoadMailCatalog(dir.path()).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("mail template nl/reminder_body.html is missing"));
}

TEST(LoadMailCatalogTest, ANewLanguageMissingAMessageKeyIsRefusedNamingIt) {
  TempDir dir;
  const std::filesystem::path nl = std::filesystem::path(dir.path()) / "nl";
  WriteDutch(nl);
  WriteFile(nl / "messages.conf", "role.user = Gebruiker\n");
  const absl::Status status = LoadMailCatalog(dir.path()).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("nl/messages.conf"));
  EXPECT_THAT(status.message(), HasSubstr("role.vpn_user"));
}

TEST(LoadMailCatalogTest, MalformedFilesAreRefusedNamingFileAndLine) {
  {
    TempDir dir;
    WriteFile(std::filesystem::path(dir.path()) / "fr" / "body.txt",
              "Bonjour,\n\nVotre mot de passe : {{password}}\n");
    const absl::Status status = LoadMailCatalog(dir.path()).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(status.message(), HasSubstr("fr/body.txt line 3"));
  }
  {
    TempDir dir;
    const std::filesystem::path nl = std::filesystem::path(dir.path()) / "nl";
    WriteDutch(nl);
    WriteFile(nl / "dates.conf", "# names\nweekdays maandag\n");
    const absl::Status status = LoadMailCatalog(dir.path()).status();
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(status.message(), HasSubstr("nl/dates.conf line 2"));
  }
  {
    TempDir dir;
    WriteFile(std::filesystem::path(dir.path()) / "de" / "reminder_subject.txt",
              "Erinnerung\nzweite Zeile\n");
    EXPECT_THAT(LoadMailCatalog(dir.path()).status().message(),
                HasSubstr("de/reminder_subject.txt must be a single line"));
  }
  {
    TempDir dir;
    WriteFile(std::filesystem::path(dir.path()) / "de" / "reminder_subject.txt",
              "Ihr Link: {{registration_url}}\n");
    EXPECT_THAT(LoadMailCatalog(dir.path()).status().message(),
                HasSubstr("must not contain {{registration_url}}"));
  }
  {
    TempDir dir;
    WriteFile(std::filesystem::path(dir.path()) / "fr" / "subject.txt", "Invitation \xC3\n");
    EXPECT_THAT(LoadMailCatalog(dir.path()).status().message(),
                HasSubstr("fr/subject.txt is not valid UTF-8"));
  }
}

TEST(LoadMailCatalogTest, ASubdirectoryThatIsNoLanguageTagIsRefused) {
  TempDir dir;
  WriteFile(std::filesystem::path(dir.path()) / "german_old" / "subject.txt", "x\n");
  const absl::Status status = LoadMailCatalog(dir.path()).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("german_old/"));
  EXPECT_THAT(status.message(), HasSubstr("BCP 47"));
}

TEST(LoadMailCatalogTest, TwoSpellingsOfOneLanguageAreRefused) {
  TempDir dir;
  WriteFile(std::filesystem::path(dir.path()) / "de-at" / "subject.txt", "A {{role}}\n");
  WriteFile(std::filesystem::path(dir.path()) / "de-AT" / "subject.txt", "B {{role}}\n");
  EXPECT_THAT(LoadMailCatalog(dir.path()).status().message(), HasSubstr("de-AT twice"));
}

}  // namespace
}  // namespace securelink::invitations::mail
