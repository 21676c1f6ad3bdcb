// Building blocks of an RFC 5322 / MIME message that no input can break out of: address and
// Message-ID syntax, RFC 2047 header text, quoted-printable bodies. Pure functions, no I/O.
#ifndef SECURELINK_SERVER_MAIL_MIME_H_
#define SECURELINK_SERVER_MAIL_MIME_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::invitations::mail {

// The longest display string (inviter, tenant, role, product name) kept in a message, in
// characters; longer ones are cut and end in "…". Keeps subjects readable and bounds the message.
inline constexpr size_t kMaxDisplayTextChars = 200;

// OK when `address` is an ASCII addr-spec this module can put in a header and an SMTP envelope
// as is: dot-atom local part (at most 64 octets) '@' a dot-separated domain of letters, digits
// and hyphens, at most 254 octets in all. Anything else, including every CR, LF, space, quote or
// non-ASCII octet, is INVALID_ARGUMENT naming `field`. Internationalised domains must be converted
// to their A-label (punycode) form before they get here; non-ASCII local parts (SMTPUTF8) are not
// supported.
absl::Status ValidateMailAddress(absl::string_view address, absl::string_view field);

// A mailbox as written in a From header: an optional display name and an address.
struct Mailbox {
  std::string display_name;  // cleaned as by CleanDisplayText; may be empty
  std::string address;       // passes ValidateMailAddress
};

// Parses "addr", "<addr>", "Name <addr>" or "\"Quoted, Name\" <addr>" (an operator's
// --smtp_from). INVALID_ARGUMENT naming `field` for anything else, including any CR or LF.
absl::StatusOr<Mailbox> ParseMailbox(absl::string_view text, absl::string_view field = "from");

// The header value for `mailbox`: "addr", or the display name (as atoms, a quoted-string or
// RFC 2047 encoded-words) followed by " <addr>". `name_length` is the length of the header name
// plus ": " that precedes it on the first line, used for folding. Lines are joined with CRLF SP.
std::string FormatMailbox(const Mailbox& mailbox, size_t name_length);

// "<left@right>" for a Message-ID given with or without angle brackets. `left` and `right` are
// dot-atoms of printable ASCII (RFC 5322 §3.6.4); anything else, including CR/LF, spaces or a
// second '@', is INVALID_ARGUMENT. At most 250 octets.
absl::StatusOr<std::string> NormalizeMessageId(absl::string_view message_id);

// A Message-ID "<unique@domain>" whose characters outside RFC 5322 atext in `unique` are
// replaced by '.'. `domain` should be the From address's domain. The same inputs always give the
// same id, so a message retried under the same `unique` keeps its id.
std::string MakeMessageId(absl::string_view unique, absl::string_view domain);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// Text safe to show on one line in a header or a body: invalid UTF-8 becomes U+FFFD; control
// characters (C0 including CR, LF and TAB, DEL, C1), line/paragraph separators and bidirectional
// overrides become spaces; runs of whitespace collapse to one space; the ends are trimmed; the
// result is cut to `max_chars` characters (the last one then being "…").
std::string CleanDisplayText(absl::string_view text, size_t max_chars = kMaxDisplayTextChars);

// An unstructured header value (RFC 5322 §3.2.5) for `text`, which is first cleaned as by
// CleanDisplayText (so it is a single line whatever it contains). Printable ASCII is folded at
// spaces; text with non-ASCII characters, "=?" or words too long to fold becomes RFC 2047
// B-encoded UTF-8 words of at most 75 octets. `name_length` is the header name plus ": ".
// Every line after the first starts with a space, so the result never starts a new header.
std::string EncodeUnstructuredHeader(absl::string_view text, size_t name_length);

// The RFC 5322 date-time for `t` in UTC: "Tue, 14 May 2024 09:30:00 +0000". Locale independent.
std::string FormatRfc5322Date(absl::Time t);

// `body` as quoted-printable (RFC 2045 §6.7): any line ending (CRLF, LF or CR) becomes a CRLF
// hard break, encoded lines are at most 76 characters (soft breaks "=\r\n"), trailing white space
// is encoded, and a line's leading '.' or "From " is encoded too so that neither SMTP
// dot-stuffing nor mbox "From " quoting can alter the text. The output is 7-bit ASCII, never
// contains "=_", and ends with CRLF.
std::string EncodeQuotedPrintable(absl::string_view body);

// `text` with &, <, >, " and ' replaced by HTML character references.
std::string HtmlEscape(absl::string_view text);

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_MIME_H_
