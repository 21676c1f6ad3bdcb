// Health and drain of the real invitation_server binary (SPEC §7): grpc.health.v1 says
// NOT_SERVING while MariaDB is down and again SERVING once it is back; SIGTERM flips health to
// NOT_SERVING, lets an in-flight BulkInvite stream finish within --shutdown_grace, and exits 0.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "tests/client/e2e_support.h"
#include "tests/ops/ops_support.h"
#include "tests/support/wait.h"

namespace securelink::testing::ops {
namespace {

namespace v1 = ::securelink::invitations::v1;
namespace health = ::grpc::health::v1;
using e2e::ServerProcess;
using e2e::SharedDb;
using e2e::UniqueEmail;
using e2e::UniqueName;

constexpr char kService[] = "securelink.invitations.v1.InvitationService";

std::unique_ptr<ServerProcess> StartServer(MariaDbServer& db, std::vector<std::string> env) {
  const std::string name = UniqueName("drain");
  EXPECT_TRUE(db.CreateDatabase(name).ok());
  ServerProcess::Options options;
  options.mysql_uri = db.Uri(name);
  options.env = std::move(env);
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// The health of the invitation service as Check reports it; UNKNOWN when the call fails.
// `service` "" is the whole server (what a liveness probe asks).
health::HealthCheckResponse::ServingStatus CheckHealth(health::Health::Stub& stub,
                                                       const std::string& service = kService) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  health::HealthCheckRequest req;
  req.set_service(service);
  health::HealthCheckResponse resp;
  if (!stub.Check(&ctx, req, &resp).ok()) return health::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

TEST(Health, NotServingWhileTheDatabaseIsDownAndServingAfter) {
  // A MariaDB of this test's own: stopping it must not disturb anything else.
  absl::StatusOr<std::unique_ptr<MariaDbServer>> db = MariaDbServer::Start();
  ASSERT_TRUE(db.ok()) << db.status();
  std::unique_ptr<ServerProcess> server =
      StartServer(**db, {"INVITATIONS_HEALTH_CHECK_INTERVAL=200ms"});
  ASSERT_NE(server, nullptr);
  auto stub = health::Health::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitFor([&] { return CheckHealth(*stub) == health::HealthCheckResponse::SERVING; }));

  ASSERT_TRUE((*db)->Stop().ok());
  EXPECT_TRUE(
      WaitFor([&] { return CheckHealth(*stub) == health::HealthCheckResponse::NOT_SERVING; }));
  // Unready, but alive: a liveness probe must not restart every replica during an outage.
  EXPECT_EQ(CheckHealth(*stub, ""), health::HealthCheckResponse::SERVING);
  absl::StatusOr<std::string> metrics = HttpGet(server->metrics_port());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(Sample(*metrics, "invitations_database_up"), 0);

  ASSERT_TRUE((*db)->StartAgain().ok());
  EXPECT_TRUE(WaitFor([&] { return CheckHealth(*stub) == health::HealthCheckResponse::SERVING; }))
      << server->Log();
  EXPECT_EQ(server->Terminate(), 0);
}

TEST(Drain, SigtermLetsARunningBulkInviteFinishAndExitsZero) {
  std::unique_ptr<ServerProcess> server =
      StartServer(SharedDb(), {"INVITATIONS_SHUTDOWN_GRACE=20s"});
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::InvitationService::NewStub(channel);
  auto health_stub = health::Health::NewStub(channel);

  // A health watcher sees the drain begin.
  grpc::ClientContext watch_ctx;
  health::HealthCheckRequest watch_req;
  watch_req.set_service(kService);
  auto watch = health_stub->Watch(&watch_ctx, watch_req);
  health::HealthCheckResponse seen;
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), health::HealthCheckResponse::SERVING);

  v1::BulkInviteRequest req;
  const int kAddresses = 5000;
  std::string text;
  for (int i = 0; i < kAddresses; ++i) absl::StrAppend(&text, UniqueEmail("drain"), "\n");
  req.set_text(text);
  req.set_role(v1::ROLE_VPN_USER);
  req.set_tenant_id(UniqueName("t"));
  req.set_suppress_email(true);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub->BulkInvite(&ctx, req);
  v1::BulkInviteResponse resp;
  ASSERT_TRUE(reader->Read(&resp));  // the stream is under way
  ASSERT_TRUE(resp.has_result());

  std::atomic<int> exit_code{-2};
  std::thread terminator([&] { exit_code = server->Terminate(absl::Seconds(25)); });

  // Drain: the watcher hears NOT_SERVING while the stream is still being served.
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), health::HealthCheckResponse::NOT_SERVING);
  // An open Watch would hold the drain to the end of the grace period (gRPC 1.51).
  watch_ctx.TryCancel();
  while (watch->Read(&seen)) {
  }
  watch->Finish();

  int results = 1;
  bool summary = false;
  while (reader->Read(&resp)) {
    if (resp.has_result()) ++results;
    if (resp.has_summary()) {
      summary = true;
      EXPECT_EQ(resp.summary().total(), kAddresses);
      EXPECT_EQ(resp.summary().created(), kAddresses);
    }
  }
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_TRUE(summary);
  EXPECT_EQ(results, kAddresses);
  terminator.join();
  EXPECT_EQ(exit_code, 0) << server->Log();
  // The process waited for this client to read the stream's end and leave, rather than exiting
  // under it (which resets the connection and loses responses the client has not read yet).
  EXPECT_THAT(server->Log(), ::testing::HasSubstr("gRPC server drained")) << server->Log();
}

TEST(Drain, AStalledStreamIsCutCleanlyAtTheGraceAndTheProcessStillExitsZero) {
  std::unique_ptr<ServerProcess> server =
      StartServer(SharedDb(), {"INVITATIONS_SHUTDOWN_GRACE=1s"});
  ASSERT_NE(server, nullptr);
  auto stub = v1::InvitationService::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  v1::BulkInviteRequest req;
  std::string text;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&text, UniqueEmail("stall"), "\n");
  req.set_text(text);
  req.set_role(v1::ROLE_VPN_USER);
  req.set_tenant_id(UniqueName("t"));
  req.set_validate_only(true);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub->BulkInvite(&ctx, req);
  v1::BulkInviteResponse resp;
  ASSERT_TRUE(reader->Read(&resp));

  // The reader stops reading; the server must not wait for it beyond the grace period.
  EXPECT_EQ(server->Terminate(absl::Seconds(20)), 0) << server->Log();
  while (reader->Read(&resp)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_THAT(status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::OK, grpc::StatusCode::CANCELLED,
                               grpc::StatusCode::UNAVAILABLE));
}

}  // namespace
}  // namespace securelink::testing::ops
