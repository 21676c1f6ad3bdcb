#include "server/mail/message.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "server/domain/tenant_policy.h"
#include "server/mail/localized_text.h"
#include "server/mail/mime.h"
#include "server/util/file.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"
#include "server/util/template_walk.h"

namespace securelink::invitations::mail {
namespace {

constexpr absl::string_view kPlaceholders[] = {
    "role", "tenant", "inviter", "expire_time", "registration_url", "product_name", "email"};
constexpr absl::string_view kDefaultProductName = "SecureLink";
constexpr absl::string_view kNoTenant = "none (global access)";
constexpr absl::string_view kUnknownInviter = "an administrator";
// Browsers and mail clients cope with URLs far longer, but a registration link is
// base URL + ~43 token characters; anything this long is a misconfiguration.
constexpr size_t kMaxUrlLength = 2048;

bool IsKnownPlaceholder(absl::string_view name) {
  for (absl::string_view known : kPlaceholders) {
    if (name == known) return true;
  }
  return false;
}

// The values of the placeholders for one message, already cleaned for display.
struct Values {
  std::string role;
  std::string tenant;
  std::string inviter;
  std::string expire_time;
  std::string registration_url;
  std::string product_name;
  std::string email;

  absl::string_view Get(absl::string_view name) const {
    if (name == "role") return role;
    if (name == "tenant") return tenant;
    if (name == "inviter") return inviter;
    if (name == "expire_time") return expire_time;
    if (name == "registration_url") return registration_url;
    if (name == "product_name") return product_name;
    return email;
  }
};

// Replaces each {{name}} in `tmpl` (template `file`) by its value, HTML-escaped when `html`.
// With `values` null, only checks the template. INVALID_ARGUMENT for an unclosed "{{" or an
// unknown name.
absl::StatusOr<std::string> Expand(absl::string_view tmpl, absl::string_view file,
                                   const Values* values, bool html) {
  std::string out;
  const std::string hint =
      absl::StrCat("known placeholders: ", absl::StrJoin(kPlaceholders, ", "));
  absl::Status walked = WalkTemplate(
      tmpl, "mail template", file, IsKnownPlaceholder, hint,
      [&](absl::string_view literal) { absl::StrAppend(&out, literal); },
      [&](absl::string_view name) {
        if (values == nullptr) return;
        out += html ? HtmlEscape(values->Get(name)) : std::string(values->Get(name));
      });
  if (!walked.ok()) return walked;
  return out;
}

// OK for an absolute http(s) URL made only of RFC 3986 characters (so it cannot end a line,
// a header or an HTML attribute).
absl::Status ValidateUrl(absl::string_view url) {
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("registration_url: ", why));
  };
  if (url.size() > kMaxUrlLength) return bad("longer than 2048 characters");
  std::string lower = absl::AsciiStrToLower(url.substr(0, 8));
  absl::string_view rest;
  if (absl::StartsWith(lower, "https://")) {
    rest = url.substr(8);
  } else if (absl::StartsWith(lower, "http://")) {
    rest = url.substr(7);
  } else {
    return bad("must be an absolute http:// or https:// URL");
  }
  if (rest.empty() || rest.front() == '/') return bad("has no host");
  constexpr absl::string_view kUrlChars = "-._~:/?#[]@!$&'()*+,;=%";
  for (char c : url) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        kUrlChars.find(c) == absl::string_view::npos) {
      return bad("contains a character that is not allowed in a URL (space, quote, control, "
                 "non-ASCII, ...)");
    }
  }
  return absl::OkStatus();
}

