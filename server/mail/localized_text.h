// Per-language text files shared by the email and the registration page (SPEC §11): the
// key = value files (messages.conf, dates.conf), the one date formatter, and the loading of a
// template tree whose subdirectories are languages (en/, de/, fr/, an operator's nl/, ...).
#ifndef SECURELINK_SERVER_MAIL_LOCALIZED_TEXT_H_
#define SECURELINK_SERVER_MAIL_LOCALIZED_TEXT_H_

#include <array>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"
#include "server/util/embedded_files.h"

namespace securelink::invitations::mail {

// The language every deployment has and everything falls back to.
inline constexpr absl::string_view kDefaultLanguage = "en";

// Lines of `key = value` (blank lines and lines starting with '#' ignored; keys are letters,
// digits, '_' and '.'; values trimmed, one line each). INVALID_ARGUMENT naming `file` and the
// line for a malformed line, a repeated key, or (when `known_keys` is not empty) a key not in it.
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    absl::string_view text, absl::string_view file,
    const std::vector<std::string>& known_keys = {});

// How one language writes a point in time (its dates.conf). The defaults are English.
struct DateFormat {
  std::array<std::string, 7> weekdays = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};
  std::array<std::string, 12> months = {"January", "February", "March",     "April",
                                        "May",     "June",     "July",      "August",
                                        "September", "October", "November", "December"};
  // Placeholders in single braces: {weekday} {day} (1..31) {day2} (01..31) {month} (name)
  // {month2} (01..12) {year} {hour} (00..23) {minute} (00..59). Times are always UTC, so the
  // pattern says so in the language's own words.
  std::string pattern = "{weekday}, {day} {month} {year} at {hour}:{minute} UTC";
};

// The keys of a dates.conf.
const std::vector<std::string>& DateConfKeys();

// A DateFormat from dates.conf text: `weekdays` (7 names, Monday first, comma-separated),
// `months` (12 names, January first) and `pattern`. INVALID_ARGUMENT naming `file` (and the line
// where there is one) for a wrong count, an empty name or an unknown {placeholder}.
absl::StatusOr<DateFormat> ParseDateFormat(absl::string_view text, absl::string_view file);

// `t` in UTC, written with `format`: "Tuesday, 21 May 2024 at 09:05 UTC" with the defaults,
// "Dienstag, 21. Mai 2024 um 09:05 UTC" with German names and pattern.
std::string FormatLocalizedTime(absl::Time t, const DateFormat& format);

// What a template tree holds.
struct LanguageTreeSpec {
  absl::string_view kind;                 // "mail template", "web template": opens each error
  std::vector<std::string> files;         // files every language has
  std::vector<std::string> shared_files;  // files outside the languages (brand.conf, style.css)
  // The keys each *.conf file of `files` must define (and the only ones it may).
  std::map<std::string, std::vector<std::string>> conf_keys;
};

// One language's files by name; a tree's languages by canonical tag.
using LanguageFiles = std::map<std::string, std::string>;
struct LanguageTree {
  std::map<std::string, LanguageFiles> languages;
  LanguageFiles shared;
};

// The shipped tree (`shipped`: "en/body.txt", "brand.conf", ...) with an operator's `dir` laid
// over it, "" for none:
//  - files directly in `dir` that are language files replace English's (the layout before
//    languages existed, so such deployments keep working); shared files replace the shipped ones;
//  - each subdirectory whose name is a BCP 47 tag (any case: "de-at" is "de-AT") is that
//    language: its files replace those of the shipped language of that tag, or else start from
//    the nearest available parent tag ("de" for "de-CH"); a language with neither must provide
//    every file. A *.conf file is merged key by key over the one it replaces.
// Every language then has every file, each valid UTF-8, each conf file every key.
//
// Errors: NOT_FOUND when `dir` is not a directory; INVALID_ARGUMENT naming the file (and line)
// for a subdirectory that is not a language tag, two spellings of one tag, a missing file or key,
// invalid UTF-8 or a malformed conf line; UNAVAILABLE when a file cannot be read.
absl::StatusOr<LanguageTree> LoadLanguageTree(EmbeddedFiles shipped, const std::string& dir,
                                              const LanguageTreeSpec& spec);

// The canonical tags of `tree`'s languages, sorted.
std::vector<std::string> LanguagesOf(const LanguageTree& tree);

// The best of `available` for an invitation's `locale` (any case; "" or malformed: English),
// falling back by subtag ("de-AT" → "de") and then to "en".
std::string ChooseLanguage(absl::string_view locale, const std::vector<std::string>& available);

// The messages.conf key of a role's name ("role.vpn_user"; "role.user" for kUnspecified), for the
// email and the page alike.
absl::string_view RoleMessageKey(Role role);

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_LOCALIZED_TEXT_H_
