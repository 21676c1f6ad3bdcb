#include "server/web/web_server.h"

#include <civetweb.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/util/log.h"

namespace securelink::invitations::web {
namespace {

// civetweb's own messages may quote a request line; cut anything after '?' so a registration
// token can never reach the log.
int LogCivetMessage(const struct mg_connection*, const char* message) {
  std::string text(message == nullptr ? "" : message);
  if (size_t q = text.find('?'); q != std::string::npos) text.resize(q);
  Log(LogLevel::kWarning, "web server", {{"detail", text}});
  return 1;  // handled: civetweb writes nothing itself
}

// "host:port" → civetweb's listening_ports syntax ("host:port", "[v6]:port").
absl::StatusOr<std::string> ListeningPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--web_address must be host:port (port 0: any free port), not '", address,
                     "'"));
  }
  return address;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebServer>> WebServer::Start(const WebServerOptions& options,
                                                            HttpHandler handler) {
  absl::StatusOr<std::string> ports = ListeningPort(options.address);
  if (!ports.ok()) return ports.status();
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  auto server = std::unique_ptr<WebServer>(new WebServer(options, std::move(handler)));
  const std::string threads = absl::StrCat(options.threads);
  const std::string queue = absl::StrCat(options.connection_queue);
  const std::string timeout = absl::StrCat(options.request_timeout_ms);
  const char* config[] = {"listening_ports", ports->c_str(),
                          "num_threads", threads.c_str(),
                          "connection_queue", queue.c_str(),
                          "request_timeout_ms", timeout.c_str(),
                          "enable_keep_alive", "yes",
                          // Headers and body go out in two writes; without this, Nagle's
                          // algorithm and the client's delayed ACK add ~40 ms to every answer.
                          "tcp_nodelay", "1",
                          // No document root: nothing but the handler is ever served.
                          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &LogCivetMessage;
  server->context_ = mg_start(&callbacks, server.get(), config);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address, " (in use, or not a local address)"));
  }
  mg_set_request_handler(server->context_, "/", &WebServer::HandleRequest, server.get());
  mg_server_port bound[4];
  const int n = mg_get_server_ports(server->context_, 4, bound);
  if (n < 1) {
    server->Stop();
    return absl::InternalError("the web listener reports no bound port");
  }
  server->port_ = bound[0].port;
  return server;
}

WebServer::~WebServer() { Stop(); }

void WebServer::Stop() {
  if (context_ != nullptr) {
    mg_stop(context_);
    context_ = nullptr;
  }
}

int WebServer::HandleRequest(struct mg_connection* conn, void* self_ptr) {
  auto* self = static_cast<WebServer*>(self_ptr);
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest request;
  request.method = info->request_method != nullptr ? info->request_method : "";
  request.path = info->local_uri != nullptr ? info->local_uri : "/";
  request.query = info->query_string != nullptr ? info->query_string : "";
  request.client_address = info->remote_addr;
  request.tls = info->is_ssl != 0;
  for (int i = 0; i < info->num_headers; ++i) {
    request.headers.emplace_back(absl::AsciiStrToLower(info->http_headers[i].name),
                                 info->http_headers[i].value);
  }
  if (info->content_length > static_cast<long long>(self->options_.max_body_bytes)) {
    request.body_too_large = true;
  } else {
    char buffer[4096];
    for (;;) {
      const int got = mg_read(conn, buffer, sizeof buffer);
      if (got <= 0) break;
      request.body.append(buffer, static_cast<size_t>(got));
      if (request.body.size() > self->options_.max_body_bytes) {
        request.body_too_large = true;
        request.body.clear();
        break;
      }
    }
  }
  const HttpResponse response = self->handler_(request);

  // civetweb adds Date and Connection; keep-alive needs the Content-Length.
  mg_response_header_start(conn, response.status);
  for (const auto& [name, value] : response.headers) {
    mg_response_header_add(conn, name.c_str(), value.c_str(), -1);
  }
  const std::string length = absl::StrCat(response.body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_send(conn);
  if (request.method != "HEAD" && !response.body.empty()) {
    mg_write(conn, response.body.data(), response.body.size());
  }
  // The path only: the query string carries the registration token.
  Log(LogLevel::kInfo, "http request",
      {{"method", request.method}, {"path", request.path},
       {"status", absl::StrCat(response.status)}});
  return response.status;
}

}  // namespace securelink::invitations::web
