// Migrations as a deployment step, with the real invitation_server binary on a real MariaDB:
// --migrate_only applies and exits, replicas with --migrate=false only check the schema and can
// serve with a database user limited to rows (deploy/grants.sql), and every start refuses a
// migration whose file changed or that a dead run left half-applied.
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <grpcpp/grpcpp.h>
#include <mysql_connection.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/connection_pool.h"
#include "storage/migrations.h"
#include "storage/mysql_uri.h"
#include "tests/client/e2e_support.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace inv = ::securelink::invitations;
namespace pb = ::securelink::invitations::v1;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Trimmed(const absl::StatusOr<std::string>& out) {
  return out.ok() ? std::string(absl::StripAsciiWhitespace(*out)) : out.status().ToString();
}

// A fresh database on the shared MariaDB.
std::string NewDatabase(absl::string_view prefix) {
  const std::string database = e2e::UniqueName(prefix);
  EXPECT_TRUE(SharedMariaDb().CreateDatabase(database).ok());
  return database;
}

// The embedded migrations up to and including `version`.
std::vector<inv::Migration> Through(int version) {
  std::vector<inv::Migration> out;
  for (const inv::Migration& m : inv::EmbeddedMigrations()) {
    if (m.version <= version) out.push_back(m);
  }
  return out;
}

// Migrates `database` in-process with `migrations`, as root.
void MigrateInProcess(const std::string& database, const std::vector<inv::Migration>& migrations) {
  absl::StatusOr<inv::MysqlEndpoint> endpoint = inv::ParseMysqlUri(SharedMariaDb().Uri(database));
  ASSERT_TRUE(endpoint.ok());
  inv::ConnectionPool pool(*endpoint, {});
  ASSERT_THAT(inv::ApplyMigrations(pool, migrations).status(), IsOk());
}

const inv::Migration& Latest() { return inv::EmbeddedMigrations().back(); }

// `invitation_server --migrate_only` with only the database set, plus `env`.
e2e::ProgramResult RunMigrateOnly(const std::string& mysql_uri, std::vector<std::string> env = {}) {
  env.push_back(absl::StrCat("INVITATIONS_MYSQL_URI=", mysql_uri));
  env.push_back("INVITATIONS_DB_STARTUP_TIMEOUT=5s");
  return e2e::RunProgram(INVITATION_SERVER_PATH, {"--migrate_only"}, env);
}

