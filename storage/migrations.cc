#include "storage/migrations.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

// NNNN_name.sql: the version and the name; -1 for a file not named so.
int VersionOf(absl::string_view file, std::string* name) {
  const size_t underscore = file.find('_');
  int version = -1;
  if (underscore == absl::string_view::npos || !absl::EndsWith(file, ".sql") ||
      !absl::SimpleAtoi(file.substr(0, underscore), &version)) {
    return -1;
  }
  *name = std::string(file.substr(underscore + 1, file.size() - underscore - 1 - 4));
  return version;
}

}  // namespace

std::vector<std::string> SplitStatements(const std::string& sql) {
  std::vector<std::string> statements;
  std::string current;
  std::string delimiter = ";";
  for (absl::string_view line : absl::StrSplit(sql, '\n')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(trimmed, "--") || trimmed.empty()) continue;
    if (absl::ConsumePrefix(&trimmed, "DELIMITER ")) {
      delimiter = std::string(absl::StripAsciiWhitespace(trimmed));
      continue;
    }
    if (absl::EndsWith(trimmed, delimiter)) {
      absl::string_view last = line.substr(0, line.rfind(delimiter));
      // The server takes one statement per call and no client delimiter: ';' stays a
      // terminator it accepts, any other delimiter is dropped.
      absl::StrAppend(&current, delimiter == ";" ? line : last, "\n");
      statements.push_back(current);
      current.clear();
      continue;
    }
    absl::StrAppend(&current, line, "\n");
  }
  if (!absl::StripAsciiWhitespace(current).empty()) statements.push_back(current);
  return statements;
}

namespace {

int ScalarInt(SqlSession& c, const std::string& query) {
  std::unique_ptr<sql::Statement> s(c.connection().createStatement());
  std::unique_ptr<sql::ResultSet> rs(s->executeQuery(query));
  if (!rs->next() || rs->isNull(1)) return -1;
  return rs->getInt(1);
}

// One replica applies migrations at a time, whichever database node each talks to. A session
// lock (GET_LOCK) would do on one server but is node-local on a Galera cluster, so the lock is
// a row: claiming it is a committed write, and of two claims made at once on different nodes
// only one commits (the other loses certification, error 1213, and is retried to find the row
// taken). The claim is a lease, renewed after each migration, so a replica that dies holding it
// delays the others by at most one lease. Times are the database's, so replicas' clocks do not
// matter.
constexpr int kLeaseSeconds = 60;
constexpr absl::Duration kClaimPollInterval = absl::Milliseconds(200);

std::string RandomOwner() {
  std::random_device random;
  return absl::StrCat(absl::Hex(random(), absl::kZeroPad8), absl::Hex(random(), absl::kZeroPad8),
                      absl::Hex(random(), absl::kZeroPad8), absl::Hex(random(), absl::kZeroPad8));
}

struct Claim {
  int version = 0;    // the database's schema version when the claim was tried
  bool held = false;  // this owner holds the lock (only tried while migrations are pending)
};

absl::StatusOr<Claim> TryClaim(ConnectionPool& pool, const std::string& owner, int latest) {
  Claim claim;
  RETURN_IF_ERROR(RunTransaction(pool, "claiming the migration lock", [&](SqlSession& c) {
    claim = Claim{};
    claim.version = std::max(0, ScalarInt(c, "SELECT MAX(version) FROM schema_migrations"));
    if (claim.version >= latest) return absl::OkStatus();
    std::unique_ptr<sql::Statement> s(c.connection().createStatement());
    std::unique_ptr<sql::ResultSet> lock(
        s->executeQuery("SELECT owner IS NULL OR lease_expire_time < UTC_TIMESTAMP(6) "
                        "FROM schema_migration_lock WHERE id = 1 FOR UPDATE"));
    if (!lock->next() || lock->getInt(1) != 1) return absl::OkStatus();
    sql::PreparedStatement* take = c.Prepare(absl::StrCat(
        "UPDATE schema_migration_lock SET owner = ?, lease_expire_time = UTC_TIMESTAMP(6) + "
        "INTERVAL ",
        kLeaseSeconds, " SECOND WHERE id = 1"));
    take->setString(1, owner);
    take->executeUpdate();
    claim.held = true;
    return absl::OkStatus();
  }));
  return claim;
}

// Renews the lease; ABORTED when another replica took the lock over (this one stalled).
absl::Status Renew(ConnectionPool& pool, const std::string& owner) {
  return RunTransaction(pool, "renewing the migration lock", [&](SqlSession& c) {
    sql::PreparedStatement* renew = c.Prepare(absl::StrCat(
        "UPDATE schema_migration_lock SET lease_expire_time = UTC_TIMESTAMP(6) + INTERVAL ",
        kLeaseSeconds, " SECOND WHERE id = 1 AND owner = ?"));
    renew->setString(1, owner);
    if (renew->executeUpdate() != 1) {
      return absl::AbortedError("the migration lock passed to another replica mid-way");
    }
    return absl::OkStatus();
  });
}

absl::Status Release(ConnectionPool& pool, const std::string& owner) {
  return RunTransaction(pool, "releasing the migration lock", [&](SqlSession& c) {
    sql::PreparedStatement* release = c.Prepare(
        "UPDATE schema_migration_lock SET owner = NULL, lease_expire_time = NULL "
        "WHERE id = 1 AND owner = ?");
    release->setString(1, owner);
    release->executeUpdate();
    return absl::OkStatus();
  });
}

// Applies the migrations after `version`, in order, each statement on its own (DDL commits
// implicitly), the version row last. Returns the version reached. A statement that fails
// transiently (a lost connection, a Galera node leaving, a deadlock) is retried, but the
// statements before it, already committed, are not run again: they would fail (error 1050).
absl::StatusOr<int> ApplyPending(ConnectionPool& pool, const std::string& owner,
                                 const std::vector<Migration>& migrations, int version) {
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    const std::vector<std::string> statements = SplitStatements(m.sql);
    size_t done = 0;
    RETURN_IF_ERROR(RunReadOnly(pool, "applying migrations", [&](SqlSession& c) {
      std::unique_ptr<sql::Statement> s(c.connection().createStatement());
      for (; done < statements.size(); ++done) s->execute(statements[done]);
      sql::PreparedStatement* ins = c.Prepare(
          "INSERT INTO schema_migrations (version, name, applied_at) "
          "VALUES (?, ?, UTC_TIMESTAMP(6))");
      ins->setInt(1, m.version);
      ins->setString(2, m.name);
      ins->execute();
      return absl::OkStatus();
    }));
    version = m.version;
    RETURN_IF_ERROR(Renew(pool, owner));
  }
  return version;
}

}  // namespace

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* const migrations = [] {
    auto* out = new std::vector<Migration>();
    for (const EmbeddedFile& file : MigrationFiles()) {
      std::string name;
      const int version = VersionOf(file.name, &name);
      if (version < 0) continue;  // storage/CMakeLists.txt refuses such a name at configure time
      out->push_back(Migration{version, std::move(name), std::string(file.content)});
    }
    return out;
  }();
  return *migrations;
}

