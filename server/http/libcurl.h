// libcurl's process-wide initialisation, in one place for every part of the process that uses
// libcurl (the HTTP client, the SMTP mail sender, test helpers).
#ifndef SECURELINK_SERVER_HTTP_LIBCURL_H_
#define SECURELINK_SERVER_HTTP_LIBCURL_H_

#include "absl/status/status.h"

namespace securelink::invitations::http {

// Runs curl_global_init(CURL_GLOBAL_DEFAULT) the first time it is called, and returns its
// outcome then and on every later call: OK, or FAILED_PRECONDITION naming libcurl's error.
// Thread-safe; call it before creating any libcurl handle. Never undone: curl_global_cleanup
// at exit would race threads still finishing a transfer, and the OS reclaims everything anyway.
absl::Status InitLibcurl();

}  // namespace securelink::invitations::http

#endif  // SECURELINK_SERVER_HTTP_LIBCURL_H_
