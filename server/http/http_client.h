// The seam for outbound HTTP (the identity provider's Admin API, its JWKS document): a request
// value, a response value and one call. curl_http_client.h implements it over libcurl with
// kept-alive connections; nothing here knows libcurl.
#ifndef SECURELINK_SERVER_HTTP_HTTP_CLIENT_H_
#define SECURELINK_SERVER_HTTP_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::invitations::http {

// ErrorInfo reasons (domain/errors.h ReasonedError) on the UNAVAILABLE statuses of Send, so a
// caller can say "did not answer in time" apart from "could not be reached" without parsing.
//
// The whole exchange took longer than HttpRequest::timeout (or the connect timeout).
inline constexpr absl::string_view kReasonHttpTimeout = "HTTP_TIMEOUT";
// Anything else between sending and a complete answer: DNS, connection refused or reset, TLS,
// the peer closing without an answer.
inline constexpr absl::string_view kReasonHttpTransport = "HTTP_TRANSPORT_FAILED";

struct HttpRequest {
  // GET, HEAD, POST, PUT, PATCH or DELETE.
  std::string method = "GET";
  // http:// or https:// only. Its query never appears in an error message (it may carry
  // personal data such as an email address being looked up).
  std::string url;
  // Extra header lines, e.g. {"Content-Type", "application/json"}. Names and values must not
  // contain line breaks.
  std::vector<std::pair<std::string, std::string>> headers;
  // Sent as is with every method but GET and HEAD (which must have none).
  std::string body;
  // Non-empty: sent as "Authorization: Bearer <token>". Never logged, never in an error.
  std::string bearer_token;
  // Bound on the whole exchange: connecting, sending, waiting, reading. Positive and finite.
  absl::Duration timeout = absl::Seconds(10);
};

struct HttpResponse {
  int status = 0;  // 100..599; any status is a response, not an error
  std::string body;
  // Header fields of the final response, names lower-cased; a repeated field keeps its last
  // value (enough for Location, Content-Type, Retry-After).
  std::map<std::string, std::string> headers;

  // The value of header `name` (any case), or "" when absent.
  std::string Header(absl::string_view name) const;
};

// Sends HTTP requests. Implementations are thread-safe: any number of threads may call Send at
// once.
class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // One request/response exchange. No redirects are followed: a 3xx is returned like any other
  // status.
  //
  // Errors:
  //   INVALID_ARGUMENT   the request itself is unusable (URL scheme, method, a line break in a
  //                      header, a body on GET, a non-positive timeout); nothing was sent.
  //   UNAVAILABLE        transport failure (reasons kReasonHttpTimeout, kReasonHttpTransport).
  //                      A POST or PATCH is never sent twice: when a kept-alive connection
  //                      turns out dead without an answer, the request fails here and the
  //                      caller decides; GET, HEAD, PUT and DELETE are idempotent (RFC 9110
  //                      §9.2.2) and are then resent once on a new connection.
  //   RESOURCE_EXHAUSTED the response (status line, headers and body) exceeds the client's
  //                      size cap; the transfer was cut off.
  // Messages name the method and the URL without its query, never headers or bodies.
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

}  // namespace securelink::invitations::http

#endif  // SECURELINK_SERVER_HTTP_HTTP_CLIENT_H_
