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

// What each language directory holds, and the files beside them.
const mail::LanguageTreeSpec& PageTreeSpec() {
  static const auto* spec = [] {
    auto* s = new mail::LanguageTreeSpec;
    s->kind = "web template";
    for (const PageFile& f : PageFiles()) s->files.push_back(f.file);
    s->files.push_back("layout.html");
    s->files.push_back("messages.conf");
    s->files.push_back("dates.conf");
    s->shared_files = {"brand.conf", "style.css"};
    s->conf_keys = {{"messages.conf", PageMessageKeys()}, {"dates.conf", mail::DateConfKeys()}};
    return s;
  }();
  return *spec;
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

const std::vector<std::string>& PageMessageKeys() {
  static const auto* keys = new std::vector<std::string>{
      "role.super_admin",    "role.tenant_admin",   "role.vpn_user",
      "role.user",           "tenant.none",         "field.first_name",
      "field.last_name",     "field.username",      "field.password",
      "error.required",      "error.too_long",      "error.control_character",
      "error.rejected",      "error.password_mismatch", "error.username_taken",
      "error.account_exists", "error.not_accepted", "error.unavailable"};
  return *keys;
}

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
  ASSIGN_OR_RETURN(mail::LanguageTree tree,
                   mail::LoadLanguageTree(DefaultPageFiles(), dir, PageTreeSpec()));
  WebPages pages;
  using Brand = std::map<std::string, std::string>;
  ASSIGN_OR_RETURN(Brand defaults,
                   ParseBrand(*FindEmbeddedFile(DefaultPageFiles(), "brand.conf"), {}));
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(pages.brand_, ParseBrand(tree.shared["brand.conf"], std::move(defaults)));
    for (auto& [tag, files] : tree.languages) {
      Language& language = pages.languages_[tag];
      const std::string prefix = absl::StrCat("web template ", tag, "/");
      ASSIGN_OR_RETURN(language.messages,
                       mail::ParseKeyValues(files["messages.conf"], prefix + "messages.conf",
                                            PageMessageKeys()));
      ASSIGN_OR_RETURN(language.dates,
                       mail::ParseDateFormat(files["dates.conf"], prefix + "dates.conf"));
      language.files = std::move(files);
      RETURN_IF_ERROR(pages.Finish(tag));
    }
    pages.stylesheet_.clear();
    return Walk(
        tree.shared["style.css"], "style.css",
        [&](absl::string_view name) { return pages.brand_.count(std::string(name)) > 0; },
        [&](absl::string_view literal) { absl::StrAppend(&pages.stylesheet_, literal); },
        [&](absl::string_view name) {
          absl::StrAppend(&pages.stylesheet_, pages.brand_[std::string(name)]);
        });
  }();
  if (!status.ok() && !dir.empty()) {
    return absl::Status(status.code(), absl::StrCat(status.message(), " (in ", dir, ")"));
  }
  RETURN_IF_ERROR(status);
  return pages;
}

absl::Status WebPages::Finish(const std::string& tag) {
  std::map<std::string, std::string>& files = languages_.at(tag).files;
  auto is_brand = [this](absl::string_view name) { return brand_.count(std::string(name)) > 0; };
  auto ignore = [](absl::string_view) {};
  const std::string prefix = tag + "/";
  for (const PageFile& f : PageFiles()) {
    auto known = [&](absl::string_view name) {
      if (is_brand(name)) return true;
      for (absl::string_view p : f.placeholders) {
        if (p == name) return true;
      }
      return false;
    };
    RETURN_IF_ERROR(Walk(files[f.file], prefix + f.file, known, ignore, ignore));
  }
  return Walk(
      files["layout.html"], prefix + "layout.html",
      [&](absl::string_view name) {
        return is_brand(name) || name == "content" || name == "lang";
      },
      ignore, ignore);
}

std::string WebPages::LanguageFor(absl::string_view locale) const {
  return mail::ChooseLanguage(locale, Languages());
}

std::vector<std::string> WebPages::Languages() const {
  std::vector<std::string> out;
  for (const auto& [tag, language] : languages_) out.push_back(tag);
  return out;
}

const WebPages::Language& WebPages::LanguageOf(absl::string_view language) const {
  auto it = languages_.find(std::string(language));
  return it != languages_.end() ? it->second : languages_.at(std::string(mail::kDefaultLanguage));
}

std::string WebPages::Message(absl::string_view language, absl::string_view key,
                              const std::map<std::string, std::string>& args) const {
  const Language& lang = LanguageOf(language);
  auto it = lang.messages.find(std::string(key));
  const std::string text = it != lang.messages.end() ? it->second : std::string(key);
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find('{', pos);
    const size_t close = open == std::string::npos ? open : text.find('}', open);
    if (close == std::string::npos) break;
    out.append(text, pos, open - pos);
    auto arg = args.find(text.substr(open + 1, close - open - 1));
    if (arg != args.end()) {
      out += arg->second;
    } else {
      out.append(text, open, close - open + 1);
    }
    pos = close + 1;
  }
  if (pos < text.size()) out.append(text, pos, std::string::npos);
  return out;
}

std::string WebPages::FormatTime(absl::string_view language, absl::Time t) const {
  return mail::FormatLocalizedTime(t, LanguageOf(language).dates);
}

const std::string& WebPages::product_name() const { return brand_.at("product_name"); }

std::string WebPages::Render(Page page, const PageValues& values,
                             absl::string_view language) const {
  const PageFile& f = FileOf(page);
  const Language& lang = LanguageOf(language);
  const std::string tag(languages_.count(std::string(language)) ? language
                                                                 : mail::kDefaultLanguage);
  auto value_of = [&](absl::string_view name) -> std::string {
    auto it = values.find(std::string(name));
    if (it != values.end()) return mail::HtmlEscape(it->second);
    if (name == "lang") return tag;
    auto brand = brand_.find(std::string(name));
    return brand != brand_.end() ? mail::HtmlEscape(brand->second) : std::string();
  };
  auto any = [](absl::string_view) { return true; };  // checked at load
  std::string content;
  Walk(
      lang.files.at(f.file), f.file, any,
      [&](absl::string_view literal) { absl::StrAppend(&content, literal); },
      [&](absl::string_view name) { absl::StrAppend(&content, value_of(name)); })
      .IgnoreError();
  std::string out;
  Walk(
      lang.files.at("layout.html"), "layout.html", any,
      [&](absl::string_view literal) { absl::StrAppend(&out, literal); },
      [&](absl::string_view name) {
        // The content is this page's own rendered (already escaped) HTML.
        absl::StrAppend(&out, name == "content" ? content : value_of(name));
      })
      .IgnoreError();
  return out;
}

}  // namespace securelink::invitations::web
