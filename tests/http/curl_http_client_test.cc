// CurlHttpClient against a real local HTTP/1.1 server (http_test_server.py, which numbers the
// TCP connection of every request it logs): round trips, the error contract, the size cap, and
// connections kept alive between requests.
#include "server/http/curl_http_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/domain/errors.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations::http {
namespace {

using ::nlohmann::json;
using ::securelink::testing::IsOk;
using ::securelink::testing::StatusIs;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

// http_test_server.py as a child process on a free loopback port.
class TestHttpServer {
 public:
  static std::unique_ptr<TestHttpServer> Start() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return nullptr;
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      dup2(fds[1], STDOUT_FILENO);
      execl("/usr/bin/python3", "python3", HTTP_TEST_SERVER_SCRIPT, "--port", "0",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    std::unique_ptr<TestHttpServer> server(new TestHttpServer(pid, fds[0]));
    std::string out;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!absl::StrContains(out, "\n") && absl::Now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      int r = poll(&pfd, 1, 100);
      if (r <= 0) continue;
      char buf[128];
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    absl::string_view line = out;
    if (!absl::ConsumePrefix(&line, "LISTENING ") ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &server->port_)) {
      return nullptr;
    }
    return server;
  }

  ~TestHttpServer() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(stdout_fd_);
  }

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

  // The server's request log: [{method, path, connection}], read through a client of its own.
  json Log() const {
    absl::StatusOr<std::unique_ptr<CurlHttpClient>> client = CurlHttpClient::Create({});
    if (!client.ok()) return json::array();
    HttpRequest request;
    request.url = Url("/_log");
    absl::StatusOr<HttpResponse> response = (*client)->Send(request);
    if (!response.ok()) return json::array();
    return json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  }

  // The connection numbers of the logged requests whose path starts with `prefix`.
  std::vector<int> ConnectionsOf(absl::string_view prefix) const {
    std::vector<int> out;
    for (const json& entry : Log()) {
      if (absl::StartsWith(entry.value("path", ""), prefix)) {
        out.push_back(entry.value("connection", 0));
      }
    }
    return out;
  }

 private:
  TestHttpServer(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  pid_t pid_;
  int stdout_fd_;
  int port_ = 0;
};

class CurlHttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = TestHttpServer::Start();
    ASSERT_NE(server_, nullptr) << "http_test_server.py did not start";
    client_ = MakeClient({});
  }

  static std::unique_ptr<CurlHttpClient> MakeClient(CurlHttpClientOptions options) {
    absl::StatusOr<std::unique_ptr<CurlHttpClient>> client =
        CurlHttpClient::Create(std::move(options));
    EXPECT_THAT(client.status(), IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  HttpRequest Get(absl::string_view path) const {
    HttpRequest request;
    request.url = server_->Url(path);
    request.timeout = absl::Seconds(10);
    return request;
  }

  std::unique_ptr<TestHttpServer> server_;
  std::unique_ptr<CurlHttpClient> client_;
};

// --- round trips ----------------------------------------------------------------------------

TEST_F(CurlHttpClientTest, StatusHeadersAndBodyMakeTheRoundTrip) {
  HttpRequest request = Get("/echo?status=201&header=Location:/users/42");
  request.method = "POST";
  request.headers = {{"Content-Type", "application/json"}, {"X-Request-Id", "r-1"}};
  request.body = R"({"name":"ada"})";
  request.bearer_token = "tok-123";

  absl::StatusOr<HttpResponse> response = client_->Send(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->Header("Location"), "/users/42");
  EXPECT_EQ(response->Header("content-type"), "application/json");
  json echo = json::parse(response->body);
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["body"], R"({"name":"ada"})");
  EXPECT_EQ(echo["headers"]["authorization"], "Bearer tok-123");
  EXPECT_EQ(echo["headers"]["content-type"], "application/json");
  EXPECT_EQ(echo["headers"]["x-request-id"], "r-1");
  EXPECT_EQ(echo["headers"]["user-agent"], "securelink-invitations");
  EXPECT_FALSE(echo["headers"].contains("expect")) << "no 100-continue round trip";
}