// 64-bit FNV-1a: a stable (cross-process, cross-build) fingerprint for the MIME boundary.
uint64_t Fingerprint(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The files of one language's set.
const LanguageTreeSpec& MailTreeSpec() {
  static const auto* spec = new LanguageTreeSpec{
      "mail template",
      {"subject.txt", "body.txt", "body.html", "reminder_subject.txt", "reminder_body.txt",
       "reminder_body.html", "messages.conf", "dates.conf"},
      {},
      {{"messages.conf", MailMessageKeys()}, {"dates.conf", DateConfKeys()}}};
  return *spec;
}

absl::string_view MessageOr(const MailTemplates& t, absl::string_view key,
                            absl::string_view english) {
  auto it = t.messages.find(std::string(key));
  return it == t.messages.end() || it->second.empty() ? english : absl::string_view(it->second);
}

// The role in `t`'s language when `display` is one of RoleDisplayName's English names (what the
// dispatcher passes); any other text is the caller's own and shown as it is.
std::string LocalizedRole(const MailTemplates& t, absl::string_view display) {
  for (Role role : {Role::kSuperAdmin, Role::kTenantAdmin, Role::kVpnUser, Role::kUnspecified}) {
    if (display == RoleDisplayName(role)) {
      return std::string(MessageOr(t, RoleMessageKey(role), display));
    }
  }
  return std::string(display);
}

// One file's text of the tree's language `tag`.
const std::string& FileOf(const LanguageTree& tree, const std::string& tag,
                          const std::string& file) {
  return tree.languages.at(tag).at(file);
}

// The set of language `tag` of a complete tree (LoadLanguageTree checked every file is there).
absl::StatusOr<MailTemplates> SetOf(const LanguageTree& tree, const std::string& tag) {
  MailTemplates t;
  t.language = tag;
  t.subject = std::string(absl::StripTrailingAsciiWhitespace(FileOf(tree, tag, "subject.txt")));
  t.text = FileOf(tree, tag, "body.txt");
  t.html = FileOf(tree, tag, "body.html");
  t.reminder_subject =
      std::string(absl::StripTrailingAsciiWhitespace(FileOf(tree, tag, "reminder_subject.txt")));
  t.reminder_text = FileOf(tree, tag, "reminder_body.txt");
  t.reminder_html = FileOf(tree, tag, "reminder_body.html");
  const std::string prefix = absl::StrCat("mail template ", tag, "/");
  ASSIGN_OR_RETURN(t.dates,
                   ParseDateFormat(FileOf(tree, tag, "dates.conf"), prefix + "dates.conf"));
  ASSIGN_OR_RETURN(t.messages, ParseKeyValues(FileOf(tree, tag, "messages.conf"),
                                              prefix + "messages.conf", MailMessageKeys()));
  if (absl::Status status = ValidateMailTemplates(t); !status.ok()) {
    // Name the language's file: "mail template body.txt line 3" → "... de/body.txt line 3".
    std::string message(status.message());
    const std::string plain = "mail template ";
    if (absl::StartsWith(message, plain)) message.insert(plain.size(), tag + "/");
    return absl::Status(status.code(), message);
  }
  return t;
}

}  // namespace

const std::vector<std::string>& MailMessageKeys() {
  static const auto* keys =
      new std::vector<std::string>{"role.super_admin", "role.tenant_admin", "role.vpn_user",
                                   "role.user",        "tenant.none",       "inviter.unknown"};
  return *keys;
}

MailCatalog::MailCatalog(MailTemplates english) {
  english.language = std::string(kDefaultLanguage);
  sets_.emplace(english.language, std::move(english));
}

const MailTemplates& MailCatalog::For(absl::string_view locale) const {
  return sets_.at(ChooseLanguage(locale, Languages()));
}

std::vector<std::string> MailCatalog::Languages() const {
  std::vector<std::string> out;
  for (const auto& [tag, set] : sets_) out.push_back(tag);
  return out;
}

absl::StatusOr<MailCatalog> LoadMailCatalog(const std::string& dir) {
  ASSIGN_OR_RETURN(const LanguageTree tree,
                   LoadLanguageTree(DefaultTemplateFiles(), dir, MailTreeSpec()));
  MailCatalog catalog;
  for (const std::string& tag : LanguagesOf(tree)) {
    absl::StatusOr<MailTemplates> set = SetOf(tree, tag);
    if (!set.ok() && !dir.empty()) {
      return absl::Status(set.status().code(),
                          absl::StrCat(set.status().message(), " (in ", dir, ")"));
    }
    RETURN_IF_ERROR(set.status());
    catalog.sets_.emplace(tag, *std::move(set));
  }
  return catalog;
}

