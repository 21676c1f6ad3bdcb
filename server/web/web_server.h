// The registration page's HTTP listener: civetweb (Debian's libcivetweb, the library
// prometheus-cpp's exposer already uses) with a fixed number of threads and a bounded queue of
// accepted connections, handing every request to one handler function.
#ifndef SECURELINK_SERVER_WEB_WEB_SERVER_H_
#define SECURELINK_SERVER_WEB_WEB_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/web/http.h"

struct mg_context;
struct mg_connection;

namespace securelink::invitations::web {

struct WebServerOptions {
  // host:port; port 0 picks a free one (see WebServer::port()).
  std::string address = "127.0.0.1:8080";
  // Requests handled at once; each blocks its thread until the handler returns.
  int threads = 8;
  // Accepted connections waiting for a thread; beyond it the listener stops accepting and
  // the kernel's backlog holds further ones.
  int connection_queue = 64;
  // Larger bodies get 413 without reaching the handler (the form is a few hundred bytes).
  size_t max_body_bytes = 16 * 1024;
  // Idle keep-alive connections are closed after this long.
  int request_timeout_ms = 30000;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class WebServer {
 public:
  // Listens on options.address and serves every request with `handler` (called concurrently
  // from up to options.threads threads). INVALID_ARGUMENT for a malformed address;
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<WebServer>> Start(const WebServerOptions& options,
                                                          HttpHandler handler);
  // Stop()s.
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // The bound port (the chosen one when the address said 0).
  int port() const { return port_; }

  // Stops accepting, waits for in-flight requests, releases the port. Idempotent.
  void Stop();

 private:
  WebServer(WebServerOptions options, HttpHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}
  static int HandleRequest(::mg_connection* conn, void* self);

  const WebServerOptions options_;
  const HttpHandler handler_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_WEB_SERVER_H_
