// HTTP/1.1 on the wire, without I/O: finding and parsing a request head in received bytes, and
// the bytes of a response. The listener (web_server.cc) owns the sockets and the deadlines.
#ifndef SECURELINK_SERVER_WEB_HTTP_WIRE_H_
#define SECURELINK_SERVER_WEB_HTTP_WIRE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/web/http.h"

namespace securelink::invitations::web {

// A parsed request line and header section.
struct RequestHead {
  std::string method;
  std::string path;   // percent-decoded, without the query
  std::string query;  // raw, without '?'
  int minor_version = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  size_t content_length = 0;
  bool keep_alive = true;        // what the client asked for (version and Connection header)
  bool expect_continue = false;  // "Expect: 100-continue"
};

// The outcome of parsing a head: the head, or the HTTP status the request must be refused with
// (400, 411, 417, 431, 505) and a short explanation for the response body. A status rather than
// an absl::Status because the listener answers with exactly that code, which canonical codes do
// not name one-to-one.
struct ParsedHead {
  std::optional<RequestHead> head;
  int error_status = 0;
  std::string error;
};

// Where the request head at the start of `buffer` ends (just past its empty line), or npos when
// it has not all arrived. `scan_from` carries the search position across calls on a growing
// buffer (start at 0), so a client sending one byte at a time costs linear work, not quadratic.
size_t FindHeadEnd(absl::string_view buffer, size_t& scan_from);

// Parses `head` (request line and header lines, through the empty line). Bare LF line ends are
// accepted; obsolete line folding, a missing Host in HTTP/1.1, Transfer-Encoding (request bodies
// must carry Content-Length), conflicting Content-Lengths and more than `max_headers` header
// lines are refused.
ParsedHead ParseRequestHead(absl::string_view head, size_t max_headers = 100);

// The standard reason phrase of `status` ("Not Found"); "Unknown" for codes not listed.
absl::string_view ReasonPhrase(int status);

// The bytes of `response`. The framing headers (Content-Length, Connection, Transfer-Encoding,
// Date) are ours: the handler's own are dropped, as is any header with CR or LF in it. With
// `head_only` (a HEAD request) the body is left out but Content-Length still names its size.
// `keep_alive` false adds "Connection: close"; true for an HTTP/1.0 client (`minor_version`
// 0) adds "Connection: keep-alive".
std::string SerializeResponse(const HttpResponse& response, bool head_only, bool keep_alive,
                              int minor_version, absl::Time now);

// A short plain-text answer the listener gives on its own (a malformed or overdue request, an
// overload), with the headers that keep a browser from sniffing or caching it.
HttpResponse PlainResponse(int status, absl::string_view message);

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_HTTP_WIRE_H_
