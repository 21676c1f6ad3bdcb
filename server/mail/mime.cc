#include "server/mail/mime.h"

#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"

namespace securelink::invitations::mail {
namespace {

// RFC 5322 §2.1.1: lines SHOULD be at most 78 characters without the CRLF.
constexpr size_t kFoldColumn = 78;
// Raw octets per RFC 2047 B-encoded word: 42 octets -> 56 base64 characters, a 68-character
// word, which fits on a line after "Subject: " and keeps every word under the 75-octet limit.
constexpr size_t kEncodedWordOctets = 42;
constexpr size_t kMaxMessageIdLength = 250;
constexpr size_t kMaxAddressLength = 254;
constexpr size_t kMaxLocalPartLength = 64;
constexpr size_t kMaxDomainLabelLength = 63;
constexpr char32_t kReplacementChar = 0xFFFD;

// RFC 5322 atext: the characters of an atom.
bool IsAtext(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != absl::string_view::npos;
}

// A dot-atom: atoms of atext joined by single dots.
bool IsDotAtom(absl::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

bool HasNonAscii(absl::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return true;
  }
  return false;
}

bool HasControl(absl::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

// Decodes `s` as UTF-8; each invalid, overlong, surrogate or out-of-range sequence becomes one
// U+FFFD and decoding resumes at the next octet. Sets *valid (when given) to whether there were
// none.
std::vector<char32_t> DecodeUtf8(absl::string_view s, bool* valid = nullptr) {
  if (valid != nullptr) *valid = true;
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (cc & 0x3F);
      }
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(kReplacementChar);
      if (valid != nullptr) *valid = false;
      ++i;
    }
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Characters that must never reach a single-line display string: they end lines (CR, LF, NEL,
// U+2028/9), are invisible controls, or reorder what a reader sees (bidi overrides/isolates,
// the "Trojan Source" trick that could make an inviter's name disguise the link).
bool IsBlankOrControl(char32_t cp) {
  return cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

// RFC 2047 B-encoded words for `text` (UTF-8), each holding at most kEncodedWordOctets octets
// and never splitting a character.
std::vector<std::string> EncodedWords(absl::string_view text) {
  std::vector<std::string> words;
  std::string chunk;
  auto flush = [&] {
    if (chunk.empty()) return;
    words.push_back(absl::StrCat("=?UTF-8?B?", absl::Base64Escape(chunk), "?="));
    chunk.clear();
  };
  for (char32_t cp : DecodeUtf8(text)) {
    std::string encoded;
    AppendUtf8(cp, &encoded);
    if (chunk.size() + encoded.size() > kEncodedWordOctets) flush();
    chunk += encoded;
  }
  flush();
  return words;
}

// Joins `words` with single spaces, folding (CRLF SP) before a word that would pass column 78.
// `column` is where the first word starts.
std::string FoldWords(const std::vector<std::string>& words, size_t column) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      if (column + 1 + words[i].size() > kFoldColumn) {
        out += "\r\n ";
        column = 1;
      } else {
        out += " ";
        column += 1;
      }
    }
    out += words[i];
    column += words[i].size();
  }
  return out;
}

// Whether `text` (already cleaned) can go into a header as plain ASCII words.
bool NeedsEncodedWords(absl::string_view text) {
  if (HasNonAscii(text) || absl::StrContains(text, "=?")) return true;
  for (absl::string_view word : absl::StrSplit(text, ' ')) {
    if (word.size() > kFoldColumn - 10) return true;
  }
  return false;
}

}  // namespace

absl::Status ValidateMailAddress(absl::string_view address, absl::string_view field) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (address.empty()) return bad("the address is empty");
  if (HasControl(address)) return bad("the address contains a control character (CR, LF, ...)");
  if (HasNonAscii(address)) {
    return bad(
        "the address contains non-ASCII characters; convert an internationalised domain to its "
        "A-label (punycode) form first (non-ASCII local parts are not supported)");
  }
  if (address.size() > kMaxAddressLength) return bad("the address is longer than 254 octets");
  const size_t at = address.find('@');
  if (at == absl::string_view::npos || address.find('@', at + 1) != absl::string_view::npos) {
    return bad("the address must contain exactly one '@'");
  }
  const absl::string_view local = address.substr(0, at);
  const absl::string_view domain = address.substr(at + 1);
  if (local.empty() || local.size() > kMaxLocalPartLength || !IsDotAtom(local)) {
    return bad("the local part must be 1-64 characters of letters, digits, dots and !#$%&'*+-/=?^_`{|}~");
  }
  const std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  if (labels.size() < 2) return bad("the domain must contain a dot");
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > kMaxDomainLabelLength || label.front() == '-' ||
        label.back() == '-') {
      return bad("the domain has an empty, over-long or hyphen-edged label");
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return bad("the domain may contain only letters, digits, hyphens and dots");
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Mailbox> ParseMailbox(absl::string_view text, absl::string_view field) {
  if (HasControl(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": contains a control character (CR, LF, ...)"));
  }
  absl::string_view s = absl::StripAsciiWhitespace(text);
  Mailbox mailbox;
  absl::string_view address = s;
  if (absl::ConsumeSuffix(&s, ">")) {
    const size_t open = s.rfind('<');
    if (open == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": '>' without '<'"));
    }
    address = s.substr(open + 1);
    absl::string_view name = absl::StripAsciiWhitespace(s.substr(0, open));
    std::string unquoted;
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        unquoted.push_back(name[i]);
      }
    } else {
      if (name.find_first_of("\"<>") != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": a display name with \", < or > must be quoted"));
      }
      unquoted = std::string(name);
    }
    mailbox.display_name = CleanDisplayText(unquoted);
  }
  if (absl::Status status = ValidateMailAddress(address, field); !status.ok()) return status;
  mailbox.address = std::string(address);
  return mailbox;
}

