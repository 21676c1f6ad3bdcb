// The server under a slow database, overload and a database restart (SPEC "Standards").
#include <grpcpp/grpcpp.h>

#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "storage/connection_pool.h"
#include "tests/support/row_lock.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;


grpc::Status CreateOne(TestServer& server, pb::CreateInvitationResponse* resp,
                       absl::Duration deadline = absl::Seconds(20)) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("res"));
  req.set_role(pb::ROLE_SUPER_ADMIN);
  return server.stub().CreateInvitation(Context(deadline).get(), req, resp);
}

TEST(Resilience, ReflectionListsTheServiceAndHealthIsServing) {
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(SharedMariaDb());
  ASSERT_TRUE(server.ok()) << server.status();

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub((*server)->channel());
  auto ctx = Context();
  auto stream = reflection->ServerReflectionInfo(ctx.get());
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::Contains("securelink.invitations.v1.InvitationService"));
  EXPECT_THAT(names, ::testing::Contains("grpc.health.v1.Health"));
  while (stream->Read(&resp)) {
  }
  EXPECT_THAT(stream->Finish(), IsOk());

  auto health = grpc::health::v1::Health::NewStub((*server)->channel());
  grpc::health::v1::HealthCheckRequest check;
  check.set_service("securelink.invitations.v1.InvitationService");
  grpc::health::v1::HealthCheckResponse status;
  ASSERT_THAT(health->Check(Context().get(), check, &status), IsOk());
  EXPECT_EQ(status.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

// One worker, no queue: while the worker waits on a row lock held by another session, reads
// are refused at once with RESOURCE_EXHAUSTED instead of piling up; once the lock goes, the
// stalled call completes.
TEST(Resilience, ASlowDatabaseNeverQueuesWithoutBound) {
  TestServerOptions options;
  options.worker_threads = 1;
  options.worker_queue_capacity = 0;
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;
  pb::CreateInvitationResponse created;
  ASSERT_THAT(CreateOne(server, &created), IsOk());
  const std::string id = created.invitation().id();

  // Another session locks the row and holds it until the test releases it.
  HeldInvitationLock lock(SharedMariaDb().Uri(server.database()), id);

  grpc::Status revoke_status;
  std::thread revoker([&] {
    pb::RevokeInvitationRequest req;
    req.set_id(id);
    pb::RevokeInvitationResponse resp;
    revoke_status = server.stub().RevokeInvitation(Context().get(), req, &resp);
  });
  ASSERT_TRUE(WaitFor([&] { return server.workers().busy_workers() == 1; }));

  pb::GetInvitationRequest get;
  get.set_id(id);
  pb::GetInvitationResponse got;
  grpc::Status refused = server.stub().GetInvitation(Context().get(), get, &got);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(RetryDelay(refused), absl::Seconds(1)) << "RetryInfo asks the caller to hold back";

  lock.Release();
  revoker.join();
  EXPECT_THAT(revoke_status, IsOk());
  // The reply can reach us a moment before the worker counts itself free again.
  ASSERT_TRUE(WaitFor([&] { return server.workers().busy_workers() == 0; }));
  ASSERT_THAT(server.stub().GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().state(), pb::INVITATION_STATE_REVOKED);
}

// --- the pool's prepared-statement cache ---

// A pool of one connection (so every lease gets the same one) on a new database of its own.
invitations::ConnectionPool OneConnectionPool(absl::string_view name,
                                              invitations::ConnectionPoolOptions options = {}) {
  const std::string database = absl::StrCat(name, "_", getpid());
  EXPECT_THAT(SharedMariaDb().CreateDatabase(database), IsOk());
  absl::StatusOr<invitations::MysqlEndpoint> endpoint =
      invitations::ParseMysqlUri(SharedMariaDb().Uri(database));
  EXPECT_TRUE(endpoint.ok()) << endpoint.status();
  options.max_connections = 1;
  return invitations::ConnectionPool(*endpoint, options);
}

int64_t SessionCounter(invitations::SqlSession& session, const char* name) {
  std::unique_ptr<sql::Statement> s(session.connection().createStatement());
  std::unique_ptr<sql::ResultSet> rs(
      s->executeQuery(absl::StrCat("SHOW SESSION STATUS LIKE '", name, "'")));
  return rs->next() ? rs->getInt64(2) : -1;
}

int64_t PlusOne(sql::PreparedStatement& s, int value) {
  s.setInt(1, value);
  std::unique_ptr<sql::ResultSet> rs(s.executeQuery());
  return rs->next() ? rs->getInt64(1) : -1;
}

TEST(Resilience, AStatementIsPreparedOncePerConnectionAndReusedByLaterTransactions) {
  invitations::ConnectionPool pool = OneConnectionPool("stmt");

  sql::PreparedStatement* first = nullptr;
  int64_t prepares_after_first = -1;
  ASSERT_THAT(invitations::RunTransaction(pool, "first", [&](invitations::SqlSession& c) {
    first = c.Prepare("SELECT ? + 1");
    EXPECT_EQ(PlusOne(*first, 1), 2);
    EXPECT_EQ(c.Prepare("SELECT ? + 1"), first);
    prepares_after_first = SessionCounter(c, "Com_stmt_prepare");
    return absl::OkStatus();
  }), IsOk());
  ASSERT_THAT(invitations::RunTransaction(pool, "second", [&](invitations::SqlSession& c) {
    sql::PreparedStatement* again = c.Prepare("SELECT ? + 1");
    EXPECT_EQ(again, first);
    EXPECT_EQ(PlusOne(*again, 41), 42);
    EXPECT_EQ(SessionCounter(c, "Com_stmt_prepare"), prepares_after_first)
        << "the second transaction prepared the statement again";
    return absl::OkStatus();
  }), IsOk());
}

TEST(Resilience, TheStatementCacheIsBoundedBetweenLeasesNeverDuringOne) {
  invitations::ConnectionPoolOptions options;
  options.max_cached_statements = 4;
  invitations::ConnectionPool pool = OneConnectionPool("stmt_bound", options);

  ASSERT_THAT(invitations::RunReadOnly(pool, "many", [&](invitations::SqlSession& c) {
    sql::PreparedStatement* kept = c.Prepare("SELECT ? + 1");
    for (int i = 2; i <= 6; ++i) c.Prepare(absl::StrCat("SELECT ? + ", i));
    EXPECT_EQ(c.cached_statements(), 6u);
    EXPECT_EQ(PlusOne(*kept, 1), 2) << "a statement of this lease was closed under it";
    return absl::OkStatus();
  }), IsOk());
  ASSERT_THAT(invitations::RunReadOnly(pool, "next", [&](invitations::SqlSession& c) {
    EXPECT_EQ(c.cached_statements(), 0u);
    EXPECT_EQ(PlusOne(*c.Prepare("SELECT ? + 1"), 2), 3);
    return absl::OkStatus();
  }), IsOk());
}

TEST(Resilience, CachedStatementsDieWithAKilledConnection) {
  invitations::ConnectionPoolOptions options;
  // No ping before reuse, however slow the machine: the body itself must meet the dead connection.
  options.validate_after_idle = absl::Hours(1);
  invitations::ConnectionPool pool = OneConnectionPool("stmt_kill", options);

  int64_t connection_id = -1;
  ASSERT_THAT(invitations::RunReadOnly(pool, "warm", [&](invitations::SqlSession& c) {
    EXPECT_EQ(PlusOne(*c.Prepare("SELECT ? + 1"), 1), 2);
    std::unique_ptr<sql::Statement> s(c.connection().createStatement());
    std::unique_ptr<sql::ResultSet> rs(s->executeQuery("SELECT CONNECTION_ID()"));
    connection_id = rs->next() ? rs->getInt64(1) : -1;
    return absl::OkStatus();
  }), IsOk());
  ASSERT_THAT(SharedMariaDb().Query("mysql", absl::StrCat("KILL ", connection_id)).status(),
              IsOk());

  // The idle connection is dead: the pool retries on a fresh one, whose cache starts empty.
  int attempts = 0;
  ASSERT_THAT(invitations::RunReadOnly(pool, "after kill", [&](invitations::SqlSession& c) {
    ++attempts;
    EXPECT_EQ(PlusOne(*c.Prepare("SELECT ? + 1"), 9), 10);
    return absl::OkStatus();
  }), IsOk());
  EXPECT_EQ(attempts, 2) << "the first attempt should have met the killed connection";
}

// With several hosts (a cluster's nodes), one that cannot be reached is passed over, the pool
// stays on the one that answered, and the error names every host only when none answers.
TEST(Resilience, AHostListPassesOverHostsThatDoNotAnswer) {
  const std::string database = absl::StrCat("hosts_", getpid());
  ASSERT_THAT(SharedMariaDb().CreateDatabase(database), IsOk());
  const int dead_port = PickFreePort();
  absl::StatusOr<invitations::MysqlEndpoint> endpoint = invitations::ParseMysqlUri(
      absl::StrCat("mysql://root@127.0.0.1:", dead_port, ",127.0.0.1:", SharedMariaDb().port(),
                   "/", database));
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  invitations::ConnectionPoolOptions options;
  options.connect_timeout = absl::Seconds(1);
  options.max_connections = 2;
  invitations::ConnectionPool pool(*endpoint, options);
  for (int i = 0; i < 3; ++i) {
    std::optional<invitations::ConnectionPool::Lease> a, b;
    {
      absl::StatusOr<invitations::ConnectionPool::Lease> first = pool.Acquire();
      ASSERT_TRUE(first.ok()) << first.status();
      EXPECT_EQ(first->session().host_index(), 1u);
      a.emplace(*std::move(first));
    }
    absl::StatusOr<invitations::ConnectionPool::Lease> second = pool.Acquire();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->session().host_index(), 1u);
    a->Discard();
  }
  // Health follows: the probe answers while any host serves.
  invitations::ConnectionPoolOptions probe = options;
  probe.max_connections = 1;
  invitations::ConnectionPool probe_pool(*endpoint, probe);
  EXPECT_THAT(invitations::PingDatabase(probe_pool), IsOk());

  absl::StatusOr<invitations::MysqlEndpoint> nowhere = invitations::ParseMysqlUri(
      absl::StrCat("mysql://root@127.0.0.1:", dead_port, ",127.0.0.1:", PickFreePort(), "/x"));
  ASSERT_TRUE(nowhere.ok());
  invitations::ConnectionPool dead(*nowhere, options);
  absl::StatusOr<invitations::ConnectionPool::Lease> none = dead.Acquire();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnavailable) << none.status();
  EXPECT_EQ(invitations::PingDatabase(dead).code(), absl::StatusCode::kUnavailable);
}

// MariaDB restarted under a running server: calls fail cleanly meanwhile and succeed afterwards
// without restarting the service. Runs last in this binary: it stops the shared database.
TEST(ResilienceZ, DatabaseRestartIsSurvivedWithoutRestartingTheService) {
  TestServerOptions options;
  options.pool.connect_timeout = absl::Seconds(1);
  options.pool.acquire_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;
  pb::CreateInvitationResponse before;
  ASSERT_THAT(CreateOne(server, &before), IsOk());

  ASSERT_TRUE(SharedMariaDb().Stop().ok());
  for (int i = 0; i < 3; ++i) {
    pb::CreateInvitationResponse during;
    grpc::Status s = CreateOne(server, &during, absl::Seconds(15));
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(s.error_message(), ::testing::HasSubstr("database"));
  }

  ASSERT_TRUE(SharedMariaDb().StartAgain().ok());
  pb::CreateInvitationResponse after;
  ASSERT_THAT(CreateOne(server, &after), IsOk());
  pb::GetInvitationRequest get;
  get.set_id(before.invitation().id());
  pb::GetInvitationResponse got;
  EXPECT_THAT(server.stub().GetInvitation(Context().get(), get, &got), IsOk());
}

}  // namespace
}  // namespace securelink::testing
