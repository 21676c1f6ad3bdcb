// An in-process invitation server wired exactly as main.cc wires it, on a fresh database of a
// private MariaDB, listening on a free loopback port; for integration tests over real gRPC.
#ifndef SECURELINK_TESTS_SUPPORT_TEST_SERVER_H_
#define SECURELINK_TESTS_SUPPORT_TEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "server/bulk_invite.h"
#include "server/domain/clock.h"
#include "server/event_feed.h"
#include "server/grpc/grpc_invitation_service.h"
#include "server/grpc/grpc_server.h"
#include "server/invitation_service.h"
#include "server/tenant_policy_service.h"
#include "server/util/worker_pool.h"
#include "storage/connection_pool.h"
#include "storage/mysql_event_store.h"
#include "storage/mysql_invitation_store.h"
#include "storage/mysql_tenant_policy_store.h"
#include "tests/support/mariadb_server.h"

namespace securelink::testing {

namespace inv = ::securelink::invitations;

// The MariaDB shared by every test of this binary; started on first use (call it from the main
// test thread: the server dies with the thread that started it).
MariaDbServer& SharedMariaDb();

struct TestServerOptions {
  const inv::Clock* clock = nullptr;  // nullptr: the system clock
  inv::TtlPolicy ttl;
  int worker_threads = 8;
  int worker_queue_capacity = 256;
  inv::ConnectionPoolOptions pool;
  std::string registration_base_url = "https://register.example.test/register";
  int bulk_max_addresses = 10000;
  int bulk_chunk_size = 500;
  // Callers: nullptr → authentication disabled (every caller a SuperAdmin).
  const inv::Authenticator* authenticator = nullptr;
  // Accept: nullptr → AcceptInvitation is UNAVAILABLE. With one, the server also runs the
  // accept recoverer.
  inv::IdentityProvider* identity_provider = nullptr;
  inv::AcceptSagaOptions accept_saga;
  double token_rate_per_second = 1000;
  int token_rate_burst = 1000;
  // The event feed; polled often so that tests wait little.
  inv::EventFeedOptions event_feed = FastEventFeed();
  // The RPCs' own limits (default deadline, Watch streams per caller).
  inv::RpcOptions rpc;
  // The languages invitations may get (the shipped template sets).
  std::vector<std::string> available_locales = {"en", "de", "fr"};

  static inv::EventFeedOptions FastEventFeed() {
    inv::EventFeedOptions feed;
    feed.poll_interval = absl::Milliseconds(20);
    return feed;
  }
};

class TestServer {
 public:
  // Creates a fresh database on `db`, migrates it and starts serving.
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(MariaDbServer& db,
                                                           TestServerOptions options = {});
  ~TestServer();

  inv::v1::InvitationService::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::string address() const;
  const std::string& database() const { return database_; }
  inv::ConnectionPool& pool() { return *pool_; }
  inv::WorkerPool& workers() { return *workers_; }
  grpc::Server& server() { return *server_.server; }
  inv::EventFeed& event_feed() { return *event_feed_; }
  // The key that seals this server's links (an email dispatcher needs the same one).
  const inv::TokenSealer& sealer() const { return *sealer_; }

 private:
  TestServer() = default;
  std::string database_;
  inv::SystemClock system_clock_;
  std::optional<inv::TokenSealer> sealer_;
  std::unique_ptr<inv::ConnectionPool> pool_;
  std::unique_ptr<inv::MysqlInvitationStore> store_;
  std::unique_ptr<inv::MysqlEventStore> event_store_;
  std::unique_ptr<inv::MysqlTenantPolicyStore> policy_store_;
  std::unique_ptr<inv::TenantPolicyService> policy_service_;
  std::unique_ptr<inv::EventFeed> event_feed_;
  std::unique_ptr<inv::AcceptSaga> accept_saga_;
  std::unique_ptr<inv::AcceptRecoverer> accept_recoverer_;
  std::unique_ptr<inv::InvitationService> service_;
  std::unique_ptr<inv::BulkInviter> bulk_;
  std::unique_ptr<inv::WorkerPool> workers_;
  inv::Authenticator disabled_auth_ = inv::Authenticator::Disabled();
  std::unique_ptr<inv::RateLimiter> rate_limiter_;
  std::unique_ptr<inv::GrpcInvitationService> grpc_service_;
  inv::StartedServer server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inv::v1::InvitationService::Stub> stub_;
};

// A client context with a deadline, so a hung server fails a test instead of hanging it.
std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline = absl::Seconds(20));

// The token of a registration URL ("…?token=<token>"), or "" when it has none.
std::string TokenOf(const std::string& registration_url);

// A unique, valid email address for this test run.
std::string UniqueEmail(absl::string_view prefix = "user");
// A unique tenant id for this test run.
std::string UniqueTenant();

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_TEST_SERVER_H_
