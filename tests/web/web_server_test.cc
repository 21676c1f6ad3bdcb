// The registration page's listener over real loopback sockets: slow clients cannot starve it,
// overdue requests are released, limits answer 431/413/503, keep-alive and HEAD behave as HTTP/1.1
// says, and Stop() lets a request in flight finish.
#include "server/web/web_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/wait.h"

namespace securelink::invitations::web {
namespace {

using ::securelink::testing::WaitFor;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

int ConnectTo(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A plain blocking HTTP/1.1 client on one connection, reading with deadlines.
class Client {
 public:
  explicit Client(int port) : fd_(ConnectTo(port)) {}
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool Send(absl::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  // Whether something (data, end of stream or a reset) is ready to read within `timeout`.
  bool Readable(absl::Duration timeout) {
    if (!buffered_.empty()) return true;
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1;
  }

  // The next response (interim 1xx ones included); nullopt when the connection ends first or
  // nothing complete arrives within `timeout`. `head` marks the answer to a HEAD request.
  std::optional<Response> Read(bool head = false, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time give_up = absl::Now() + timeout;
    size_t end;
    while ((end = buffered_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(give_up)) return std::nullopt;
    }
    Response r;
    std::vector<std::string> lines = absl::StrSplit(buffered_.substr(0, end), "\r\n");
    std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (status_line.size() < 2 || !absl::SimpleAtoi(status_line[1], &r.status)) {
      return std::nullopt;
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      std::pair<std::string, std::string> kv = absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
      r.headers[absl::AsciiStrToLower(kv.first)] =
          std::string(absl::StripAsciiWhitespace(kv.second));
    }
    buffered_.erase(0, end + 4);
    size_t length = 0;
    if (!head && r.status >= 200 && r.headers.count("content-length") &&
        absl::SimpleAtoi(r.headers["content-length"], &length)) {
      while (buffered_.size() < length) {
        if (!Fill(give_up)) return std::nullopt;
      }
      r.body = buffered_.substr(0, length);
      buffered_.erase(0, length);
    }
    return r;
  }

  // Whether the server ends the connection (end of stream or reset) within `timeout`, with
  // nothing but at most the bytes in `*seen` arriving before.
  bool WaitForClose(absl::Duration timeout, std::string* seen = nullptr) {
    const absl::Time give_up = absl::Now() + timeout;
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      const int64_t left = absl::ToInt64Milliseconds(give_up - absl::Now());
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) != 1) return false;
      char buffer[4096];
      const ssize_t got = recv(fd_, buffer, sizeof buffer, 0);
      if (got == 0 || (got < 0 && errno == ECONNRESET)) return true;
      if (got < 0) return false;
      if (seen != nullptr) seen->append(buffer, static_cast<size_t>(got));
    }
  }

  // Bytes still unread after the last response.
  const std::string& leftover() const { return buffered_; }

 private:
  bool Fill(absl::Time give_up) {
    pollfd p{fd_, POLLIN, 0};
    const int64_t left = absl::ToInt64Milliseconds(give_up - absl::Now());
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) != 1) return false;
    char buffer[16384];
    const ssize_t got = recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) return false;
    buffered_.append(buffer, static_cast<size_t>(got));
    return true;
  }

  int fd_;
  std::string buffered_;
};

std::string Get(absl::string_view path, absl::string_view extra_headers = "") {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: test\r\n", extra_headers, "\r\n");
}

// Answers with the path (and the body, for a POST), or 413 for a body the listener refused to
// read, as the registration site does.
HttpResponse Echo(const HttpRequest& request) {
  HttpResponse response;
  if (request.body_too_large) {
    response.status = 413;
    response.body = absl::StrCat("too large; body seen: ", request.body.size());
    return response;
  }
  response.headers.emplace_back("Content-Type", "text/plain");
  response.body = absl::StrCat(request.method, " ", request.path, " ", request.body);
  return response;
}

