// The client library against the real invitation_server while it restarts: calls that are safe
// to retry ride through the outage, and a retried Create never makes a second invitation, even
// when the first attempt's response was lost after the server had committed it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/client.h"
#include "tests/client/e2e_support.h"

namespace securelink::testing::e2e {
namespace {

namespace client = ::securelink::invitations::client;
namespace v1 = ::securelink::invitations::v1;
using ::testing::MatchesRegex;

// How long the server stays down in these scenarios (the outage itself, not synchronisation).
constexpr absl::Duration kOutage = absl::Seconds(1);

// Generous enough to outlast kOutage plus a server start on a busy machine.
client::ClientOptions RetryingOptions(const std::string& target) {
  client::ClientOptions options;
  options.target = target;
  options.deadline = absl::Seconds(30);
  options.retry.max_attempts = 20;
  options.retry.initial_backoff = absl::Milliseconds(100);
  options.retry.max_backoff = absl::Milliseconds(500);
  return options;
}

// A loopback TCP proxy in front of the server that can lose one gRPC response: once armed, it
// drops the connection as soon as the server starts answering a call (the first HTTP/2 HEADERS
// frame on a stream, server to client) -- after the server has done the work, before the client
// hears of it -- and then refuses connections (accepts and closes them) until healed.
class ResponseLosingProxy {
 public:
  explicit ResponseLosingProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "proxy cannot listen: " << strerror(errno);
      return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~ResponseLosingProxy() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> pumps;
    {
      absl::MutexLock lock(&mu_);
      pumps.swap(pumps_);
    }
    for (std::thread& t : pumps) t.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // The next response is lost with its connection; connections are refused from then on.
  void LoseNextResponse() {
    absl::MutexLock lock(&mu_);
    armed_ = true;
  }

  // Stops refusing connections.
  void Heal() {
    absl::MutexLock lock(&mu_);
    refusing_ = false;
  }