// A serving process on `database` (auth off, a shared sealing key), with `env` first.
e2e::ServerProcess::Options ServerOn(const std::string& mysql_uri, std::vector<std::string> env) {
  e2e::ServerProcess::Options options;
  options.mysql_uri = mysql_uri;
  env.push_back(absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                             e2e::WriteTempFile("sealing.key",
                                                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")));
  env.push_back("INVITATIONS_DB_STARTUP_TIMEOUT=5s");
  options.env = std::move(env);
  options.start_timeout = absl::Seconds(30);
  return options;
}

TEST(MigrateOnly, AppliesEveryMigrationExitsZeroAndASecondRunIsUpToDate) {
  const std::string database = NewDatabase("mig_only");
  // Settings that only serving reads, here unusable: the Job must not need them.
  const std::vector<std::string> serving_only = {
      "INVITATIONS_AUTH=jwt",  // without --jwt_* this refuses to serve
      "INVITATIONS_TLS_CERT_FILE=/nonexistent/tls.crt",
      "INVITATIONS_TLS_KEY_FILE=/nonexistent/tls.key",
      "INVITATIONS_TOKEN_SEALING_KEY_FILE=/nonexistent/sealing.key",
      "INVITATIONS_KEYCLOAK_CLIENT_SECRET_FILE=/nonexistent/secret",
      "INVITATIONS_SMTP_PASSWORD_FILE=/nonexistent/smtp",
  };
  e2e::ProgramResult first = RunMigrateOnly(SharedMariaDb().Uri(database), serving_only);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  for (const inv::Migration& m : inv::EmbeddedMigrations()) {
    EXPECT_THAT(first.out, HasSubstr(absl::StrCat("applied ", m.file, "\n")));
  }
  EXPECT_THAT(first.out, HasSubstr(absl::StrCat("schema now at version ", Latest().version)));
  // Nothing but migrating: no listener was started.
  EXPECT_THAT(first.err, Not(HasSubstr("\"msg\":\"serving\"")));

  // Every file recorded applied, with the SHA-256 of its text.
  for (const inv::Migration& m : inv::EmbeddedMigrations()) {
    EXPECT_EQ(Trimmed(SharedMariaDb().Query(
                  database, absl::StrCat("SELECT state, checksum FROM schema_migrations "
                                         "WHERE version = ",
                                         m.version))),
              absl::StrCat("applied\t", inv::MigrationChecksum(m)))
        << m.file;
  }

  e2e::ProgramResult second = RunMigrateOnly(SharedMariaDb().Uri(database), serving_only);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(second.out, absl::StrCat("schema up to date (version ", Latest().version, ")\n"));
}

TEST(MigrateOnly, AnUnreachableDatabaseExitsNonZeroSayingSo) {
  e2e::ProgramResult r = RunMigrateOnly(
      absl::StrCat("mysql://admin:M1grateSecret@127.0.0.1:", PickFreePort(), "/x"),
      {"INVITATIONS_DB_STARTUP_TIMEOUT=1s", "INVITATIONS_DB_CONNECT_TIMEOUT=1s"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot migrate the database"));
  EXPECT_EQ(r.err.find("M1grateSecret"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(MigrateOnly, AReplicaThatDoesNotMigrateRefusesToStartNamingThePendingMigration) {
  const std::string database = NewDatabase("mig_pending");
  MigrateInProcess(database, Through(Latest().version - 1));
  absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server = e2e::ServerProcess::Start(
      ServerOn(SharedMariaDb().Uri(database), {"INVITATIONS_MIGRATE=false"}));
  ASSERT_FALSE(server.ok()) << "served with a migration pending";
  EXPECT_THAT(server.status().message(), HasSubstr(absl::StrCat("migration ", Latest().file)));
  EXPECT_THAT(server.status().message(), HasSubstr("run invitation_server --migrate_only"));
  // It changed nothing.
  EXPECT_EQ(Trimmed(SharedMariaDb().Query(
                database, absl::StrCat("SELECT COUNT(*) FROM schema_migrations WHERE version = ",
                                       Latest().version))),
            "0");

  // The same replica serves once the migration step has run.
  ASSERT_EQ(RunMigrateOnly(SharedMariaDb().Uri(database)).exit_code, 0);
  server = e2e::ServerProcess::Start(
      ServerOn(SharedMariaDb().Uri(database), {"INVITATIONS_MIGRATE=false"}));
  ASSERT_THAT(server.status(), IsOk());
}

// The GRANT statements of deploy/grants.sql for `database`, with the users renamed to
// `migrate_user` and `serve_user`.
std::string GrantsFor(const std::string& database, const std::string& migrate_user,
                      const std::string& serve_user) {
  std::ifstream in(GRANTS_SQL_PATH);
  std::stringstream text;
  text << in.rdbuf();
  const std::vector<std::pair<std::string, std::string>> renames = {
      {"`invitations`.*", absl::StrCat("`", database, "`.*")},
      {"'invitations_migrate'@", absl::StrCat("'", migrate_user, "'@")},
      {"'invitations'@", absl::StrCat("'", serve_user, "'@")}};
  std::string grants;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    if (!absl::StartsWith(line, "GRANT ")) continue;
    absl::StrAppend(&grants, absl::StrReplaceAll(line, renames), "\n");
  }
  return grants;
}

std::string UserUri(const std::string& user, const std::string& database) {
  return absl::StrCat("mysql://", user, ":pw-", user, "@127.0.0.1:", SharedMariaDb().port(), "/",
                      database);
}

// What a deployment with deploy/grants.sql does: the migration step with the schema-changing
// user, then replicas with the row-only user serving every kind of call and running their
// background work (dispatcher, expiry sweeper, reminders, event feed, accept recoverer).
TEST(MigrateOnly, AReplicaWithARowOnlyUserServesAfterTheMigrationStep) {
  const std::string database = NewDatabase("mig_grants");
  const std::string migrate_user = e2e::UniqueName("migr");
  const std::string serve_user = e2e::UniqueName("serve");
  const std::string grants = GrantsFor(database, migrate_user, serve_user);
  ASSERT_THAT(grants, HasSubstr("GRANT SELECT, INSERT, UPDATE, DELETE ON"));
  ASSERT_THAT(SharedMariaDb().Execute(
                  "", absl::StrCat("CREATE USER '", migrate_user, "'@'%' IDENTIFIED BY 'pw-",
                                   migrate_user, "'; CREATE USER '", serve_user,
                                   "'@'%' IDENTIFIED BY 'pw-", serve_user, "'; ", grants)),
              IsOk());

  // The row-only user cannot migrate: the schema is the migration step's.
  e2e::ProgramResult refused = RunMigrateOnly(UserUri(serve_user, database));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("denied"));

  e2e::ProgramResult migrated = RunMigrateOnly(UserUri(migrate_user, database));
  ASSERT_EQ(migrated.exit_code, 0) << migrated.out << migrated.err;

  const std::string mail_dir = absl::StrCat(::testing::TempDir(), "/", e2e::UniqueName("mail"));
  absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server = e2e::ServerProcess::Start(
      ServerOn(UserUri(serve_user, database),
               {"INVITATIONS_MIGRATE=false", absl::StrCat("INVITATIONS_MAIL_DIR=", mail_dir),
                "INVITATIONS_TTL_MIN=1s",
                "INVITATIONS_EXPIRY_SWEEP_INTERVAL=1s", "INVITATIONS_REMINDER_INTERVAL=1s",
                "INVITATIONS_ACCEPT_RECOVERY_INTERVAL=100ms",
                "INVITATIONS_EVENT_POLL_INTERVAL=50ms", "INVITATIONS_AUTH=disabled"}));
  ASSERT_THAT(server.status(), IsOk());
  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));

  // A tenant with a pending limit, so that Create and Revoke go through the quota triggers.
  const std::string tenant = UniqueTenant();
  pb::UpdateTenantPolicyRequest policy;
  policy.mutable_policy()->set_tenant_id(tenant);
  policy.mutable_policy()->set_max_pending_invitations(5);
  policy.mutable_policy()->mutable_reminder_before_expiry()->set_seconds(3600);
  policy.mutable_update_mask()->add_paths("max_pending_invitations");
  policy.mutable_update_mask()->add_paths("reminder_before_expiry");
  pb::UpdateTenantPolicyResponse updated;
  ASSERT_THAT(stub->UpdateTenantPolicy(Context().get(), policy, &updated), IsOk());

  pb::CreateInvitationRequest create;
  create.set_email(UniqueEmail("grants"));
  create.set_role(pb::ROLE_VPN_USER);
  create.set_tenant_id(tenant);
  pb::CreateInvitationResponse created;
  ASSERT_THAT(stub->CreateInvitation(Context().get(), create, &created), IsOk());
  const std::string id = created.invitation().id();

  pb::GetInvitationRequest get;
  get.set_id(id);
  pb::GetInvitationResponse got;
  ASSERT_THAT(stub->GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().state(), pb::INVITATION_STATE_PENDING);

  pb::ListInvitationsRequest list;
  list.set_tenant_id(tenant);
  pb::ListInvitationsResponse listed;
  ASSERT_THAT(stub->ListInvitations(Context().get(), list, &listed), IsOk());
  ASSERT_EQ(listed.invitations_size(), 1);

  pb::ValidateInvitationTokenRequest validate;
  validate.set_token(TokenOf(created.registration_url()));
  pb::ValidateInvitationTokenResponse valid;
  ASSERT_THAT(stub->ValidateInvitationToken(Context().get(), validate, &valid), IsOk());

  pb::RevokeInvitationRequest revoke;
  revoke.set_id(id);
  pb::RevokeInvitationResponse revoked;
  ASSERT_THAT(stub->RevokeInvitation(Context().get(), revoke, &revoked), IsOk());
  EXPECT_EQ(revoked.invitation().state(), pb::INVITATION_STATE_REVOKED);

  // One whose email the dispatcher delivers, and one that expires, for the sweeper to persist.
  create.set_email(UniqueEmail("grants-mailed"));
  ASSERT_THAT(stub->CreateInvitation(Context().get(), create, &created), IsOk());
  const std::string mailed = created.invitation().id();
  create.set_email(UniqueEmail("grants-expiring"));
  create.mutable_ttl()->set_seconds(1);
  ASSERT_THAT(stub->CreateInvitation(Context().get(), create, &created), IsOk());
  const std::string expiring = created.invitation().id();
  EXPECT_TRUE(WaitFor(
      [&] {
        return Trimmed(SharedMariaDb().Query(
                   database, absl::StrCat("SELECT state FROM invitations WHERE id = '", expiring,
                                          "'"))) == "EXPIRED";
      },
      absl::Seconds(30)))
      << "the expiry sweeper did not persist the expiry";
  EXPECT_TRUE(WaitFor(
      [&] {
        return Trimmed(SharedMariaDb().Query(
                   database, absl::StrCat("SELECT COUNT(*) FROM email_outbox WHERE invitation_id "
                                          "= '", mailed, "' AND state = 'SENT'"))) == "1";
      },
      absl::Seconds(30)))
      << "the dispatcher did not deliver";
  // The event feed's sequencer numbered every event.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Trimmed(SharedMariaDb().Query(
                   database, "SELECT COUNT(*) FROM invitation_events WHERE seq IS NULL")) == "0";
      },
      absl::Seconds(30)));

  // Galera's status reads and causal waits as the row-only user (this server is no Galera
  // node, so the service skips them; the statements still answer).
  absl::StatusOr<inv::MysqlEndpoint> endpoint = inv::ParseMysqlUri(UserUri(serve_user, database));
  ASSERT_TRUE(endpoint.ok());
  inv::ConnectionPool pool(*endpoint, {});
  EXPECT_THAT(inv::RunReadOnly(pool, "galera reads",
                               [](inv::SqlSession& c) {
                                 std::unique_ptr<sql::Statement> s(
                                     c.connection().createStatement());
                                 for (const char* query :
                                      {"SELECT @@wsrep_on",
                                       "SHOW GLOBAL STATUS WHERE Variable_name IN "
                                       "('wsrep_ready', 'wsrep_cluster_status', "
                                       "'wsrep_local_state_comment')",
                                       "SET STATEMENT wsrep_sync_wait = 1 FOR SELECT 1"}) {
                                   std::unique_ptr<sql::ResultSet> rows(s->executeQuery(query));
                                   while (rows->next()) {
                                   }
                                 }
                                 return absl::OkStatus();
                               }),
              IsOk());

  EXPECT_EQ((*server)->Terminate(), 0);
  const std::string log = (*server)->Log();
  EXPECT_THAT(log, Not(HasSubstr("denied"))) << log;
  EXPECT_THAT(log, Not(HasSubstr("\"level\":\"error\""))) << log;
}

