#include "server/web/web_pages.h"

#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/mail/mime.h"
#include "server/util/file.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"
#include "server/util/template_walk.h"

namespace securelink::invitations::web {
namespace {

struct PageFile {
  Page page;
  const char* file;
  // Placeholders this page may use besides the brand.conf keys.
  std::vector<absl::string_view> placeholders;
};

const std::vector<PageFile>& PageFiles() {
  static const auto* files = new std::vector<PageFile>{
      {Page::kRegister, "register.html",
       {"email", "role", "tenant", "expire_time", "token", "csrf_token", "first_name",
        "last_name", "username", "form_error", "first_name_error", "last_name_error",
        "username_error", "password_error", "password_confirm_error"}},
      {Page::kSuccess, "success.html", {"username", "login_url"}},
      {Page::kExpired, "expired.html", {}},
      {Page::kRevoked, "revoked.html", {}},
      {Page::kUsed, "used.html", {"login_url"}},
      {Page::kInvalid, "invalid.html", {}},
      {Page::kRefused, "refused.html", {}},
      {Page::kBusy, "busy.html", {}},
      {Page::kRateLimited, "rate_limited.html", {}},
      {Page::kNotFound, "not_found.html", {}},
      {Page::kError, "error.html", {}},
  };
  return *files;
}

const PageFile& FileOf(Page page) {
  for (const PageFile& f : PageFiles()) {
    if (f.page == page) return f;
  }
  return PageFiles().back();
}

// The shipped templates, by file name.
std::map<std::string, std::string> ShippedFiles() {
  std::map<std::string, std::string> files;
  for (const EmbeddedFile& file : DefaultPageFiles()) {
    files.emplace(std::string(file.name), std::string(file.content));
  }
  return files;
}

// WalkTemplate for the web templates.
template <typename Known, typename Emit, typename Placeholder>
absl::Status Walk(absl::string_view tmpl, absl::string_view file, Known known, Emit emit,
                  Placeholder placeholder) {
  return WalkTemplate(tmpl, "web template", file, known, "", emit, placeholder);
}


// A colour goes into CSS unescaped: allow only what colour values are made of, so a value can
// never close the declaration or the stylesheet.
bool IsPlainCssValue(absl::string_view value) {
  if (value.empty()) return false;
  for (char c : value) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("#(),.% -", c)) return false;
  }
  return true;
}

// `text`'s keys over those of `brand` (the defaults), so an operator's brand.conf may set only
// some of them.
absl::StatusOr<std::map<std::string, std::string>> ParseBrand(
    absl::string_view text, std::map<std::string, std::string> brand) {
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    const std::string key(absl::StripAsciiWhitespace(kv.first));
    const std::string value(absl::StripAsciiWhitespace(kv.second));
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("web template brand.conf line ", line_number, ": ", why));
    };
    if (!absl::StrContains(line, '=') || key.empty()) return bad("expected key = value");
    for (char c : key) {
      if (!absl::ascii_isalnum(c) && c != '_') return bad("keys are letters, digits and _");
    }
    if (absl::StartsWith(key, "color_") && !IsPlainCssValue(value)) {
      return bad(absl::StrCat(key, " must be a plain CSS colour such as #1f6feb"));
    }
    brand[key] = value;
  }
  if (brand["product_name"].empty()) {
    return absl::InvalidArgumentError("web template brand.conf: product_name is required");
  }
  return brand;
}

}  // namespace

WebPages WebPages::Defaults() {
  absl::StatusOr<WebPages> pages = Load("");
  // The shipped templates are checked by the tests; failing here is a build defect.
  if (!pages.ok()) {
    Log(LogLevel::kError, "the built-in web templates are invalid",
        {{"error", pages.status().ToString()}});
    std::abort();
  }
  return *std::move(pages);
}

absl::StatusOr<WebPages> WebPages::Load(const std::string& dir) {
  WebPages pages;
  pages.files_ = ShippedFiles();
  if (!dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      return absl::NotFoundError(
          absl::StrCat("web template directory ", dir, " does not exist or is not a directory"));
    }
    std::vector<std::string> from_dir;
    for (auto& [name, text] : pages.files_) {
      absl::StatusOr<std::string> content =
          ReadWholeFile((std::filesystem::path(dir) / name).string());
      if (absl::IsNotFound(content.status())) continue;
      RETURN_IF_ERROR(content.status());
      text = *std::move(content);
      from_dir.push_back(name);
    }
    Log(LogLevel::kInfo, "web templates loaded",
        {{"dir", dir}, {"from_dir", absl::StrJoin(from_dir, ",")}});
  }
  absl::Status status = pages.Finish();
  if (!status.ok() && !dir.empty()) {
    return absl::Status(status.code(), absl::StrCat(status.message(), " (in ", dir, ")"));
  }
  RETURN_IF_ERROR(status);
  return pages;
}

absl::Status WebPages::Finish() {
  using Brand = std::map<std::string, std::string>;
  ASSIGN_OR_RETURN(Brand defaults,
                   ParseBrand(*FindEmbeddedFile(DefaultPageFiles(), "brand.conf"), {}));
  ASSIGN_OR_RETURN(brand_, ParseBrand(files_["brand.conf"], std::move(defaults)));
  auto is_brand = [this](absl::string_view name) { return brand_.count(std::string(name)) > 0; };
  auto ignore = [](absl::string_view) {};
  for (const PageFile& f : PageFiles()) {
    auto known = [&](absl::string_view name) {
      if (is_brand(name)) return true;
      for (absl::string_view p : f.placeholders) {
        if (p == name) return true;
      }
      return false;
    };
    RETURN_IF_ERROR(Walk(files_[f.file], f.file, known, ignore, ignore));
  }
  RETURN_IF_ERROR(Walk(
      files_["layout.html"], "layout.html",
      [&](absl::string_view name) { return is_brand(name) || name == "content"; }, ignore,
      ignore));
  stylesheet_.clear();
  return Walk(
      files_["style.css"], "style.css", is_brand,
      [this](absl::string_view literal) { absl::StrAppend(&stylesheet_, literal); },
      [this](absl::string_view name) { absl::StrAppend(&stylesheet_, brand_[std::string(name)]); });
}

const std::string& WebPages::product_name() const { return brand_.at("product_name"); }

std::string WebPages::Render(Page page, const PageValues& values) const {
  const PageFile& f = FileOf(page);
  auto value_of = [&](absl::string_view name) -> std::string {
    auto it = values.find(std::string(name));
    if (it != values.end()) return mail::HtmlEscape(it->second);
    auto brand = brand_.find(std::string(name));
    return brand != brand_.end() ? mail::HtmlEscape(brand->second) : std::string();
  };
  auto any = [](absl::string_view) { return true; };  // checked at load
  std::string content;
  Walk(
      files_.at(f.file), f.file, any,
      [&](absl::string_view literal) { absl::StrAppend(&content, literal); },
      [&](absl::string_view name) { absl::StrAppend(&content, value_of(name)); })
      .IgnoreError();
  std::string out;
  Walk(
      files_.at("layout.html"), "layout.html", any,
      [&](absl::string_view literal) { absl::StrAppend(&out, literal); },
      [&](absl::string_view name) {
        // The content is this page's own rendered (already escaped) HTML.
        absl::StrAppend(&out, name == "content" ? content : value_of(name));
      })
      .IgnoreError();
  return out;
}

}  // namespace securelink::invitations::web