  // Waits until a response has been lost; false on timeout.
  bool WaitForLoss(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](int* n) { return *n > 0; }, &losses_),
                                timeout);
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      absl::MutexLock lock(&mu_);
      if (refusing_) {
        close(fd);
        continue;
      }
      pumps_.emplace_back([this, fd] { Pump(fd); });
    }
  }

  static bool WriteAll(int fd, const char* data, size_t size) {
    while (size > 0) {
      const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  // Copies bytes both ways until either side closes; server-to-client bytes go frame by frame
  // so that a response's first frame can be withheld.
  void Pump(int client_fd) {
    const int server_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (connect(server_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(server_fd);
      close(client_fd);
      return;
    }
    std::string from_server;  // bytes of a frame not yet complete
    char buffer[16384];
    bool open = true;
    while (open && !stopping_) {
      pollfd p[2] = {{client_fd, POLLIN, 0}, {server_fd, POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents != 0) {
        const ssize_t n = recv(client_fd, buffer, sizeof(buffer), 0);
        open = n > 0 && WriteAll(server_fd, buffer, static_cast<size_t>(n));
      }
      if (open && p[1].revents != 0) {
        const ssize_t n = recv(server_fd, buffer, sizeof(buffer), 0);
        open = n > 0;
        if (open) from_server.append(buffer, static_cast<size_t>(n));
        // HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload.
        while (open && from_server.size() >= 9) {
          const auto* h = reinterpret_cast<const unsigned char*>(from_server.data());
          const size_t length = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
          if (from_server.size() < 9 + length) break;
          const bool headers = h[3] == 0x1;
          const uint32_t stream =
              ((uint32_t{h[5]} << 24) | (h[6] << 16) | (h[7] << 8) | h[8]) & 0x7fffffffu;
          if (headers && stream != 0 && TakeArmed()) {
            open = false;
            break;
          }
          open = WriteAll(client_fd, from_server.data(), 9 + length);
          from_server.erase(0, 9 + length);
        }
      }
    }
    shutdown(client_fd, SHUT_RDWR);
    shutdown(server_fd, SHUT_RDWR);
    close(client_fd);
    close(server_fd);
  }

  // If armed: disarms, counts the loss, starts refusing connections, and returns true.
  bool TakeArmed() {
    absl::MutexLock lock(&mu_);
    if (!armed_) return false;
    armed_ = false;
    refusing_ = true;
    ++losses_;
    return true;
  }

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  bool refusing_ ABSL_GUARDED_BY(mu_) = false;
  int losses_ ABSL_GUARDED_BY(mu_) = 0;
};

class ClientThroughRestart : public ::testing::Test {
 protected:
  void SetUp() override {
    MariaDbServer& db = SharedDb();
    database_ = UniqueName("restart");
    ASSERT_TRUE(db.CreateDatabase(database_).ok());
    // A key shared by both incarnations of the server, so that a Create replayed by the new one
    // can still hand back the first attempt's link.
    std::string key(32, '\0');
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<char>(i * 37 + 11);
    ServerProcess::Options options;
    options.mysql_uri = db.Uri(database_);
    options.env.push_back(absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                                       WriteTempFile("sealing.key", absl::Base64Escape(key))));
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string Sql(absl::string_view sql) {
    absl::StatusOr<std::string> out = SharedDb().Query(database_, sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out)) : "";
  }

  static v1::CreateInvitationRequest NewInvitation(const std::string& email) {
    v1::CreateInvitationRequest request;
    request.set_email(email);
    request.set_role(v1::ROLE_VPN_USER);
    request.set_tenant_id("acme");
    request.set_suppress_email(true);
    return request;
  }

  // Stops the server, waits out the outage and starts it again on the same port. Runs on the
  // main test thread (the server dies with the thread that started it) while a client call is
  // in flight on another.
  void RestartAfterOutage() {
    ASSERT_EQ(server_->Terminate(), 0) << server_->Log();
    absl::SleepFor(kOutage);
    ASSERT_TRUE(server_->Restart().ok()) << server_->Log();
  }

  std::string database_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ClientThroughRestart, GetRetriesUntilTheRestartedServerAnswers) {
  client::InvitationClient invitations(RetryingOptions(server_->address()));
  absl::StatusOr<v1::CreateInvitationResponse> created =
      invitations.CreateInvitation(NewInvitation(UniqueEmail("get")));
  ASSERT_TRUE(created.ok()) << created.status();

  ASSERT_EQ(server_->Terminate(), 0) << server_->Log();
  // The call starts while nothing listens on the port.
  std::atomic<bool> started{false};
  std::future<absl::StatusOr<v1::GetInvitationResponse>> got = std::async(std::launch::async, [&] {
    started = true;
    v1::GetInvitationRequest request;
    request.set_id(created->invitation().id());
    return invitations.GetInvitation(request);
  });
  absl::SleepFor(kOutage);
  ASSERT_TRUE(started) << "the Get did not start during the outage";
  ASSERT_TRUE(server_->Restart().ok()) << server_->Log();

  ASSERT_EQ(got.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  absl::StatusOr<v1::GetInvitationResponse> response = got.get();
  ASSERT_TRUE(response.ok()) << response.status() << "\n" << server_->Log();
  EXPECT_EQ(response->invitation().id(), created->invitation().id());
  EXPECT_EQ(response->invitation().state(), v1::INVITATION_STATE_PENDING);
}

TEST_F(ClientThroughRestart, CreateRetriedThroughAnOutageMakesOneInvitation) {
  client::InvitationClient invitations(RetryingOptions(server_->address()));
  const std::string email = UniqueEmail("outage");
  ASSERT_EQ(server_->Terminate(), 0) << server_->Log();
  std::future<absl::StatusOr<v1::CreateInvitationResponse>> created = std::async(
      std::launch::async, [&] { return invitations.CreateInvitation(NewInvitation(email)); });
  absl::SleepFor(kOutage);
  ASSERT_TRUE(server_->Restart().ok()) << server_->Log();

  ASSERT_EQ(created.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  absl::StatusOr<v1::CreateInvitationResponse> response = created.get();
  ASSERT_TRUE(response.ok()) << response.status() << "\n" << server_->Log();
  EXPECT_EQ(Sql(absl::StrCat("SELECT id FROM invitations WHERE email = '", email, "'")),
            response->invitation().id());
}

TEST_F(ClientThroughRestart, CreateWhoseResponseWasLostIsRetriedIntoTheSameInvitation) {
  ResponseLosingProxy proxy(server_->port());
  client::InvitationClient invitations(RetryingOptions(proxy.address()));
  const std::string email = UniqueEmail("lost");
  proxy.LoseNextResponse();
  std::future<absl::StatusOr<v1::CreateInvitationResponse>> created = std::async(
      std::launch::async, [&] { return invitations.CreateInvitation(NewInvitation(email)); });

  // The first attempt reached the server and committed; its answer never reached the client.
  ASSERT_TRUE(proxy.WaitForLoss(absl::Seconds(30)));
  const std::string first_id =
      Sql(absl::StrCat("SELECT id FROM invitations WHERE email = '", email, "'"));
  ASSERT_THAT(first_id, MatchesRegex("[0-9a-f-]{36}"));
  // The client keeps retrying (the proxy refuses connections) through a server restart.
  ASSERT_NO_FATAL_FAILURE(RestartAfterOutage());
  proxy.Heal();

  ASSERT_EQ(created.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  absl::StatusOr<v1::CreateInvitationResponse> response = created.get();
  ASSERT_TRUE(response.ok()) << response.status() << "\n" << server_->Log();
  EXPECT_EQ(response->invitation().id(), first_id);
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE email = '", email, "'")), "1");
  // Every attempt carried the same automatic request_id: a UUIDv4, stored with the invitation.
  EXPECT_THAT(Sql(absl::StrCat("SELECT request_id FROM invitations WHERE id = '", first_id, "'")),
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  // The replay hands back the first attempt's link, and it works.
  v1::ValidateInvitationTokenRequest validate;
  const std::string& url = response->registration_url();
  ASSERT_TRUE(absl::StrContains(url, "?token=")) << url;
  validate.set_token(url.substr(url.find("?token=") + 7));
  absl::StatusOr<v1::ValidateInvitationTokenResponse> valid =
      invitations.ValidateInvitationToken(validate);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->invitation_id(), first_id);
}

TEST_F(ClientThroughRestart, ResendIsNotRetriedWhileTheServerIsDown) {
  client::InvitationClient invitations(RetryingOptions(server_->address()));
  absl::StatusOr<v1::CreateInvitationResponse> created =
      invitations.CreateInvitation(NewInvitation(UniqueEmail("resend")));
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(server_->Terminate(), 0) << server_->Log();

  v1::ResendInvitationRequest request;
  request.set_id(created->invitation().id());
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::ResendInvitationResponse> resent = invitations.ResendInvitation(request);
  EXPECT_EQ(resent.status().code(), absl::StatusCode::kUnavailable) << resent.status();
  // One attempt, not twenty with backoff in between.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace securelink::testing::e2e
