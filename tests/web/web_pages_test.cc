// The registration page's templates: the shipped ones render, every value is HTML-escaped, an
// operator's directory replaces single files, and a broken replacement is refused at start-up
// with the file and line named.
#include "server/web/web_pages.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations::web {
namespace {

using ::securelink::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TMPDIR");
  std::filesystem::path dir = std::filesystem::path(base ? base : "/tmp") /
                              absl::StrCat("web_pages_test_", getpid(), "_", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void Write(const std::string& dir, const std::string& file, const std::string& content) {
  std::ofstream(std::filesystem::path(dir) / file) << content;
}

TEST(WebPages, ShippedPagesRenderWithEveryValueEscaped) {
  WebPages pages = WebPages::Defaults();
  const std::string html = pages.Render(
      Page::kRegister, {{"email", "a@example.com"}, {"first_name", "<script>alert(1)</script>"},
                        {"last_name", "\"><img src=x onerror=alert(1)>"}, {"token", "T"}});
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  EXPECT_THAT(html, HasSubstr("<title>SecureLink</title>"));
  EXPECT_THAT(html, Not(HasSubstr("{{")));
  EXPECT_THAT(pages.stylesheet(), HasSubstr("#1f6feb"));
  EXPECT_THAT(pages.stylesheet(), Not(HasSubstr("{{")));
}

TEST(WebPages, OperatorDirectoryReplacesSingleFilesAndBrandsEveryPage) {
  const std::string dir = TempDir("brand");
  Write(dir, "brand.conf", "product_name = Acme <VPN>\ncolor_primary = #ff0000\n");
  Write(dir, "expired.html", "<p id=x>{{product_name}} link expired</p>\n");
  absl::StatusOr<WebPages> pages = WebPages::Load(dir);
  ASSERT_TRUE(pages.ok()) << pages.status();
  EXPECT_THAT(pages->Render(Page::kExpired, {}), HasSubstr("<p id=x>Acme &lt;VPN&gt; link expired"));
  EXPECT_THAT(pages->Render(Page::kRevoked, {}), HasSubstr("withdrawn"));  // still the default
  EXPECT_THAT(pages->stylesheet(), HasSubstr("#ff0000"));
}

TEST(WebPages, BrokenReplacementsAreRefusedNamingTheFile) {
  const std::string dir = TempDir("broken");
  Write(dir, "used.html", "line one\n{{password}}\n");
  EXPECT_THAT(WebPages::Load(dir), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(WebPages::Load(dir).status().message()),
              HasSubstr("used.html line 2: unknown placeholder {{password}}"));

  const std::string css = TempDir("css");
  Write(css, "brand.conf", "product_name = X\ncolor_primary = red; } body { display:none\n");
  EXPECT_THAT(std::string(WebPages::Load(css).status().message()),
              HasSubstr("brand.conf line 2"));
  EXPECT_THAT(WebPages::Load(TempDir("x") + "/missing"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(WebPagesLanguages, ShippedLanguagesRenderInTheirOwnWordsWithTheirTag) {
  const WebPages pages = WebPages::Defaults();
  EXPECT_THAT(pages.Languages(), ::testing::ElementsAre("de", "en", "fr"));
  const std::string en = pages.Render(Page::kRegister, {}, "en");
  const std::string de = pages.Render(Page::kRegister, {}, "de");
  const std::string fr = pages.Render(Page::kRegister, {}, "fr");
  EXPECT_THAT(en, HasSubstr("<html lang=\"en\">"));
  EXPECT_THAT(de, HasSubstr("<html lang=\"de\">"));
  EXPECT_THAT(fr, HasSubstr("<html lang=\"fr\">"));
  EXPECT_THAT(de, HasSubstr(">Vorname</label>"));
  EXPECT_THAT(de, HasSubstr(">Mein Konto anlegen</button>"));
  EXPECT_THAT(fr, HasSubstr(">Prénom</label>"));
  EXPECT_THAT(fr, HasSubstr(">Créer mon compte</button>"));
  EXPECT_THAT(pages.Render(Page::kExpired, {}, "de"), HasSubstr("Diese Einladung ist abgelaufen"));
  EXPECT_THAT(pages.Render(Page::kRevoked, {}, "fr"), HasSubstr("Cette invitation a été retirée"));
  // No shipped page of another language keeps an English sentence.
  for (Page page : {Page::kRegister, Page::kSuccess, Page::kExpired, Page::kRevoked, Page::kUsed,
                    Page::kInvalid, Page::kRefused, Page::kBusy, Page::kRateLimited,
                    Page::kNotFound, Page::kError}) {
    for (const char* tag : {"de", "fr"}) {
      const std::string html = pages.Render(page, {}, tag);
      EXPECT_THAT(html, Not(HasSubstr(" the "))) << tag << " " << static_cast<int>(page);
      EXPECT_THAT(html, Not(HasSubstr("Please"))) << tag << " " << static_cast<int>(page);
      EXPECT_THAT(html, Not(HasSubstr(" your "))) << tag << " " << static_cast<int>(page);
    }
  }
}

TEST(WebPagesLanguages, MessagesAndDatesArePerLanguage) {
  const WebPages pages = WebPages::Defaults();
  EXPECT_EQ(pages.Message("de", "role.vpn_user"), "VPN-Benutzer");
  EXPECT_EQ(pages.Message("fr", "tenant.none"), "aucun (accès global)");
  EXPECT_EQ(pages.Message("en", "error.required", {{"field", "First name"}}),
            "First name is required.");
  EXPECT_EQ(pages.Message("de", "error.username_taken", {{"username", "ada"}}),
            "Der Benutzername ada ist bereits vergeben. Bitte wählen Sie einen anderen.");
  const absl::Time t = absl::FromCivil(absl::CivilMinute(2024, 5, 21, 9, 5), absl::UTCTimeZone());
  EXPECT_EQ(pages.FormatTime("en", t), "Tuesday, 21 May 2024 at 09:05 UTC");
  EXPECT_EQ(pages.FormatTime("de", t), "Dienstag, 21. Mai 2024 um 09:05 UTC");
  EXPECT_EQ(pages.FormatTime("fr", t), "mardi 21 mai 2024 à 09 h 05 UTC");
  EXPECT_EQ(pages.LanguageFor("de-AT"), "de");
  EXPECT_EQ(pages.LanguageFor("fr-CA"), "fr");
  EXPECT_EQ(pages.LanguageFor("xx"), "en");
  EXPECT_EQ(pages.LanguageFor(""), "en");
}

TEST(WebPagesLanguages, TemplateFilesInTheRepoAreWhatIsCompiledIn) {
  absl::StatusOr<WebPages> loaded = WebPages::Load(SERVER_WEB_TEMPLATE_DIR);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const WebPages defaults = WebPages::Defaults();
  ASSERT_EQ(loaded->Languages(), defaults.Languages());
  for (const std::string& tag : defaults.Languages()) {
    EXPECT_EQ(loaded->Render(Page::kRegister, {}, tag), defaults.Render(Page::kRegister, {}, tag));
  }
}

TEST(WebPagesLanguages, OperatorAddsALanguageAndANewLanguageMustBeComplete) {
  const std::string dir = TempDir("nl");
  const std::filesystem::path nl = std::filesystem::path(dir) / "nl";
  std::filesystem::create_directories(nl);
  // Start from the English set, as an operator copying it would.
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(SERVER_WEB_TEMPLATE_DIR) / "en")) {
    std::filesystem::copy_file(entry.path(), nl / entry.path().filename());
  }
  Write(nl.string(), "expired.html", "<h1>Deze uitnodiging is verlopen</h1>\n");
  absl::StatusOr<WebPages> pages = WebPages::Load(dir);
  ASSERT_TRUE(pages.ok()) << pages.status();
  EXPECT_EQ(pages->LanguageFor("nl-BE"), "nl");
  const std::string html = pages->Render(Page::kExpired, {}, "nl");
  EXPECT_THAT(html, HasSubstr("<html lang=\"nl\">"));
  EXPECT_THAT(html, HasSubstr("Deze uitnodiging is verlopen"));

  std::filesystem::remove(nl / "register.html");
  EXPECT_THAT(std::string(WebPages::Load(dir).status().message()),
              HasSubstr("web template nl/register.html is missing"));
  std::filesystem::copy_file(std::filesystem::path(SERVER_WEB_TEMPLATE_DIR) / "en" /
                                 "register.html",
                             nl / "register.html");
  Write(nl.string(), "messages.conf", "role.user = Gebruiker\nbogus line\n");
  EXPECT_THAT(std::string(WebPages::Load(dir).status().message()),
              HasSubstr("nl/messages.conf line 2: expected key = value"));
  Write(nl.string(), "messages.conf", "role.user = Gebruiker\n");
  EXPECT_THAT(std::string(WebPages::Load(dir).status().message()),
              HasSubstr("nl/messages.conf (in " + dir + ") lacks the key(s) role.super_admin"));
}

TEST(WebPagesLanguages, SubtagInheritsItsParentAndBrokenLanguageFilesAreNamed) {
  const std::string dir = TempDir("subtag");
  std::filesystem::create_directories(std::filesystem::path(dir) / "de-CH");
  Write(dir + "/de-CH", "success.html", "<h1>Ihr Konto ist bereit, {{username}}</h1>\n");
  absl::StatusOr<WebPages> pages = WebPages::Load(dir);
  ASSERT_TRUE(pages.ok()) << pages.status();
  EXPECT_THAT(pages->Render(Page::kSuccess, {{"username", "ada"}}, "de-CH"),
              HasSubstr("Ihr Konto ist bereit, ada"));
  EXPECT_THAT(pages->Render(Page::kExpired, {}, "de-CH"),
              HasSubstr("Diese Einladung ist abgelaufen"));

  std::filesystem::create_directories(std::filesystem::path(dir) / "fr");
  Write(dir + "/fr", "used.html", "<p>\n{{mot_de_passe}}</p>\n");
  EXPECT_THAT(std::string(WebPages::Load(dir).status().message()),
              HasSubstr("fr/used.html line 2: unknown placeholder {{mot_de_passe}}"));
}

}  // namespace
}  // namespace securelink::invitations::web
