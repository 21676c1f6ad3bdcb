#include "server/http/curl_http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/domain/errors.h"
#include "server/http/libcurl.h"

// CURLOPT_PREREQFUNCTION is what keeps a POST from being sent twice (OnAboutToSend).
#if LIBCURL_VERSION_NUM < 0x075000
#error "libcurl 7.80.0 or later is required (CURLOPT_PREREQFUNCTION)"
#endif

namespace securelink::invitations::http {
namespace {

// What one transfer's callbacks share with Send.
struct Transfer {
  HttpResponse* response;
  size_t max_bytes;
  size_t received = 0;  // status lines, headers and body so far
  bool overflow = false;
  bool resendable = false;  // the method is idempotent
  int attempts = 0;         // times libcurl was about to send the request
  bool refused_resend = false;

  // False (and marks the overflow) when `n` more bytes would pass the cap.
  bool Admit(size_t n) {
    if (received + n > max_bytes) {
      overflow = true;
      return false;
    }
    received += n;
    return true;
  }
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (!transfer->Admit(n)) return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  transfer->response->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (!transfer->Admit(n)) return 0;
  absl::string_view line(data, n);
  if (absl::StartsWith(line, "HTTP/")) {
    transfer->response->headers.clear();  // the start of another response (after a 1xx)
    return n;
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) return n;  // blank line, obsolete fold
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  transfer->response->headers[std::move(name)] =
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  return n;
}

// libcurl calls this each time it is about to send the request: a second call within one
// transfer is libcurl resending it on a new connection because a reused one died unanswered.
// The server may have acted on the first copy, so only idempotent requests may go again.
int OnAboutToSend(void* user, char* /*remote_ip*/, char* /*local_ip*/, int /*remote_port*/,
                  int /*local_port*/) {
  auto* transfer = static_cast<Transfer*>(user);
  if (++transfer->attempts > 1 && !transfer->resendable) {
    transfer->refused_resend = true;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

bool HasLineBreak(absl::string_view s) {
  return s.find_first_of("\r\n") != absl::string_view::npos || absl::StrContains(s, '\0');
}

bool IsIdempotent(absl::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
}

// The URL as errors may show it: without userinfo, query or fragment.
std::string UrlForMessages(absl::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return std::string(url);
  absl::string_view scheme = url.substr(0, scheme_end + 3);
  absl::string_view rest = url.substr(scheme_end + 3);
  absl::string_view authority = rest.substr(0, rest.find('/'));
  size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) rest.remove_prefix(at + 1);
  return absl::StrCat(scheme, rest);
}

// Plain INVALID_ARGUMENT, without the field-violation details of domain/errors.h: the request
// is this process's own, and a caller passing the status on must not blame its own caller.
absl::Status Unusable(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("HTTP request ", field, " ", problem));
}

absl::Status CheckRequest(const HttpRequest& request) {
  const std::string& m = request.method;
  if (m != "GET" && m != "HEAD" && m != "POST" && m != "PUT" && m != "PATCH" && m != "DELETE") {
    return Unusable("method", "must be GET, HEAD, POST, PUT, PATCH or DELETE");
  }
  absl::string_view url = request.url;
  if (!absl::ConsumePrefix(&url, "http://") && !absl::ConsumePrefix(&url, "https://")) {
    return Unusable("url", "must be an http:// or https:// URL");
  }
  if (url.empty() || url.front() == '/' || HasLineBreak(url) || absl::StrContains(url, ' ')) {
    return Unusable("url", "has no host, or contains blanks or line breaks");
  }
  if ((m == "GET" || m == "HEAD") && !request.body.empty()) {
    return Unusable("body", absl::StrCat("must be empty for ", m));
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty() || HasLineBreak(name) || absl::StrContains(name, ':') ||
        HasLineBreak(value)) {
      // Neither is repeated: a value may be a credential, a broken name may hold one.
      return Unusable("headers", "hold an empty or malformed name, or a line break");
    }
  }
  if (HasLineBreak(request.bearer_token) || absl::StrContains(request.bearer_token, ' ')) {
    return Unusable("bearer_token", "must not contain blanks or line breaks");
  }
  if (request.timeout <= absl::ZeroDuration() || request.timeout == absl::InfiniteDuration()) {
    return Unusable("timeout", "must be positive and finite");
  }
  return absl::OkStatus();
}

long Millis(absl::Duration d) {
  // libcurl reads 0 as "no timeout": never round a positive bound down to it.
  return std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(d)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CurlHttpClient>> CurlHttpClient::Create(
    CurlHttpClientOptions options) {
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.connect_timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("HTTP client connect_timeout must be positive and finite");
  }
  if (options.max_response_bytes == 0) {
    return absl::InvalidArgumentError("HTTP client max_response_bytes must be positive");
  }
  if (options.max_idle_time <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTP client max_idle_time must be positive");
  }
  absl::Status init = InitLibcurl();
  if (!init.ok()) return init;
  return std::unique_ptr<CurlHttpClient>(new CurlHttpClient(std::move(options)));
}

CurlHttpClient::~CurlHttpClient() {
  absl::MutexLock lock(&mu_);
  for (void* handle : idle_) curl_easy_cleanup(handle);
  idle_.clear();
}

void* CurlHttpClient::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void CurlHttpClient::ReleaseHandle(void* handle) {
  // Forgets this request's options (and pointers into its buffers) but keeps the connection.
  curl_easy_reset(handle);
  {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < options_.max_idle_connections) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);  // closes its connection; outside the lock, it may take a moment
}

