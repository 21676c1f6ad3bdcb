// The registration page's HTTP/1.1 listener: one I/O thread (epoll, non-blocking sockets) reads
// requests into bounded buffers against deadlines, so slow or hostile clients cost a buffer and
// never a thread; complete requests run on a small pool of handler threads (the handler may
// block on the service), and the I/O thread writes their responses.
#ifndef SECURELINK_SERVER_WEB_WEB_SERVER_H_
#define SECURELINK_SERVER_WEB_WEB_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/web/forwarded_for.h"
#include "server/web/http.h"

namespace securelink::invitations::web {

struct WebServerOptions {
  // host:port (IPv6 as [addr]:port); port 0 picks a free one (see WebServer::port()).
  std::string address = "127.0.0.1:8080";
  // Handler threads: requests handled at once; each is busy until its handler returns.
  int threads = 8;
  // Complete requests that may wait for a busy handler thread; beyond it they are answered 503
  // at once instead of queueing without bound.
  int request_queue = 64;
  // Open connections. At the limit the longest-idle keep-alive connection makes room for a new
  // one; when none is idle, new connections are closed at once.
  int max_connections = 512;
  // A request (line, headers and body) must arrive whole within this, counted from its first
  // byte; otherwise 408 and the connection is closed. Also bounds writing a response and the
  // drain of a connection closed after an error answer.
  absl::Duration request_read_timeout = absl::Seconds(10);
  // A connection with no request in progress (fresh, or kept alive after one) is closed after
  // this long.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Request line plus headers; larger gets 431.
  size_t max_header_bytes = 16 * 1024;
  // A larger declared body is not read: the handler sees body_too_large (the site answers 413)
  // and the connection closes afterwards (the form is a few hundred bytes).
  size_t max_body_bytes = 16 * 1024;
  // Peers whose X-Forwarded-For names the client (see ClientAddress); default none.
  TrustedProxies trusted_proxies;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Told about every response the listener sends, the handler's and its own (503 when every
// handler thread is busy, 408, 431, 400 for a malformed request): the request's decoded path
// without its query ("" when the request was refused before its request line could be read; it
// may hold anything a client sent, so map it to a fixed set before it labels anything), the
// status, and how long the response took from the whole request having arrived (for a 408,
// from its first byte). Called on the I/O thread: it must be quick and must not block.
using ResponseObserver =
    std::function<void(absl::string_view path, int status, absl::Duration elapsed)>;

class WebServer {
 public:
  // Listens on options.address and serves every request with `handler` (called concurrently
  // from up to options.threads threads). INVALID_ARGUMENT for a malformed address or limits;
  // UNAVAILABLE when the address cannot be bound.
  // `observer`, when given, is told about every response (ResponseObserver).
  static absl::StatusOr<std::unique_ptr<WebServer>> Start(const WebServerOptions& options,
                                                          HttpHandler handler,
                                                          ResponseObserver observer = nullptr);
  // Stop()s.
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // The bound port (the chosen one when the address said 0).
  int port() const { return port_; }

  // Releases the port at once, closes connections with no complete request, lets the requests
  // already received finish and their responses be written (with Connection: close), then
  // returns. Idempotent; thread-safe.
  void Stop();

 private:
  class Loop;
  WebServer(std::unique_ptr<Loop> loop, int port);

  absl::Mutex stop_mu_;
  std::unique_ptr<Loop> loop_ ABSL_GUARDED_BY(stop_mu_);
  std::thread io_thread_ ABSL_GUARDED_BY(stop_mu_);
  const int port_;
};

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_WEB_SERVER_H_