std::unique_ptr<WebServer> StartServer(WebServerOptions options, HttpHandler handler = Echo) {
  options.address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<WebServer>> server =
      WebServer::Start(options, std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// A handler that holds every request until released, counting those it holds.
struct GatedHandler {
  std::atomic<int> entered{0};
  absl::Notification release;
  HttpHandler handler() {
    return [this](const HttpRequest& request) {
      ++entered;
      release.WaitForNotification();
      return Echo(request);
    };
  }
};

// Clients sending a request that never ends, one byte per connection every 200 ms.
class Tricklers {
 public:
  Tricklers(int port, int connections) {
    for (int i = 0; i < connections; ++i) {
      clients_.push_back(std::make_unique<Client>(port));
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Tricklers() {
    stop_.Notify();
    thread_.join();
  }
  // Rounds in which every connection sent its next byte.
  int rounds() const { return rounds_.load(); }

 private:
  void Run() {
    // Longer than any test lasts at 5 bytes a second: the request is never complete.
    const std::string request =
        absl::StrCat("GET /slow HTTP/1.1\r\nHost: test\r\nX-Pad: ", std::string(4000, 'a'));
    for (size_t next = 0; next < request.size(); ++next) {
      for (auto& client : clients_) client->Send(request.substr(next, 1));
      ++rounds_;
      // The pacing is the behaviour under test (a trickle), not a wait for a condition.
      if (stop_.WaitForNotificationWithTimeout(absl::Milliseconds(200))) return;
    }
  }

  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<int> rounds_{0};
  absl::Notification stop_;
  std::thread thread_;
};

// SPEC §10: "50 connections trickling bytes leave a normal GET answered within a second". The
// bound is the contract itself, so it is asserted as stated; the work it measures (one loopback
// exchange beside 50 idle-ish sockets) takes milliseconds, so a slow CI machine is not near it.
// Only the address is set: the defaults are what production runs.
TEST(WebServer, FiftyTricklingConnectionsLeaveAGetAnsweredWithinASecond) {
  WebServerOptions options;
  std::unique_ptr<WebServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Tricklers tricklers(server->port(), 50);
  ASSERT_TRUE(WaitFor([&] { return tricklers.rounds() >= 3; }));

  const absl::Time start = absl::Now();
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Get("/register")));
  std::optional<Response> response = client.Read(false, absl::Seconds(10));
  const absl::Duration took = absl::Now() - start;

  ASSERT_TRUE(response.has_value()) << "no answer while 50 connections trickle";
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /register ");
  EXPECT_LT(took, absl::Seconds(1));
}

TEST(WebServer, ATricklerIsReleasedOnceTheReadTimeoutPasses) {
  WebServerOptions options;
  options.request_read_timeout = absl::Seconds(1);
  std::unique_ptr<WebServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  const std::string request = Get("/slow", absl::StrCat("X-Pad: ", std::string(400, 'a'), "\r\n"));
  const absl::Time first_byte = absl::Now();
  size_t next = 0;
  // One byte every 200 ms until the server says something or closes (the pacing is the
  // behaviour under test; the loop ends on the server's event).
  while (next < request.size() && !client.Readable(absl::Milliseconds(200))) {
    ASSERT_LT(absl::Now() - first_byte, absl::Seconds(20)) << "never released";
    client.Send(request.substr(next++, 1));
  }
  const absl::Duration held = absl::Now() - first_byte;
  ASSERT_LT(next, request.size()) << "the whole request went through";
  std::string seen;
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10), &seen));
  // Either a 408 and the close, or (if our byte crossed the 408 on the wire) a reset.
  if (!seen.empty()) {
    EXPECT_TRUE(absl::StartsWith(seen, "HTTP/1.1 408 ")) << seen;
  }
  // The request is given its whole read timeout, counted from its first byte.
  EXPECT_GE(held, absl::Seconds(1));
}

TEST(WebServer, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  WebServerOptions options;
  options.idle_timeout = absl::Milliseconds(500);
  std::unique_ptr<WebServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_TRUE(client.Send(Get("/one")));
  ASSERT_TRUE(client.Read().has_value());
  std::string seen;
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10), &seen));
  EXPECT_EQ(seen, "");
}

TEST(WebServer, OversizeHeadersGet431) {
  std::unique_ptr<WebServer> server = StartServer({});
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_TRUE(client.Send(Get("/", absl::StrCat("X-Big: ", std::string(20 * 1024, 'a'), "\r\n"))));
  std::optional<Response> response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
}

TEST(WebServer, OversizeBodyIsNotReadAndTheHandlerAnswers413) {
  std::unique_ptr<WebServer> server = StartServer({});  // max_body_bytes 16 KiB
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  const std::string body(100000, 'x');
  // The whole body goes out before the answer is read, as http.client and browsers do: the
  // listener must drain it rather than reset the connection under the answer.
  ASSERT_TRUE(client.Send(absl::StrCat("POST /register HTTP/1.1\r\nHost: test\r\n"
                                       "Content-Length: ", body.size(), "\r\n\r\n", body)));
  std::optional<Response> response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->body, "too large; body seen: 0");
  EXPECT_EQ(response->headers["connection"], "close");
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
}