std::string FormatMailbox(const Mailbox& mailbox, size_t name_length) {
  const std::string name = CleanDisplayText(mailbox.display_name);
  const std::string angle_addr = absl::StrCat("<", mailbox.address, ">");
  if (name.empty()) return mailbox.address;
  std::vector<std::string> words;
  bool plain_atoms = !HasNonAscii(name) && !absl::StrContains(name, "=?");
  for (char c : name) {
    if (c != ' ' && !IsAtext(c)) plain_atoms = false;
  }
  if (plain_atoms) {
    words = absl::StrSplit(name, ' ');
  } else if (!NeedsEncodedWords(name)) {
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    quoted += "\"";
    // A quoted-string may not be folded inside; it is at most ~200 characters, within 998.
    words.push_back(std::move(quoted));
  } else {
    words = EncodedWords(name);
  }
  words.push_back(angle_addr);
  return FoldWords(words, name_length);
}

absl::StatusOr<std::string> NormalizeMessageId(absl::string_view message_id) {
  absl::string_view id = message_id;
  if (absl::StartsWith(id, "<") && absl::EndsWith(id, ">")) id = id.substr(1, id.size() - 2);
  const size_t at = id.find('@');
  if (at == absl::string_view::npos || !IsDotAtom(id.substr(0, at)) ||
      !IsDotAtom(id.substr(at + 1)) || id.size() + 2 > kMaxMessageIdLength) {
    return absl::InvalidArgumentError(
        "message_id must be <left@right> with dot-atom parts of printable ASCII, at most 250 "
        "characters");
  }
  return absl::StrCat("<", id, ">");
}

std::string MakeMessageId(absl::string_view unique, absl::string_view domain) {
  auto sanitize = [](absl::string_view s) {
    std::string out;
    for (char c : s) {
      const char keep = (IsAtext(c) && c != '.') ? c : '.';
      if (keep == '.' && (out.empty() || out.back() == '.')) continue;
      out.push_back(keep);
    }
    while (!out.empty() && out.back() == '.') out.pop_back();
    return out.empty() ? std::string("x") : out;
  };
  return absl::StrCat("<", sanitize(unique), "@", sanitize(domain), ">");
}

bool IsValidUtf8(absl::string_view text) {
  bool valid = true;
  DecodeUtf8(text, &valid);
  return valid;
}

std::string CleanDisplayText(absl::string_view text, size_t max_chars) {
  std::vector<char32_t> chars;
  bool pending_space = false;
  for (char32_t cp : DecodeUtf8(text)) {
    if (IsBlankOrControl(cp)) {
      pending_space = !chars.empty();
      continue;
    }
    if (pending_space) chars.push_back(' ');
    pending_space = false;
    chars.push_back(cp);
  }
  if (max_chars > 0 && chars.size() > max_chars) {
    chars.resize(max_chars - 1);
    while (!chars.empty() && chars.back() == ' ') chars.pop_back();
    chars.push_back(0x2026);  // …
  }
  std::string out;
  for (char32_t cp : chars) AppendUtf8(cp, &out);
  return out;
}

std::string EncodeUnstructuredHeader(absl::string_view text, size_t name_length) {
  const std::string clean = CleanDisplayText(text);
  if (clean.empty()) return clean;
  if (NeedsEncodedWords(clean)) return FoldWords(EncodedWords(clean), name_length);
  return FoldWords(absl::StrSplit(clean, ' '), name_length);
}

std::string FormatRfc5322Date(absl::Time t) {
  static constexpr const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const absl::CivilSecond c = absl::ToCivilSecond(t, absl::UTCTimeZone());
  const int weekday = static_cast<int>(absl::GetWeekday(absl::CivilDay(c)));  // Monday = 0
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04lld %02d:%02d:%02d +0000", kDays[weekday],
                c.day(), kMonths[c.month() - 1], static_cast<long long>(c.year()), c.hour(),
                c.minute(), c.second());
  return buf;
}

std::string EncodeQuotedPrintable(absl::string_view body) {
  // RFC 2045: encoded lines at most 76 characters; keep one column for a soft break's '='.
  constexpr size_t kMaxColumn = 75;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(body.size() * 11 / 10 + 16);
  // Split on CRLF, LF or CR: every one is a hard line break.
  std::vector<absl::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' || body[i] == '\n') {
      lines.push_back(body.substr(start, i - start));
      if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < body.size()) lines.push_back(body.substr(start));
  for (absl::string_view line : lines) {
    size_t column = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(line[i]);
      const bool last = i + 1 == line.size();
      auto token = [&](size_t col) {
        bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
        // At the start of a physical line: '.' (SMTP dot-stuffing) and "From " (mbox quoting).
        if (col == 0 && (c == '.' || (c == 'F' && absl::StartsWith(line.substr(i), "From ")))) {
          literal = false;
        }
        if (literal) return std::string(1, static_cast<char>(c));
        return std::string{'=', kHex[c >> 4], kHex[c & 0xF]};
      };
      std::string tok = token(column);
      if (column + tok.size() > kMaxColumn) {
        out += "=\r\n";
        column = 0;
        tok = token(column);
      }
      out += tok;
      column += tok.size();
    }
    out += "\r\n";
  }
  return out;
}

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace securelink::invitations::mail
