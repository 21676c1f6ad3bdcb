// The shipped default templates (server/mail/templates/), compiled in by embed_templates.cmake.
#ifndef SECURELINK_SERVER_MAIL_EMBEDDED_TEMPLATES_H_
#define SECURELINK_SERVER_MAIL_EMBEDDED_TEMPLATES_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace securelink::invitations::mail::embedded {

// Contents of templates/subject.txt, body.txt and body.html, byte for byte.
absl::string_view SubjectTxt();
absl::string_view BodyTxt();
absl::string_view BodyHtml();

}  // namespace securelink::invitations::mail::embedded

#endif  // SECURELINK_SERVER_MAIL_EMBEDDED_TEMPLATES_H_
