// The registration page's templates: the shipped ones render, every value is HTML-escaped, an
// operator's directory replaces single files, and a broken replacement is refused at start-up
// with the file and line named.
#include "server/web/web_pages.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace securelink::invitations::web