TEST_F(CurlHttpClientTest, EveryMethodIsSentAsNamed) {
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    HttpRequest request = Get("/echo");
    request.method = method;
    absl::StatusOr<HttpResponse> response = client_->Send(request);
    ASSERT_THAT(response, IsOk()) << method;
    EXPECT_EQ(json::parse(response->body)["method"], method);
  }
  HttpRequest head = Get("/echo");
  head.method = "HEAD";
  absl::StatusOr<HttpResponse> response = client_->Send(head);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "");
  EXPECT_EQ(server_->Log().back()["method"], "HEAD");
}

TEST_F(CurlHttpClientTest, AnErrorStatusIsAResponseNotAnError) {
  absl::StatusOr<HttpResponse> response = client_->Send(Get("/echo?status=503"));
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 503);
}

TEST_F(CurlHttpClientTest, RedirectsAreReturnedNotFollowed) {
  absl::StatusOr<HttpResponse> response = client_->Send(Get("/redirect"));
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->Header("location"), "/echo");
  EXPECT_THAT(server_->ConnectionsOf("/echo"), SizeIs(0));
}

// --- errors ---------------------------------------------------------------------------------

TEST_F(CurlHttpClientTest, ATimeoutIsUnavailableWithItsReason) {
  HttpRequest request = Get("/slow?ms=5000");
  request.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response = client_->Send(request);
  EXPECT_THAT(response, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(response.status()), kReasonHttpTimeout);
  // The request's timeout bounds the call; 3 s leaves room for a loaded machine and is still
  // well short of the server's 5 s.
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The client is still usable (the timed-out connection is not handed out again).
  EXPECT_THAT(client_->Send(Get("/echo")), IsOk());
}

TEST_F(CurlHttpClientTest, NothingListeningIsUnavailable) {
  // A bound socket that never listens: connections to its port are refused.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  HttpRequest request;
  request.url = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port), "/x");

  absl::StatusOr<HttpResponse> response = client_->Send(request);
  close(fd);
  EXPECT_THAT(response, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(response.status()), kReasonHttpTransport);
}

TEST_F(CurlHttpClientTest, AResponseOverTheCapIsResourceExhaustedAndCutOff) {
  CurlHttpClientOptions options;
  options.max_response_bytes = 64 * 1024;
  std::unique_ptr<CurlHttpClient> client = MakeClient(options);

  absl::StatusOr<HttpResponse> small = client->Send(Get("/bytes?n=60000"));
  ASSERT_THAT(small, IsOk());
  EXPECT_EQ(small->body.size(), 60000u);
  absl::StatusOr<HttpResponse> big = client->Send(Get("/bytes?n=70000"));
  EXPECT_THAT(big, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("65536 bytes"));
  EXPECT_THAT(client->Send(Get("/echo")), IsOk());
}

