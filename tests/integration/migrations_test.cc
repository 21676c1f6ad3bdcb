// Migrations applied by several replicas at once run exactly once each.
#include "storage/migrations.h"

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

TEST(Migrations, ConcurrentReplicasApplyEachVersionExactlyOnce) {
  MariaDbServer& db = SharedMariaDb();
  const std::string database = absl::StrCat("mig_", getpid());
  ASSERT_TRUE(db.CreateDatabase(database).ok());
  absl::StatusOr<invitations::MysqlEndpoint> endpoint = invitations::ParseMysqlUri(db.Uri(database));
  ASSERT_TRUE(endpoint.ok());
  const int latest = invitations::EmbeddedMigrations().back().version;

  constexpr int kReplicas = 4;
  std::vector<absl::StatusOr<int>> results(kReplicas, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      invitations::ConnectionPool pool(*endpoint, {});
      results[i] = invitations::ApplyMigrations(pool, invitations::EmbeddedMigrations());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, latest);
  }
  absl::StatusOr<std::string> rows =
      db.Query(database, "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations");
  ASSERT_TRUE(rows.ok()) << rows.status();
  const std::string expected = absl::StrCat(invitations::EmbeddedMigrations().size(), "\t",
                                            invitations::EmbeddedMigrations().size());
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*rows)), expected);

  // Re-running is a no-op.
  invitations::ConnectionPool pool(*endpoint, {});
  absl::StatusOr<int> again = invitations::ApplyMigrations(pool, invitations::EmbeddedMigrations());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, latest);
}

// The lock is a leased row: a replica that died holding it (its lease passed) delays the others
// by at most the lease, while a live holder makes them wait and then give up UNAVAILABLE.
TEST(Migrations, AStaleLockIsTakenOverAndALiveOneWaitedFor) {
  MariaDbServer& db = SharedMariaDb();
  const std::string database = absl::StrCat("miglock_", getpid());
  ASSERT_TRUE(db.CreateDatabase(database).ok());
  absl::StatusOr<invitations::MysqlEndpoint> endpoint = invitations::ParseMysqlUri(db.Uri(database));
  ASSERT_TRUE(endpoint.ok());
  invitations::ConnectionPool pool(*endpoint, {});
  std::vector<invitations::Migration> first = {invitations::EmbeddedMigrations().front()};
  ASSERT_TRUE(invitations::ApplyMigrations(pool, first).ok());

  ASSERT_TRUE(db.Execute(database,
                         "UPDATE schema_migration_lock SET owner = 'alive', "
                         "lease_expire_time = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR")
                  .ok());
  absl::StatusOr<int> blocked = invitations::ApplyMigrations(
      pool, invitations::EmbeddedMigrations(), absl::Milliseconds(600));
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kUnavailable) << blocked.status();
  absl::StatusOr<std::string> version =
      db.Query(database, "SELECT MAX(version) FROM schema_migrations");
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*version)), "1") << "applied under a held lock";

  ASSERT_TRUE(db.Execute(database,
                         "UPDATE schema_migration_lock SET owner = 'dead', "
                         "lease_expire_time = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")
                  .ok());
  absl::StatusOr<int> taken_over =
      invitations::ApplyMigrations(pool, invitations::EmbeddedMigrations());
  ASSERT_TRUE(taken_over.ok()) << taken_over.status();
  EXPECT_EQ(*taken_over, invitations::EmbeddedMigrations().back().version);
  absl::StatusOr<std::string> lock =
      db.Query(database, "SELECT COALESCE(owner, 'free') FROM schema_migration_lock");
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*lock)), "free");
}

TEST(Migrations, UnreachableDatabaseIsUnavailable) {
  invitations::MysqlEndpoint nowhere;
  nowhere.hosts = {{"127.0.0.1", PickFreePort()}};
  nowhere.user = "root";
  nowhere.database = "x";
  invitations::ConnectionPoolOptions options;
  options.connect_timeout = absl::Seconds(1);
  invitations::ConnectionPool pool(nowhere, options);
  absl::StatusOr<int> r = invitations::ApplyMigrations(pool, invitations::EmbeddedMigrations());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

}  // namespace
}  // namespace securelink::testing
