// HttpClient over libcurl, keeping connections alive between requests so that the handful of
// calls one accept makes to the identity provider share one TCP (and TLS) handshake.
#ifndef SECURELINK_SERVER_HTTP_CURL_HTTP_CLIENT_H_
#define SECURELINK_SERVER_HTTP_CURL_HTTP_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/http_client.h"

namespace securelink::invitations::http {

// The limits and TLS settings of one client; every field has a usable default.
struct CurlHttpClientOptions {
  // TCP (+TLS) connect bound of each request; the request's own timeout also bounds it.
  absl::Duration connect_timeout = absl::Seconds(3);
  // Cap on a response's status line, headers and body together: a misbehaving or hostile peer
  // cannot make the process buffer more than this per request (RESOURCE_EXHAUSTED beyond).
  size_t max_response_bytes = 4 << 20;
  // PEM bundle to verify servers' certificates with; empty: the system's CA store. Peer and
  // host name are always verified.
  std::string ca_file;
  // Idle connections kept open for the next request. A request finding none idle opens a new
  // one; past this many idle, the surplus is closed. Size it to the number of threads that
  // call concurrently (the accept saga's workers); 0 disables keep-alive.
  size_t max_idle_connections = 4;
  // A kept connection idle longer than this is closed instead of reused. Below the 60 s idle
  // timeout common in load balancers in front of an identity provider, so that this side, not
  // the peer, closes it: a peer closing just as a request goes out is what forces a POST to fail
  // instead of being resent (see HttpClient::Send).
  absl::Duration max_idle_time = absl::Seconds(50);
  std::string user_agent = "securelink-invitations";
};

// Thread-safe. A pool of libcurl easy handles, each owning at most one open connection; a
// request takes the most recently used idle handle (whose connection is the likeliest to be
// warm), so consecutive requests of one thread travel on one connection. No redirects; only
// http and https.
class CurlHttpClient final : public HttpClient {
 public:
  // Initialises libcurl (InitLibcurl) and checks `options`: INVALID_ARGUMENT naming the bad
  // option, FAILED_PRECONDITION if libcurl cannot be initialised. Opens no connection.
  static absl::StatusOr<std::unique_ptr<CurlHttpClient>> Create(CurlHttpClientOptions options);

  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;
  // Closes every idle connection. No Send may be in progress.
  ~CurlHttpClient() override;

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;

 private:
  explicit CurlHttpClient(CurlHttpClientOptions options) : options_(std::move(options)) {}

  // An idle handle, or a new one (nullptr if libcurl cannot make one).
  void* AcquireHandle();
  // Back to the idle pool, or closed when the pool is full.
  void ReleaseHandle(void* handle);

  const CurlHttpClientOptions options_;
  absl::Mutex mu_;
  // CURL* (void* keeps <curl/curl.h> out of this header); the back is the most recently used.
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace securelink::invitations::http

#endif  // SECURELINK_SERVER_HTTP_CURL_HTTP_CLIENT_H_