// Both ways of starting refuse a database whose applied migration differs from this binary's
// file, naming the file.
TEST(MigrateOnly, AChangedMigrationFileRefusesEveryStartNamingIt) {
  const std::string database = NewDatabase("mig_changed");
  MigrateInProcess(database, inv::EmbeddedMigrations());
  const inv::Migration& changed = inv::EmbeddedMigrations()[2];
  ASSERT_THAT(SharedMariaDb().Execute(
                  database, absl::StrCat("UPDATE schema_migrations SET checksum = REPEAT('0', 64) "
                                         "WHERE version = ",
                                         changed.version)),
              IsOk());
  for (const char* migrate : {"true", "false"}) {
    absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server = e2e::ServerProcess::Start(
        ServerOn(SharedMariaDb().Uri(database), {absl::StrCat("INVITATIONS_MIGRATE=", migrate)}));
    ASSERT_FALSE(server.ok()) << "--migrate=" << migrate;
    EXPECT_THAT(server.status().message(),
                HasSubstr(absl::StrCat("migration ", changed.file, " has changed since it was "
                                                                   "applied")))
        << "--migrate=" << migrate;
  }
  e2e::ProgramResult r = RunMigrateOnly(SharedMariaDb().Uri(database));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(changed.file, " has changed")));
}

