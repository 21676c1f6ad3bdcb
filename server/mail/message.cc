#include "server/mail/message.h"

#include <cstdint>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
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

// Reads `path` into *out. NOT_FOUND when it does not exist, UNAVAILABLE when it cannot be read.

}  // namespace

std::string RoleDisplayName(Role role) {
  switch (role) {
    case Role::kSuperAdmin: return "Super Administrator";
    case Role::kTenantAdmin: return "Tenant Administrator";
    case Role::kVpnUser: return "VPN User";
    case Role::kUnspecified: break;
  }
  return "User";
}

std::string FormatExpireTime(absl::Time t) {
  static constexpr const char* kDays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};
  static constexpr const char* kMonths[] = {"January", "February", "March",     "April",
                                            "May",     "June",     "July",      "August",
                                            "September", "October", "November", "December"};
  const absl::CivilMinute c = absl::ToCivilMinute(t, absl::UTCTimeZone());
  const int weekday = static_cast<int>(absl::GetWeekday(absl::CivilDay(c)));  // Monday = 0
  return absl::StrFormat("%s, %d %s %d at %02d:%02d UTC", kDays[weekday], c.day(),
                         kMonths[c.month() - 1], c.year(), c.hour(), c.minute());
}

MailTemplates DefaultMailTemplates() {
  MailTemplates t;
  const EmbeddedFiles files = DefaultTemplateFiles();
  t.subject =
      std::string(absl::StripTrailingAsciiWhitespace(*FindEmbeddedFile(files, "subject.txt")));
  t.text = std::string(*FindEmbeddedFile(files, "body.txt"));
  t.html = std::string(*FindEmbeddedFile(files, "body.html"));
  return t;
}

absl::Status ValidateMailTemplates(const MailTemplates& templates) {
  const struct {
    absl::string_view file;
    const std::string& text;
  } parts[] = {{"subject.txt", templates.subject},
               {"body.txt", templates.text},
               {"body.html", templates.html}};
  for (const auto& part : parts) {
    if (!IsValidUtf8(part.text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mail template ", part.file, " is not valid UTF-8"));
    }
    RETURN_IF_ERROR(Expand(part.text, part.file, nullptr, false).status());
  }
  if (absl::StripAsciiWhitespace(templates.subject).empty()) {
    return absl::InvalidArgumentError("mail template subject.txt is empty");
  }
  if (templates.subject.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("mail template subject.txt must be a single line");
  }
  // Relays, spam filters and mail clients log and display subjects freely; the link is a secret.
  Values probe;
  probe.registration_url = "\x01link\x01";
  if (absl::StrContains(Expand(templates.subject, "subject.txt", &probe, false).value_or(""),
                        probe.registration_url)) {
    return absl::InvalidArgumentError(
        "mail template subject.txt must not contain {{registration_url}}: subjects are logged by "
        "relays and the link is a secret");
  }
  if (absl::StripAsciiWhitespace(templates.text).empty() ||
      absl::StripAsciiWhitespace(templates.html).empty()) {
    return absl::InvalidArgumentError("mail templates body.txt and body.html must not be empty");
  }
  return absl::OkStatus();
}

absl::StatusOr<MailTemplates> LoadMailTemplates(const std::string& dir) {
  MailTemplates templates = DefaultMailTemplates();
  if (dir.empty()) return templates;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("mail template directory ", dir, " does not exist or is not a directory"));
  }
  std::vector<std::string> from_dir;
  std::vector<std::string> defaulted;
  const struct {
    const char* file;
    std::string* text;
  } parts[] = {{"subject.txt", &templates.subject},
               {"body.txt", &templates.text},
               {"body.html", &templates.html}};
  for (const auto& part : parts) {
    absl::StatusOr<std::string> content =
        ReadWholeFile((std::filesystem::path(dir) / part.file).string());
    if (absl::IsNotFound(content.status())) {
      defaulted.push_back(part.file);
      continue;
    }
    RETURN_IF_ERROR(content.status());
    *part.text = *std::move(content);
    from_dir.push_back(part.file);
  }
  // Editors end files with a newline; a subject is one line.
  templates.subject = std::string(absl::StripTrailingAsciiWhitespace(templates.subject));
  if (absl::Status status = ValidateMailTemplates(templates); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat(status.message(), " (in ", dir, ")"));
  }
  Log(LogLevel::kInfo, "mail templates loaded",
      {{"dir", dir},
       {"from_dir", absl::StrJoin(from_dir, ",")},
       {"defaults", absl::StrJoin(defaulted, ",")}});
  return templates;
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
  values.role = CleanDisplayText(email.role_display);
  if (values.role.empty()) return absl::InvalidArgumentError("role_display is empty");
  values.tenant = CleanDisplayText(email.tenant_id);
  if (values.tenant.empty()) values.tenant = std::string(kNoTenant);
  values.inviter = CleanDisplayText(email.inviter);
  if (values.inviter.empty()) values.inviter = std::string(kUnknownInviter);
  values.product_name = CleanDisplayText(email.product_name);
  if (values.product_name.empty()) values.product_name = std::string(kDefaultProductName);
  values.expire_time = FormatExpireTime(email.expire_time);
  values.registration_url = email.registration_url;
  values.email = email.to;

  ASSIGN_OR_RETURN(const std::string subject,
                   Expand(templates.subject, "subject.txt", &values, false));
  ASSIGN_OR_RETURN(const std::string text, Expand(templates.text, "body.txt", &values, false));
  ASSIGN_OR_RETURN(const std::string html, Expand(templates.html, "body.html", &values, true));

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
