// The HTTP request and response as the registration site sees them, independent of the server
// library that carries them (web_server.h).
#ifndef SECURELINK_SERVER_WEB_HTTP_H_
#define SECURELINK_SERVER_WEB_HTTP_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace securelink::invitations::web {

struct HttpRequest {
  std::string method;          // "GET", "POST", …
  std::string path;            // decoded, without the query string
  std::string query;           // raw (still percent-encoded), without '?'; may hold a token
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The client's address, no port: the TCP peer's, or behind trusted proxies the one their
  // X-Forwarded-For names (ClientAddress in forwarded_for.h). What the rate limit keys on.
  std::string client_address;
  bool tls = false;            // arrived over TLS on this listener (never, today: plain HTTP)
  bool body_too_large = false;  // the body exceeded the listener's limit and was dropped

  // The first header named `name` (lower case), or "" when absent.
  absl::string_view Header(absl::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// The value of `name` in an application/x-www-form-urlencoded string (a query or a form body),
// decoded ('+' is a space); "" when absent. The first occurrence wins.
std::string FormValue(absl::string_view encoded, absl::string_view name);

// The value of cookie `name` in a Cookie header, or "" when absent.
std::string CookieValue(absl::string_view cookie_header, absl::string_view name);

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_HTTP_H_
