// The invitation email: operator-replaceable templates and their rendering into a complete
// RFC 5322 multipart/alternative (text + HTML) message ready for SMTP or an .eml file.
#ifndef SECURELINK_SERVER_MAIL_MESSAGE_H_
#define SECURELINK_SERVER_MAIL_MESSAGE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"
#include "server/mail/localized_text.h"
#include "server/util/embedded_files.h"

namespace securelink::invitations::mail {

// Everything the templates may show. Free-text fields (role_display, tenant_id, inviter,
// product_name) are cleaned before use (see CleanDisplayText in mime.h): control characters
// including CR/LF become spaces and invalid UTF-8 becomes U+FFFD, so they can neither start a
// header nor forge extra lines of text.
struct InvitationEmail {
  std::string to;                // normalised address; must pass ValidateMailAddress
  std::string role_display;      // e.g. "VPN user" (RoleDisplayName); required
  std::string tenant_id;         // may be empty (global super admin)
  std::string inviter;           // who invited (display name or subject); may be empty
  absl::Time expire_time;
  std::string registration_url;  // contains the secret token: never log it
  std::string product_name = "SecureLink";
  // The invitation's language (BCP 47); picks the template set, falling back by subtag to "en".
  std::string locale;
  // A reminder of a link already mailed (SPEC §11) rather than the first message of a link.
  bool reminder = false;
};

// Template sources. Placeholders are {{name}} (spaces inside the braces allowed) with these
// names:
//   role              InvitationEmail::role_display
//   tenant            tenant_id, or messages.conf's tenant.none ("none (global access)")
//   inviter           inviter, or messages.conf's inviter.unknown ("an administrator")
//   expire_time       "Tuesday, 14 May 2024 at 09:30 UTC" (the language's dates.conf)
//   registration_url  the link (never shown anywhere but in the message)
//   product_name      product_name, or "SecureLink" when empty
//   email             the invitee's address
// Values are inserted as they are into `subject` and `text`, and HTML-escaped into `html`.
// There is no other syntax: "{{" always opens a placeholder.
// One language's set (server/mail/templates/<lang>/). The defaults of the fields below `html`
// are English, so a set built by hand needs only the three templates.
struct MailTemplates {
  std::string subject;  // one line
  std::string text;     // text/plain body
  std::string html;     // text/html body (a whole document)
  // The same for a reminder (InvitationEmail::reminder); empty: the English default's.
  std::string reminder_subject;
  std::string reminder_text;
  std::string reminder_html;
  std::string language = "en";  // canonical BCP 47 tag: the Content-Language header
  DateFormat dates;             // dates.conf
  // messages.conf: role.super_admin, role.tenant_admin, role.vpn_user, role.user, tenant.none,
  // inviter.unknown; a missing key shows the English word.
  std::map<std::string, std::string> messages;
};

// The keys of a mail messages.conf.
const std::vector<std::string>& MailMessageKeys();

// Every language's MailTemplates: the shipped en, de and fr, with an operator's directory laid
// over them (LoadMailCatalog). Built from one MailTemplates, it is that set alone, as English.
class MailCatalog {
 public:
  MailCatalog(MailTemplates english);  // NOLINT: implicit, a single set is a catalog of one

  // The set for an invitation's locale: the best available match by subtag ("de-AT" → "de"),
  // else English.
  const MailTemplates& For(absl::string_view locale) const;

  // The canonical tags present, sorted ("de", "en", "fr", ...).
  std::vector<std::string> Languages() const;

 private:
  friend absl::StatusOr<MailCatalog> LoadMailCatalog(const std::string& dir);
  MailCatalog() = default;
  std::map<std::string, MailTemplates> sets_;
};

// Human name of a role for the message: "Super administrator", "Tenant administrator",
// "VPN user"; "User" for kUnspecified.
std::string RoleDisplayName(Role role);

// How the English templates show an expiry: "Tuesday, 14 May 2024 at 09:30 UTC".
std::string FormatExpireTime(absl::Time t);

// The English defaults shipped in server/mail/templates/en/ and compiled into the binary.
MailTemplates DefaultMailTemplates();

// Every shipped language, compiled in (LoadMailCatalog("")).
MailCatalog DefaultMailCatalog();

// The shipped templates (server/mail/templates/), compiled in.
EmbeddedFiles DefaultTemplateFiles();

// OK when every placeholder in `templates` is known and closed, the subject is one line, not
// empty and without {{registration_url}} (subjects get logged), and every template is valid UTF-8. Otherwise INVALID_ARGUMENT naming the template, the
// line and the problem.
absl::Status ValidateMailTemplates(const MailTemplates& templates);

// Reads subject.txt, body.txt and body.html from `dir` (an operator's --mail_template_dir) and
// validates them as ValidateMailTemplates does. An empty `dir` means the compiled-in defaults. A
// file missing from an existing `dir` falls back to its default (so an operator may replace only
// the HTML); a trailing newline of subject.txt is dropped.
//
// Errors: NOT_FOUND when `dir` is given but is not a directory (a typo must not silently send
// the defaults); INVALID_ARGUMENT from validation, naming the file; UNAVAILABLE when a file
// exists but cannot be read.
absl::StatusOr<MailTemplates> LoadMailTemplates(const std::string& dir);

// Every language of the shipped templates with an operator's `dir` (--mail_template_dir, ""
// for none) laid over them as LoadLanguageTree describes: files directly in `dir` replace
// English's, a subdirectory named by a BCP 47 tag is that language (an operator adds one with no
// rebuild). Each language's files: subject.txt, body.txt, body.html, reminder_subject.txt,
// reminder_body.txt, reminder_body.html, messages.conf, dates.conf; each set validated as
// ValidateMailTemplates does.
//
// Errors: as LoadLanguageTree, and INVALID_ARGUMENT naming the language's file and line when a
// set does not validate.
absl::StatusOr<MailCatalog> LoadMailCatalog(const std::string& dir);

// A complete RFC 5322 message with CRLF line ends: Date (`date`, UTC), Message-ID (`message_id`,
// with or without angle brackets; the caller keeps it stable across retries), From (`from`,
// "addr" or "Name <addr>"), To, Subject (RFC 2047 encoded-words when not plain ASCII),
// MIME-Version, Auto-Submitted: auto-generated, Content-Language (the set's language), and a
// multipart/alternative body with a text/plain and a text/html part, both UTF-8 and
// quoted-printable. `email.reminder` picks the reminder_* templates; the role, when it is an
// English RoleDisplayName, and the expiry are written in the set's language. The output is 7-bit ASCII
// and depends only on the arguments (the same inputs give the same bytes).
//
// Errors: INVALID_ARGUMENT when `email.to` or `from` is not an acceptable address (including any
// CR/LF in them), `message_id` is malformed, `role_display` is empty, `registration_url` is not an
// absolute http(s) URL of URL characters, or the templates do not validate.
absl::StatusOr<std::string> RenderInvitationMessage(const InvitationEmail& email,
                                                    const MailTemplates& templates,
                                                    absl::string_view from,
                                                    absl::string_view message_id,
                                                    absl::Time date);

// The same with the set `catalog` has for `email.locale` (MailCatalog::For).
absl::StatusOr<std::string> RenderInvitationMessage(const InvitationEmail& email,
                                                    const MailCatalog& catalog,
                                                    absl::string_view from,
                                                    absl::string_view message_id,
                                                    absl::Time date);

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_MESSAGE_H_