// A run that died mid-file left its row 'started': DDL is not transactional, so nobody knows
// which of its statements took effect. Every start refuses and says how to repair.
TEST(MigrateOnly, AHalfAppliedMigrationRefusesEveryStartWithTheRepair) {
  const std::string database = NewDatabase("mig_half");
  MigrateInProcess(database, Through(Latest().version - 1));
  ASSERT_THAT(SharedMariaDb().Execute(
                  database, absl::StrCat("INSERT INTO schema_migrations (version, name, "
                                         "applied_at, checksum, state) VALUES (",
                                         Latest().version, ", '", Latest().name,
                                         "', UTC_TIMESTAMP(6), '",
                                         inv::MigrationChecksum(Latest()), "', 'started')")),
              IsOk());
  const std::string repair =
      absl::StrCat("UPDATE schema_migrations SET state = 'applied' WHERE version = ",
                   Latest().version);
  for (const char* migrate : {"true", "false"}) {
    absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server = e2e::ServerProcess::Start(
        ServerOn(SharedMariaDb().Uri(database), {absl::StrCat("INVITATIONS_MIGRATE=", migrate)}));
    ASSERT_FALSE(server.ok()) << "--migrate=" << migrate;
    EXPECT_THAT(server.status().message(),
                HasSubstr(absl::StrCat("migration ", Latest().file, " was left half-applied")))
        << "--migrate=" << migrate;
    EXPECT_THAT(server.status().message(), HasSubstr(repair)) << "--migrate=" << migrate;
  }
  e2e::ProgramResult r = RunMigrateOnly(SharedMariaDb().Uri(database));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("was left half-applied"));
  // Not re-run: the statements before the crash would fail, or worse, partly succeed.
  EXPECT_EQ(Trimmed(SharedMariaDb().Query(
                database, absl::StrCat("SELECT state FROM schema_migrations WHERE version = ",
                                       Latest().version))),
            "started");
}