absl::StatusOr<HttpResponse> CurlHttpClient::Send(const HttpRequest& request) {
  absl::Status usable = CheckRequest(request);
  if (!usable.ok()) return usable;
  const std::string what = absl::StrCat(request.method, " ", UrlForMessages(request.url));

  CURL* h = AcquireHandle();
  if (h == nullptr) return absl::InternalError("libcurl could not create a handle");
  HttpResponse response;
  Transfer transfer{&response, options_.max_response_bytes};
  transfer.resendable = IsIdempotent(request.method);
  char error_buffer[CURL_ERROR_SIZE] = {0};

  // The lines outlive the transfer: libcurl keeps pointers to them until the reset.
  std::vector<std::string> lines;
  lines.reserve(request.headers.size() + 3);
  lines.emplace_back("Expect:");  // no 100-continue round trip before a body
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    has_content_type |= absl::EqualsIgnoreCase(name, "Content-Type");
    lines.push_back(absl::StrCat(name, ": ", value));
  }
  // libcurl would otherwise label a bodiless PUT or DELETE as a form.
  if (!has_content_type && request.body.empty()) lines.emplace_back("Content-Type:");
  if (!request.bearer_token.empty()) {
    lines.push_back(absl::StrCat("Authorization: Bearer ", request.bearer_token));
  }
  curl_slist* list = nullptr;
  for (const std::string& line : lines) list = curl_slist_append(list, line.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list,
                                                                          &curl_slist_free_all);

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // required for timeouts in multi-threaded use
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, Millis(options_.connect_timeout));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, Millis(request.timeout));
  // One kept connection per handle: the pool size is then the bound on idle connections.
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
  curl_easy_setopt(h, CURLOPT_MAXAGE_CONN,
                   std::max<long>(1, absl::ToInt64Seconds(options_.max_idle_time)));
  curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, &OnAboutToSend);
  curl_easy_setopt(h, CURLOPT_PREREQDATA, &transfer);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());

  if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }

  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  ReleaseHandle(h);

  if (transfer.overflow) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": the response exceeds ", options_.max_response_bytes, " bytes"));
  }
  if (transfer.refused_resend) {
    return ReasonedError(
        absl::StatusCode::kUnavailable,
        absl::StrCat(what, ": the connection closed before an answer; not resent, since the "
                           "server may have acted on it"),
        kReasonHttpTransport);
  }
  if (rc != CURLE_OK) {
    const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return ReasonedError(absl::StatusCode::kUnavailable,
                           absl::StrCat(what, ": timed out (", detail, ")"), kReasonHttpTimeout);
    }
    return ReasonedError(absl::StatusCode::kUnavailable, absl::StrCat(what, ": ", detail),
                         kReasonHttpTransport);
  }
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace securelink::invitations::http
