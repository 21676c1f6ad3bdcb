// The registration page's templates (server/web/templates/, replaceable through
// --web_template_dir like the email templates), one set per language, and their rendering into
// complete HTML pages. Knows neither HTTP nor the invitation service.
#ifndef SECURELINK_SERVER_WEB_WEB_PAGES_H_
#define SECURELINK_SERVER_WEB_WEB_PAGES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/mail/localized_text.h"
#include "server/util/embedded_files.h"

namespace securelink::invitations::web {

// The shipped page templates (server/web/templates/), compiled in.
EmbeddedFiles DefaultPageFiles();

// The pages the site shows. Each is a fragment (templates/<lang>/<name>.html) placed into
// templates/<lang>/layout.html's {{content}}; {{lang}} in the layout is the language's tag.
enum class Page {
  kRegister,     // the form
  kSuccess,      // account created
  kExpired,      // dead links, one per reason
  kRevoked,
  kUsed,
  kInvalid,      // unknown, malformed and superseded links alike (SPEC §9)
  kRefused,      // CSRF token or Origin check failed
  kBusy,         // overload or an outside system down
  kRateLimited,
  kNotFound,
  kError,
};

// Placeholder values for one page; values are HTML-escaped when inserted.
using PageValues = std::map<std::string, std::string>;

// The keys of a page messages.conf: the words the site's code puts into pages.
const std::vector<std::string>& PageMessageKeys();

class WebPages {
 public:
  // The compiled-in defaults (server/web/templates/).
  static WebPages Defaults();

  // The defaults (en, de, fr) with an operator's `dir` laid over them as
  // mail::LoadLanguageTree describes: brand.conf and style.css directly in `dir` replace the
  // shipped ones (a brand.conf may set only some keys), other files directly in `dir` replace
  // English's, a subdirectory named by a BCP 47 tag is that language (its pages, layout.html,
  // messages.conf, dates.conf). Empty `dir`: the defaults. NOT_FOUND when `dir` is given but is
  // not a directory; INVALID_ARGUMENT naming the file and line for an unknown placeholder, an
  // unclosed "{{", a malformed conf line, a missing file or key of a language, or a colour that
  // is not a plain CSS value; UNAVAILABLE when a file exists but cannot be read.
  static absl::StatusOr<WebPages> Load(const std::string& dir);

  // The language used for an invitation's `locale`: the best available match by subtag
  // ("de-AT" → "de"), else "en".
  std::string LanguageFor(absl::string_view locale) const;

  // The canonical tags of the languages, sorted.
  std::vector<std::string> Languages() const;

  // `page` in `language` (as LanguageFor returns it) inside its layout, with `values` and the
  // brand.conf values filled in (escaped).
  std::string Render(Page page, const PageValues& values,
                     absl::string_view language = mail::kDefaultLanguage) const;

  // Message `key` (PageMessageKeys) of `language`, each {name} in it replaced by args[name];
  // nothing is escaped (Render does that).
  std::string Message(absl::string_view language, absl::string_view key,
                      const std::map<std::string, std::string>& args = {}) const;

  // `t` written with `language`'s dates.conf.
  std::string FormatTime(absl::string_view language, absl::Time t) const;

  // style.css with the brand colours filled in (computed once at load).
  const std::string& stylesheet() const { return stylesheet_; }
  const std::string& product_name() const;

 private:
  WebPages() = default;
  // Checks language `tag`'s templates against the placeholders each may use.
  absl::Status Finish(const std::string& tag);

  struct Language {
    std::map<std::string, std::string> files;     // file name → template text
    std::map<std::string, std::string> messages;  // messages.conf
    mail::DateFormat dates;
  };
  const Language& LanguageOf(absl::string_view language) const;

  std::map<std::string, Language> languages_;  // by canonical tag; always has "en"
  std::map<std::string, std::string> brand_;   // brand.conf key → value
  std::string stylesheet_;
};

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_WEB_PAGES_H_