absl::StatusOr<int> ApplyMigrations(ConnectionPool& pool, const std::vector<Migration>& migrations,
                                    absl::Duration lock_timeout) {
  RETURN_IF_ERROR(RunReadOnly(pool, "preparing migrations", [](SqlSession& c) {
    std::unique_ptr<sql::Statement> s(c.connection().createStatement());
    s->execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INT NOT NULL PRIMARY KEY,"
        " name VARCHAR(255) NOT NULL,"
        " applied_at DATETIME(6) NOT NULL"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    s->execute(
        "CREATE TABLE IF NOT EXISTS schema_migration_lock ("
        " id TINYINT NOT NULL PRIMARY KEY,"
        " owner VARCHAR(64) NULL,"
        " lease_expire_time DATETIME(6) NULL"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(RunTransaction(pool, "preparing migrations", [](SqlSession& c) {
    c.Prepare("INSERT IGNORE INTO schema_migration_lock (id) VALUES (1)")->execute();
    return absl::OkStatus();
  }));
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  const std::string owner = RandomOwner();
  const absl::Time deadline = absl::Now() + lock_timeout;
  while (true) {
    ASSIGN_OR_RETURN(const Claim claim, TryClaim(pool, owner, latest));
    if (claim.version >= latest) return claim.version;
    if (claim.held) {
      absl::StatusOr<int> version = ApplyPending(pool, owner, migrations, claim.version);
      absl::Status released = Release(pool, owner);
      if (!version.ok()) return version.status();
      RETURN_IF_ERROR(released);
      return version;
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(
          "another replica has held the migration lock too long; try again");
    }
    absl::SleepFor(kClaimPollInterval);
  }
}

}  // namespace securelink::invitations