// While a live process holds the lock and applies a migration, a replica that does not
// migrate waits for it (up to --db_startup_timeout) instead of calling it half-applied.
TEST(MigrateOnly, AMigrationInProgressIsWaitedForNotCalledHalfApplied) {
  const std::string database = NewDatabase("mig_live");
  MigrateInProcess(database, Through(Latest().version - 1));
  ASSERT_THAT(SharedMariaDb().Execute(
                  database,
                  absl::StrCat("INSERT INTO schema_migrations (version, name, applied_at, "
                               "checksum, state) VALUES (",
                               Latest().version, ", '", Latest().name, "', UTC_TIMESTAMP(6), '",
                               inv::MigrationChecksum(Latest()),
                               "', 'started'); UPDATE schema_migration_lock SET owner = 'live', "
                               "lease_expire_time = UTC_TIMESTAMP(6) + INTERVAL 1 HOUR")),
              IsOk());
  absl::StatusOr<inv::MysqlEndpoint> endpoint = inv::ParseMysqlUri(SharedMariaDb().Uri(database));
  ASSERT_TRUE(endpoint.ok());
  inv::ConnectionPool pool(*endpoint, {});
  absl::StatusOr<int> checked = inv::CheckSchema(pool, inv::EmbeddedMigrations());
  EXPECT_THAT(checked.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(checked.status().message(), HasSubstr("is being applied right now"));
}

// A database migrated before checksums existed: its bookkeeping table gains the columns and
// its rows the checksums of the current files on the first migrating run; until then a replica
// that does not migrate refuses, saying to run the migration step.
TEST(MigrateOnly, ABookkeepingTableFromBeforeChecksumsIsUpgraded) {
  const std::string database = NewDatabase("mig_upgrade");
  MigrateInProcess(database, inv::EmbeddedMigrations());
  ASSERT_THAT(SharedMariaDb().Execute(database, "ALTER TABLE schema_migrations "
                                                "DROP COLUMN checksum, DROP COLUMN state"),
              IsOk());
  absl::StatusOr<inv::MysqlEndpoint> endpoint = inv::ParseMysqlUri(SharedMariaDb().Uri(database));
  ASSERT_TRUE(endpoint.ok());
  inv::ConnectionPool pool(*endpoint, {});
  absl::StatusOr<int> checked = inv::CheckSchema(pool, inv::EmbeddedMigrations());
  EXPECT_THAT(checked.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(checked.status().message(), HasSubstr("--migrate_only"));

  e2e::ProgramResult r = RunMigrateOnly(SharedMariaDb().Uri(database));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("schema up to date"));
  EXPECT_EQ(Trimmed(SharedMariaDb().Query(
                database, "SELECT COUNT(*) FROM schema_migrations WHERE state = 'applied' AND "
                          "checksum IS NOT NULL")),
            absl::StrCat(inv::EmbeddedMigrations().size()));
  checked = inv::CheckSchema(pool, inv::EmbeddedMigrations());
  ASSERT_THAT(checked.status(), IsOk());
  EXPECT_EQ(*checked, Latest().version);
}

}  // namespace
}  // namespace securelink::testing
