#include "server/http/libcurl.h"

#include <curl/curl.h>

#include "absl/base/call_once.h"
#include "absl/strings/str_cat.h"

namespace securelink::invitations::http {

absl::Status InitLibcurl() {
  // Before libcurl 7.84 curl_global_init was not thread-safe at all, and it is still not safe
  // against threads using libcurl meanwhile: hence once, here, for the whole process.
  static absl::once_flag once;
  static CURLcode result = CURLE_OK;
  absl::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return absl::FailedPreconditionError(
        absl::StrCat("libcurl could not be initialised (curl_global_init: ",
                     curl_easy_strerror(result), ")"));
  }
  return absl::OkStatus();
}

}  // namespace securelink::invitations::http
