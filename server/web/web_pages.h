// The registration page's templates (server/web/templates/, replaceable through
// --web_template_dir like the email templates) and their rendering into complete HTML pages.
// Knows neither HTTP nor the invitation service.
#ifndef SECURELINK_SERVER_WEB_WEB_PAGES_H_
#define SECURELINK_SERVER_WEB_WEB_PAGES_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/util/embedded_files.h"

namespace securelink::invitations::web {

// The shipped page templates (server/web/templates/), compiled in.
EmbeddedFiles DefaultPageFiles();

// The pages the site shows. Each is a fragment (templates/<name>.html) placed into
// templates/layout.html's {{content}}.
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

class WebPages {
 public:
  // The compiled-in defaults (server/web/templates/).
  static WebPages Defaults();

  // The defaults, with every file present in `dir` replacing its default (so an operator may
  // replace only brand.conf or one page; a brand.conf may set only some keys). Empty `dir`: the
  // defaults. NOT_FOUND when `dir` is given but is not a directory; INVALID_ARGUMENT naming the
  // file and line for an unknown placeholder, an unclosed "{{", a malformed brand.conf line or a
  // colour that is not a plain CSS value; UNAVAILABLE when a file exists but cannot be read.
  static absl::StatusOr<WebPages> Load(const std::string& dir);

  // `page` inside the layout, with `values` and the brand.conf values filled in (escaped).
  std::string Render(Page page, const PageValues& values) const;

  // style.css with the brand colours filled in (computed once at load).
  const std::string& stylesheet() const { return stylesheet_; }
  const std::string& product_name() const;

 private:
  WebPages() = default;
  absl::Status Finish();

  std::map<std::string, std::string> files_;  // file name → template text
  std::map<std::string, std::string> brand_;  // brand.conf key → value
  std::string stylesheet_;
};

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_WEB_PAGES_H_