TEST_F(CurlHttpClientTest, UnusableRequestsAreRefusedBeforeAnythingIsSent) {
  auto with = [&](auto change) {
    HttpRequest request = Get("/echo");
    change(request);
    return client_->Send(request).status();
  };
  EXPECT_THAT(with([](HttpRequest& r) { r.url = "file:///etc/passwd"; }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(with([](HttpRequest& r) { r.url = "ftp://127.0.0.1/x"; }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(with([](HttpRequest& r) { r.method = "TRACE"; }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(with([](HttpRequest& r) { r.body = "x"; }),  // on a GET
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(with([](HttpRequest& r) { r.timeout = absl::ZeroDuration(); }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  absl::Status injected = with([](HttpRequest& r) {
    r.headers = {{"X-Api-Key", "key-1\r\nX-Evil: 1"}};
  });
  EXPECT_THAT(injected, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(injected.message()), Not(HasSubstr("key-1")));
  absl::Status bad_token = with([](HttpRequest& r) { r.bearer_token = "Sekr3t\nValue"; });
  EXPECT_THAT(bad_token, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(bad_token.message()), Not(HasSubstr("Sekr3t")));
  EXPECT_THAT(server_->Log(), SizeIs(0));
}

TEST_F(CurlHttpClientTest, ErrorsNameTheRequestButNeverTheTokenOrTheQuery) {
  HttpRequest request = Get("/slow?ms=5000&email=ada%40example.com");
  request.bearer_token = "Secret-Bearer-Token";
  request.timeout = absl::Milliseconds(200);
  absl::Status timed_out = client_->Send(request).status();
  ASSERT_THAT(timed_out, StatusIs(absl::StatusCode::kUnavailable));
  std::string everything = timed_out.ToString();
  EXPECT_THAT(everything, HasSubstr("GET " + server_->Url("/slow")));
  EXPECT_THAT(everything, Not(HasSubstr("Secret-Bearer-Token")));
  EXPECT_THAT(everything, Not(HasSubstr("ada")));
}

TEST(CurlHttpClientOptionsTest, UnusableOptionsAreRefusedNamingThem) {
  CurlHttpClientOptions no_connect;
  no_connect.connect_timeout = absl::ZeroDuration();
  absl::Status status = CurlHttpClient::Create(no_connect).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(status.message()), HasSubstr("connect_timeout"));
  CurlHttpClientOptions no_bytes;
  no_bytes.max_response_bytes = 0;
  EXPECT_THAT(CurlHttpClient::Create(no_bytes), StatusIs(absl::StatusCode::kInvalidArgument));
}

// --- keep-alive -----------------------------------------------------------------------------

TEST_F(CurlHttpClientTest, ConsecutiveRequestsTravelOnOneConnection) {
  for (const char* method : {"POST", "GET", "PUT", "GET", "DELETE", "GET"}) {
    HttpRequest request = Get("/echo");
    request.method = method;
    if (std::string(method) != "GET") request.body = "{}";
    ASSERT_THAT(client_->Send(request), IsOk()) << method;
  }
  std::vector<int> connections = server_->ConnectionsOf("/echo");
  ASSERT_THAT(connections, SizeIs(6));
  EXPECT_THAT(connections, Each(connections.front())) << "each request opened a connection";
}

TEST_F(CurlHttpClientTest, WithoutIdleConnectionsEveryRequestConnectsAnew) {
  CurlHttpClientOptions options;
  options.max_idle_connections = 0;
  std::unique_ptr<CurlHttpClient> client = MakeClient(options);
  for (int i = 0; i < 3; ++i) ASSERT_THAT(client->Send(Get("/echo")), IsOk());
  std::vector<int> connections = server_->ConnectionsOf("/echo");
  EXPECT_EQ(std::set<int>(connections.begin(), connections.end()).size(), 3u);
}

TEST_F(CurlHttpClientTest, ConcurrentRequestsEachGetTheirOwnAnswer) {
  constexpr int kThreads = 8;
  constexpr int kRequests = 10;
  std::vector<std::thread> threads;
  std::vector<int> mismatches(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        HttpRequest request = Get(absl::StrCat("/echo?t=", t, "&i=", i));
        request.method = "POST";
        request.body = absl::StrCat(t, "/", i);
        absl::StatusOr<HttpResponse> response = client_->Send(request);
        if (!response.ok() || json::parse(response->body)["body"] != request.body) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, Each(0));
  EXPECT_THAT(server_->ConnectionsOf("/echo"), SizeIs(kThreads * kRequests));
}

// The peer closes a kept connection as the next request arrives, without answering (an idle
// timeout racing the request, or a crash after acting on it).
TEST_F(CurlHttpClientTest, APostIsNotResentWhenItsKeptConnectionDiesUnanswered) {
  ASSERT_THAT(client_->Send(Get("/echo")), IsOk());  // a connection to reuse
  HttpRequest post = Get("/drop/post");
  post.method = "POST";
  post.body = "create something";

  absl::StatusOr<HttpResponse> response = client_->Send(post);
  EXPECT_THAT(response, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(response.status()), kReasonHttpTransport);
  EXPECT_THAT(server_->ConnectionsOf("/drop/post"), SizeIs(1))
      << "the server may have acted on the first copy";
}

TEST_F(CurlHttpClientTest, AGetIsResentOnANewConnectionWhenItsKeptConnectionDiesUnanswered) {
  ASSERT_THAT(client_->Send(Get("/echo")), IsOk());
  absl::StatusOr<HttpResponse> response = client_->Send(Get("/drop/get"));
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->body, "answered");
  std::vector<int> connections = server_->ConnectionsOf("/drop/get");
  ASSERT_THAT(connections, SizeIs(2));
  EXPECT_NE(connections[0], connections[1]);
}

}  // namespace
}  // namespace securelink::invitations::http