MailCatalog DefaultMailCatalog() {
  absl::StatusOr<MailCatalog> catalog = LoadMailCatalog("");
  // The shipped templates are checked by the tests; failing here is a build defect.
  if (!catalog.ok()) {
    Log(LogLevel::kError, "the built-in mail templates are invalid",
        {{"error", catalog.status().ToString()}});
    std::abort();
  }
  return *std::move(catalog);
}

std::string RoleDisplayName(Role role) {
  switch (role) {
    case Role::kSuperAdmin: return "Super Administrator";
    case Role::kTenantAdmin: return "Tenant Administrator";
    case Role::kVpnUser: return "VPN User";
    case Role::kUnspecified: break;
  }
  return "User";
}

std::string FormatExpireTime(absl::Time t) { return FormatLocalizedTime(t, DateFormat()); }

MailTemplates DefaultMailTemplates() { return DefaultMailCatalog().For(kDefaultLanguage); }

absl::Status ValidateMailTemplates(const MailTemplates& templates) {
  const struct {
    absl::string_view file;
    const std::string& text;
  } parts[] = {{"subject.txt", templates.subject},
               {"body.txt", templates.text},
               {"body.html", templates.html},
               {"reminder_subject.txt", templates.reminder_subject},
               {"reminder_body.txt", templates.reminder_text},
               {"reminder_body.html", templates.reminder_html}};
  for (const auto& part : parts) {
    if (!IsValidUtf8(part.text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mail template ", part.file, " is not valid UTF-8"));
    }
    RETURN_IF_ERROR(Expand(part.text, part.file, nullptr, false).status());
  }
  const struct {
    absl::string_view file;
    const std::string& text;
    bool required;
  } subjects[] = {{"subject.txt", templates.subject, true},
                  {"reminder_subject.txt", templates.reminder_subject, false}};
  for (const auto& subject : subjects) {
    if (!subject.required && subject.text.empty()) continue;  // the English default's is used
    if (absl::StripAsciiWhitespace(subject.text).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("mail template ", subject.file, " is empty"));
    }
    if (subject.text.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("mail template ", subject.file, " must be a single line"));
    }
    // Relays, spam filters and mail clients log and display subjects freely; the link is a
    // secret.
    Values probe;
    probe.registration_url = "\x01link\x01";
    if (absl::StrContains(Expand(subject.text, subject.file, &probe, false).value_or(""),
                          probe.registration_url)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mail template ", subject.file,
          " must not contain {{registration_url}}: subjects are logged by relays and the link is "
          "a secret"));
    }
  }
  if (absl::StripAsciiWhitespace(templates.text).empty() ||
      absl::StripAsciiWhitespace(templates.html).empty()) {
    return absl::InvalidArgumentError("mail templates body.txt and body.html must not be empty");
  }
  return absl::OkStatus();
}

absl::StatusOr<MailTemplates> LoadMailTemplates(const std::string& dir) {
  ASSIGN_OR_RETURN(const MailCatalog catalog, LoadMailCatalog(dir));
  return catalog.For(kDefaultLanguage);
}

absl::StatusOr<std::string> RenderInvitationMessage(const InvitationEmail& email,
                                                    const MailCatalog& catalog,
                                                    absl::string_view from,
                                                    absl::string_view message_id,
                                                    absl::Time date) {
  return RenderInvitationMessage(email, catalog.For(email.locale), from, message_id, date);
}

