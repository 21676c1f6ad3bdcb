// The shipped default page templates (server/web/templates/), compiled in by
// server/mail/embed_templates.cmake.
#ifndef SECURELINK_SERVER_WEB_EMBEDDED_TEMPLATES_H_
#define SECURELINK_SERVER_WEB_EMBEDDED_TEMPLATES_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace securelink::invitations::web::embedded {

// Contents of the file of the same name in templates/, byte for byte.
absl::string_view BrandConf();
absl::string_view LayoutHtml();
absl::string_view StyleCss();
absl::string_view RegisterHtml();
absl::string_view SuccessHtml();
absl::string_view ExpiredHtml();
absl::string_view RevokedHtml();
absl::string_view UsedHtml();
absl::string_view InvalidHtml();
absl::string_view RefusedHtml();
absl::string_view BusyHtml();
absl::string_view RateLimitedHtml();
absl::string_view NotFoundHtml();
absl::string_view ErrorHtml();

}  // namespace securelink::invitations::web::embedded

#endif  // SECURELINK_SERVER_WEB_EMBEDDED_TEMPLATES_H_