TEST(WebServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::unique_ptr<WebServer> server = StartServer({});
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_TRUE(client.Send(Get("/one")));
  std::optional<Response> one = client.Read();
  ASSERT_TRUE(client.Send(absl::StrCat("POST /two HTTP/1.1\r\nHost: test\r\n"
                                       "Content-Length: 7\r\n\r\na=1&b=2")));
  std::optional<Response> two = client.Read();
  // Pipelined: both requests in one write, answered in order.
  ASSERT_TRUE(client.Send(absl::StrCat(Get("/three"), Get("/four", "Connection: close\r\n"))));
  std::optional<Response> three = client.Read();
  std::optional<Response> four = client.Read();
  ASSERT_TRUE(one && two && three && four);
  EXPECT_EQ(one->body, "GET /one ");
  EXPECT_EQ(one->headers.count("connection"), 0u);
  EXPECT_EQ(two->body, "POST /two a=1&b=2");
  EXPECT_EQ(three->body, "GET /three ");
  EXPECT_EQ(four->body, "GET /four ");
  EXPECT_EQ(four->headers["connection"], "close");
  EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
}

TEST(WebServer, HeadHasTheHeadersOfGetButNoBody) {
  std::unique_ptr<WebServer> server = StartServer({});
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_TRUE(client.Send(absl::StrCat("HEAD /page HTTP/1.1\r\nHost: test\r\n\r\n")));
  std::optional<Response> head = client.Read(/*head=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], absl::StrCat(std::string("HEAD /page ").size()));
  // No body bytes follow: the next response on the connection starts right away.
  ASSERT_TRUE(client.Send(Get("/page")));
  std::optional<Response> get = client.Read();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /page ");
}

TEST(WebServer, ExpectContinueGetsAnInterimAnswerBeforeTheBody) {
  std::unique_ptr<WebServer> server = StartServer({});
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_TRUE(client.Send("POST /form HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n"
                          "Expect: 100-continue\r\n\r\n"));
  std::optional<Response> interim = client.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("a=1"));
  std::optional<Response> response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "POST /form a=1");
}

TEST(WebServer, MalformedOrUnsupportedRequestsAreRefusedWithTheirStatus) {
  std::unique_ptr<WebServer> server = StartServer({});
  ASSERT_NE(server, nullptr);
  const std::vector<std::pair<std::string, int>> cases = {
      {"NONSENSE\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},  // HTTP/1.1 without Host
      {"GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nHost: test\r\n folded\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na=1\r\n0\r\n\r\n",
       411},
      {"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\na=1", 400},
  };
  for (const auto& [request, status] : cases) {
    SCOPED_TRACE(request);
    Client client(server->port());
    ASSERT_TRUE(client.Send(request));
    std::optional<Response> response = client.Read();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, status);
    EXPECT_TRUE(client.WaitForClose(absl::Seconds(10)));
  }
}

TEST(WebServer, AFullHandlerPoolAnswers503AtOnce) {
  WebServerOptions options;
  options.threads = 1;
  options.request_queue = 0;
  GatedHandler gate;
  std::unique_ptr<WebServer> server = StartServer(options, gate.handler());
  ASSERT_NE(server, nullptr);
  Client first(server->port());
  ASSERT_TRUE(first.Send(Get("/first")));
  ASSERT_TRUE(WaitFor([&] { return gate.entered == 1; }));
  Client second(server->port());
  ASSERT_TRUE(second.Send(Get("/second")));
  std::optional<Response> busy = second.Read();
  ASSERT_TRUE(busy.has_value());
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->headers["retry-after"], "5");
  gate.release.Notify();
  std::optional<Response> done = first.Read();
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->status, 200);
}

// Every response, the handler's and the listener's own, is reported with the request's path
// ("" when not even the request line parsed): what the page's metrics count.
TEST(WebServer, TheObserverHearsEveryResponseIncludingTheListenersOwn) {
  struct Seen {
    std::string path;
    int status;
    absl::Duration elapsed;
  };
  absl::Mutex mu;
  std::vector<Seen> seen;
  WebServerOptions options;
  options.address = "127.0.0.1:0";
  options.threads = 1;
  options.request_queue = 0;
  GatedHandler gate;
  absl::StatusOr<std::unique_ptr<WebServer>> server = WebServer::Start(
      options, gate.handler(), [&](absl::string_view path, int status, absl::Duration elapsed) {
        absl::MutexLock lock(&mu);
        seen.push_back({std::string(path), status, elapsed});
      });
  ASSERT_TRUE(server.ok()) << server.status();
  Client first((*server)->port());
  ASSERT_TRUE(first.Send(Get("/first?token=secret")));
  ASSERT_TRUE(WaitFor([&] { return gate.entered == 1; }));
  Client second((*server)->port());
  ASSERT_TRUE(second.Send(Get("/second")));
  ASSERT_TRUE(second.Read().has_value());  // 503: the only handler thread is busy
  Client third((*server)->port());
  ASSERT_TRUE(third.Send("NONSENSE\r\n\r\n"));
  ASSERT_TRUE(third.Read().has_value());
  gate.release.Notify();
  ASSERT_TRUE(first.Read().has_value());

  absl::MutexLock lock(&mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].path, "/second");
  EXPECT_EQ(seen[0].status, 503);
  EXPECT_EQ(seen[1].path, "");
  EXPECT_EQ(seen[1].status, 400);
  EXPECT_EQ(seen[2].path, "/first");  // never the query, which may carry a token
  EXPECT_EQ(seen[2].status, 200);
  for (const Seen& s : seen) EXPECT_GE(s.elapsed, absl::ZeroDuration()) << s.path;
}

TEST(WebServer, AtTheConnectionLimitAnIdleConnectionMakesRoom) {
  WebServerOptions options;
  options.max_connections = 2;
  std::unique_ptr<WebServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  Client idle1(server->port());
  Client idle2(server->port());
  Client fresh(server->port());
  ASSERT_TRUE(fresh.Send(Get("/fresh")));
  std::optional<Response> response = fresh.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "GET /fresh ");
  EXPECT_TRUE(idle1.WaitForClose(absl::Seconds(10)));  // the longest idle
}

TEST(WebServer, AtTheConnectionLimitWithNoneIdleNewConnectionsAreClosed) {
  WebServerOptions options;
  options.max_connections = 2;
  options.threads = 2;
  GatedHandler gate;
  std::unique_ptr<WebServer> server = StartServer(options, gate.handler());
  ASSERT_NE(server, nullptr);
  Client busy1(server->port());
  Client busy2(server->port());
  ASSERT_TRUE(busy1.Send(Get("/1")));
  ASSERT_TRUE(busy2.Send(Get("/2")));
  ASSERT_TRUE(WaitFor([&] { return gate.entered == 2; }));
  Client refused(server->port());
  std::string seen;
  EXPECT_TRUE(refused.WaitForClose(absl::Seconds(10), &seen));
  EXPECT_EQ(seen, "");
  gate.release.Notify();
  EXPECT_TRUE(busy1.Read().has_value());
  EXPECT_TRUE(busy2.Read().has_value());
}

TEST(WebServer, ClientAddressFollowsXForwardedForOnlyFromTrustedProxies) {
  auto address_echo = [](const HttpRequest& request) {
    HttpResponse response;
    response.body = request.client_address;
    return response;
  };
  const std::string forwarded = Get("/", "X-Forwarded-For: 203.0.113.9, 198.51.100.7\r\n");
  {
    std::unique_ptr<WebServer> untrusting = StartServer({}, address_echo);
    ASSERT_NE(untrusting, nullptr);
    Client client(untrusting->port());
    ASSERT_TRUE(client.Send(forwarded));
    std::optional<Response> response = client.Read();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, "127.0.0.1");
  }
  WebServerOptions options;
  options.trusted_proxies = *TrustedProxies::Parse("127.0.0.1/32");
  std::unique_ptr<WebServer> behind_proxy = StartServer(options, address_echo);
  ASSERT_NE(behind_proxy, nullptr);
  Client client(behind_proxy->port());
  ASSERT_TRUE(client.Send(forwarded));
  std::optional<Response> response = client.Read();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "198.51.100.7");
}

TEST(WebServer, StopReleasesThePortAndLetsARequestInFlightFinish) {
  GatedHandler gate;
  std::unique_ptr<WebServer> server = StartServer({}, gate.handler());
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  Client client(port);
  ASSERT_TRUE(client.Send(Get("/in-flight")));
  ASSERT_TRUE(WaitFor([&] { return gate.entered == 1; }));

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server->Stop();
    stopped = true;
  });
  ASSERT_TRUE(WaitFor([&] {
    const int fd = ConnectTo(port);
    if (fd >= 0) close(fd);
    return fd < 0;
  })) << "the port is still accepting during Stop()";
  EXPECT_FALSE(stopped);  // still waiting for the request in flight
  gate.release.Notify();
  std::optional<Response> response = client.Read();
  stopper.join();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /in-flight ");
  EXPECT_EQ(response->headers["connection"], "close");
  server->Stop();  // idempotent
}

TEST(WebServer, AnAddressThatIsNotHostPortIsRefused) {
  WebServerOptions options;
  options.address = "no-port";
  absl::StatusOr<std::unique_ptr<WebServer>> server = WebServer::Start(options, Echo);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(server.status().message(), "--web_address"));
}

}  // namespace
}  // namespace securelink::invitations::web
