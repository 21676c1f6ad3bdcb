// The invitation email: operator-replaceable templates and their rendering into a complete
// RFC 5322 multipart/alternative (text + HTML) message ready for SMTP or an .eml file.
#ifndef SECURELINK_SERVER_MAIL_MESSAGE_H_
#define SECURELINK_SERVER_MAIL_MESSAGE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"
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
//   tenant            tenant_id, or "none (global access)" when empty
//   inviter           inviter, or "an administrator" when empty
//   expire_time       "Tuesday, 14 May 2024 at 09:30 UTC" (FormatExpireTime)
//   registration_url  the link (never shown anywhere but in the message)
//   product_name      product_name, or "SecureLink" when empty
//   email             the invitee's address
// Values are inserted as they are into `subject` and `text`, and HTML-escaped into `html`.
// There is no other syntax: "{{" always opens a placeholder.
struct MailTemplates {
  std::string subject;  // one line
  std::string text;     // text/plain body
  std::string html;     // text/html body (a whole document)
};

// Human name of a role for the message: "Super administrator", "Tenant administrator",
// "VPN user"; "User" for kUnspecified.
std::string RoleDisplayName(Role role);

// How the templates show an expiry: "Tuesday, 14 May 2024 at 09:30 UTC". Locale independent.
std::string FormatExpireTime(absl::Time t);

// The defaults shipped in server/mail/templates/ and compiled into the binary.
MailTemplates DefaultMailTemplates();

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

// A complete RFC 5322 message with CRLF line ends: Date (`date`, UTC), Message-ID (`message_id`,
// with or without angle brackets; the caller keeps it stable across retries), From (`from`,
// "addr" or "Name <addr>"), To, Subject (RFC 2047 encoded-words when not plain ASCII),
// MIME-Version, Auto-Submitted: auto-generated, and a multipart/alternative body with a
// text/plain and a text/html part, both UTF-8 and quoted-printable. The output is 7-bit ASCII
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

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_MESSAGE_H_