absl::StatusOr<std::string> RenderInvitationMessage(const InvitationEmail& email,
                                                    const MailTemplates& templates,
                                                    absl::string_view from,
                                                    absl::string_view message_id,
                                                    absl::Time date) {
  RETURN_IF_ERROR(ValidateMailTemplates(templates));
  RETURN_IF_ERROR(ValidateMailAddress(email.to, "to"));
  ASSIGN_OR_RETURN(const Mailbox sender, ParseMailbox(from, "from"));
  ASSIGN_OR_RETURN(const std::string id, NormalizeMessageId(message_id));
  RETURN_IF_ERROR(ValidateUrl(email.registration_url));

  Values values;
  values.role = CleanDisplayText(LocalizedRole(templates, email.role_display));
  if (values.role.empty()) return absl::InvalidArgumentError("role_display is empty");
  values.tenant = CleanDisplayText(email.tenant_id);
  if (values.tenant.empty()) values.tenant = std::string(MessageOr(templates, "tenant.none", kNoTenant));
  values.inviter = CleanDisplayText(email.inviter);
  if (values.inviter.empty()) {
    values.inviter = std::string(MessageOr(templates, "inviter.unknown", kUnknownInviter));
  }
  values.product_name = CleanDisplayText(email.product_name);
  if (values.product_name.empty()) values.product_name = std::string(kDefaultProductName);
  values.expire_time = FormatLocalizedTime(email.expire_time, templates.dates);
  values.registration_url = email.registration_url;
  values.email = email.to;

  // A set built by hand may leave the reminder out: the English default's stands in.
  const MailTemplates* reminder = &templates;
  std::optional<MailTemplates> english;
  if (email.reminder && (templates.reminder_subject.empty() || templates.reminder_text.empty() ||
                         templates.reminder_html.empty())) {
    english = DefaultMailTemplates();
    reminder = &*english;
  }
  const bool r = email.reminder;
  ASSIGN_OR_RETURN(const std::string subject,
                   Expand(r ? reminder->reminder_subject : templates.subject,
                          r ? "reminder_subject.txt" : "subject.txt", &values, false));
  ASSIGN_OR_RETURN(const std::string text,
                   Expand(r ? reminder->reminder_text : templates.text,
                          r ? "reminder_body.txt" : "body.txt", &values, false));
  ASSIGN_OR_RETURN(const std::string html,
                   Expand(r ? reminder->reminder_html : templates.html,
                          r ? "reminder_body.html" : "body.html", &values, true));

  // "=_" can never occur in quoted-printable output, so the boundary cannot collide with a part.
  const std::string boundary =
      absl::StrFormat("=_SecureLink_%016x", Fingerprint(absl::StrCat(id, "\n", email.to)));

  std::string m;
  m.reserve(text.size() + html.size() * 11 / 10 + 2048);
  absl::StrAppend(&m, "Date: ", FormatRfc5322Date(date), "\r\n");
  absl::StrAppend(&m, "From: ", FormatMailbox(sender, 6), "\r\n");
  absl::StrAppend(&m, "To: ", email.to, "\r\n");
  absl::StrAppend(&m, "Subject: ", EncodeUnstructuredHeader(subject, 9), "\r\n");
  absl::StrAppend(&m, "Message-ID: ", id, "\r\n");
  absl::StrAppend(&m, "MIME-Version: 1.0\r\n");
  // RFC 3834: tells auto-responders (vacation replies) not to answer.
  absl::StrAppend(&m, "Auto-Submitted: auto-generated\r\n");
  // RFC 3282: the language the reader will find, for clients that offer to translate or route.
  if (CanonicalLocale(templates.language).value_or("") == templates.language &&
      !templates.language.empty()) {
    absl::StrAppend(&m, "Content-Language: ", templates.language, "\r\n");
  }
  absl::StrAppend(&m, "Content-Type: multipart/alternative;\r\n boundary=\"", boundary, "\"\r\n");
  absl::StrAppend(&m, "\r\nThis is a multi-part message in MIME format.\r\n");
  const struct {
    absl::string_view type;
    const std::string& body;
  } parts[] = {{"text/plain", text}, {"text/html", html}};
  for (const auto& part : parts) {
    absl::StrAppend(&m, "\r\n--", boundary, "\r\n");
    absl::StrAppend(&m, "Content-Type: ", part.type, "; charset=UTF-8\r\n");
    absl::StrAppend(&m, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    absl::StrAppend(&m, EncodeQuotedPrintable(part.body));
  }
  absl::StrAppend(&m, "\r\n--", boundary, "--\r\n");
  return m;
}

}  // namespace securelink::invitations::mail
