#include "storage/migrations.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/domain/token.h"
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

// schema_migrations.state: a row is written 'started' before a file's first statement and
// becomes 'applied' after its last. DDL commits on its own, statement by statement, so a process
// that dies mid-file leaves some of the file's statements in effect and the row 'started'.
constexpr char kStarted[] = "started";
constexpr char kApplied[] = "applied";

// MySQL/MariaDB errors the bookkeeping code branches on.
constexpr int kErDupFieldName = 1060;  // ADD COLUMN of a column that exists (a racing replica)
constexpr int kErBadField = 1054;      // a bookkeeping table from before the state column
constexpr int kErNoSuchTable = 1146;   // a database nobody has migrated yet

std::string FileOf(const Migration& m) {
  if (!m.file.empty()) return m.file;
  return absl::StrCat(absl::Dec(m.version, absl::kZeroPad4), "_", m.name, ".sql");
}

// One row of schema_migrations.
struct Recorded {
  std::string name;
  std::string state;
  std::string checksum;  // empty: not recorded (a row from before checksums, not yet filled)
};
using Ledger = std::map<int, Recorded>;

Ledger ReadLedger(SqlSession& c) {
  std::unique_ptr<sql::Statement> s(c.connection().createStatement());
  std::unique_ptr<sql::ResultSet> rows(s->executeQuery(
      "SELECT version, name, state, COALESCE(checksum, '') FROM schema_migrations"));
  Ledger ledger;
  while (rows->next()) {
    ledger[rows->getInt(1)] = Recorded{std::string(rows->getString(2)),
                                       std::string(rows->getString(3)),
                                       std::string(rows->getString(4))};
  }
  return ledger;
}

bool IsApplied(const Ledger& ledger, int version) {
  auto it = ledger.find(version);
  return it != ledger.end() && it->second.state == kApplied;
}

int NewestApplied(const Ledger& ledger) {
  int version = 0;
  for (const auto& [v, row] : ledger) {
    if (row.state == kApplied) version = std::max(version, v);
  }
  return version;
}

std::vector<const Migration*> Pending(const Ledger& ledger,
                                      const std::vector<Migration>& migrations) {
  std::vector<const Migration*> pending;
  for (const Migration& m : migrations) {
    if (!IsApplied(ledger, m.version)) pending.push_back(&m);
  }
  return pending;
}

// Whether a live process holds the migration lock (its lease has not run out).
bool LockIsLive(SqlSession& c) {
  std::unique_ptr<sql::Statement> s(c.connection().createStatement());
  std::unique_ptr<sql::ResultSet> lock(
      s->executeQuery("SELECT owner IS NOT NULL AND lease_expire_time >= UTC_TIMESTAMP(6) "
                      "FROM schema_migration_lock WHERE id = 1"));
  return lock->next() && lock->getInt(1) == 1;
}

// What must stop a process at start, whether it migrates or not: a migration of this binary
// left half-applied, or one whose file changed after it was applied. A 'started' row while a
// live process holds the lock is a migration in progress (UNAVAILABLE: worth waiting for).
// Rows of versions this binary does not know belong to a newer release and are its business.
absl::Status CheckHistory(const Ledger& ledger, const std::vector<Migration>& migrations,
                          bool lock_live) {
  for (const Migration& m : migrations) {
    auto it = ledger.find(m.version);
    if (it == ledger.end() || it->second.state != kStarted) continue;
    if (lock_live) {
      return absl::UnavailableError(absl::StrCat(
          "migration ", FileOf(m), " is being applied right now by another process (e.g. "
          "invitation_server --migrate_only); try again once it has finished"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "migration ", FileOf(m), " was left half-applied: a run stopped in the middle of it, and "
        "since MySQL DDL is not transactional some of its statements may have taken effect. "
        "Repair by hand: compare the schema with storage/migrations/", FileOf(m),
        ", then either run the statements that did not take effect and mark it done "
        "(UPDATE schema_migrations SET state = 'applied' WHERE version = ", m.version,
        ") or undo those that did and forget it (DELETE FROM schema_migrations WHERE version = ",
        m.version, "); then run invitation_server --migrate_only"));
  }
  for (const Migration& m : migrations) {
    auto it = ledger.find(m.version);
    if (it == ledger.end() || it->second.state != kApplied || it->second.checksum.empty()) {
      continue;
    }
    const std::string checksum = MigrationChecksum(m);
    if (it->second.checksum != checksum) {
      return absl::FailedPreconditionError(absl::StrCat(
          "migration ", FileOf(m), " has changed since it was applied to this database (as '",
          it->second.name, "', SHA-256 ", it->second.checksum, "; this binary's file: ", checksum,
          "): a migration is never edited once applied; restore storage/migrations/",
          FileOf(m), " and put the change in a new migration"));
    }
  }
  return absl::OkStatus();
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
  bool pending = false;  // some migration was not applied when the claim was tried
  bool held = false;     // this owner holds the lock (only tried while migrations are pending)
};

absl::StatusOr<Claim> TryClaim(ConnectionPool& pool, const std::string& owner,
                               const std::vector<Migration>& migrations) {
  Claim claim;
  RETURN_IF_ERROR(RunTransaction(pool, "claiming the migration lock", [&](SqlSession& c) {
    claim = Claim{};
    claim.pending = !Pending(ReadLedger(c), migrations).empty();
    if (!claim.pending) return absl::OkStatus();
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

// Applies one migration: its row 'started', its statements one by one (DDL commits
// implicitly), its row 'applied'. A statement that fails transiently (a lost connection, a
// Galera node leaving, a deadlock) is retried by this same process, continuing from that
// statement: the ones before it returned OK, so they took effect, and running them again would
// fail (error 1050). A process that dies mid-file leaves no such knowledge behind (the statement
// in flight may or may not have taken effect), so its 'started' row stops the next run instead.
absl::Status ApplyOne(ConnectionPool& pool, const Migration& m) {
  RETURN_IF_ERROR(RunTransaction(pool, "recording a migration as started", [&](SqlSession& c) {
    // IGNORE: a retry after a commit whose answer was lost finds its own row.
    sql::PreparedStatement* ins = c.Prepare(
        "INSERT IGNORE INTO schema_migrations (version, name, applied_at, checksum, state) "
        "VALUES (?, ?, UTC_TIMESTAMP(6), ?, 'started')");
    ins->setInt(1, m.version);
    ins->setString(2, m.name);
    ins->setString(3, MigrationChecksum(m));
    ins->execute();
    return absl::OkStatus();
  }));
  const std::vector<std::string> statements = SplitStatements(m.sql);
  size_t done = 0;
  const std::string what = absl::StrCat("applying migration ", FileOf(m));
  RETURN_IF_ERROR(RunReadOnly(pool, what, [&](SqlSession& c) {
    std::unique_ptr<sql::Statement> s(c.connection().createStatement());
    for (; done < statements.size(); ++done) s->execute(statements[done]);
    return absl::OkStatus();
  }));
  return RunTransaction(pool, "recording a migration as applied", [&](SqlSession& c) {
    sql::PreparedStatement* finish = c.Prepare(
        "UPDATE schema_migrations SET state = 'applied', applied_at = UTC_TIMESTAMP(6) "
        "WHERE version = ?");
    finish->setInt(1, m.version);
    finish->execute();
    return absl::OkStatus();
  });
}

// Under the lock: refuses a history this binary must not build on, then applies what is
// pending, in order. Returns the files applied.
absl::StatusOr<std::vector<std::string>> ApplyPending(ConnectionPool& pool,
                                                      const std::string& owner,
                                                      const std::vector<Migration>& migrations) {
  Ledger ledger;
  RETURN_IF_ERROR(RunReadOnly(pool, "reading applied migrations", [&](SqlSession& c) {
    ledger = ReadLedger(c);
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(CheckHistory(ledger, migrations, /*lock_live=*/false));
  std::vector<std::string> applied;
  for (const Migration* m : Pending(ledger, migrations)) {
    RETURN_IF_ERROR(ApplyOne(pool, *m));
    applied.push_back(FileOf(*m));
    RETURN_IF_ERROR(Renew(pool, owner));
  }
  return applied;
}

// The bookkeeping tables, created or brought up to date. Portable SQL (MySQL 8 lacks MariaDB's
// ADD COLUMN IF NOT EXISTS): the columns are looked up and added together in one ALTER; a
// replica racing another to it gets error 1060 and finds them there. Rows from before the state
// column were written only once their file had been applied, hence its default.
absl::Status PrepareBookkeeping(ConnectionPool& pool, const std::vector<Migration>& migrations) {
  RETURN_IF_ERROR(RunReadOnly(pool, "preparing migrations", [](SqlSession& c) {
    std::unique_ptr<sql::Statement> s(c.connection().createStatement());
    s->execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INT NOT NULL PRIMARY KEY,"
        " name VARCHAR(255) NOT NULL,"
        " applied_at DATETIME(6) NOT NULL,"
        " checksum CHAR(64) NULL,"
        " state VARCHAR(16) NOT NULL DEFAULT 'applied'"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    s->execute(
        "CREATE TABLE IF NOT EXISTS schema_migration_lock ("
        " id TINYINT NOT NULL PRIMARY KEY,"
        " owner VARCHAR(64) NULL,"
        " lease_expire_time DATETIME(6) NULL"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    std::unique_ptr<sql::ResultSet> columns(s->executeQuery(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'schema_migrations' AND COLUMN_NAME IN ('checksum', 'state')"));
    if (columns->next() && columns->getInt(1) == 2) return absl::OkStatus();
    try {
      s->execute(
          "ALTER TABLE schema_migrations ADD COLUMN checksum CHAR(64) NULL, "
          "ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT 'applied'");
    } catch (const sql::SQLException& e) {
      if (e.getErrorCode() != kErDupFieldName) throw;
    }
    return absl::OkStatus();
  }));
  // Checksums of rows from before the column, taken from this binary's files: idempotent, so
  // replicas doing it at once write the same values.
  RETURN_IF_ERROR(RunTransaction(pool, "recording migration checksums", [&](SqlSession& c) {
    sql::PreparedStatement* fill = c.Prepare(
        "UPDATE schema_migrations SET checksum = ? "
        "WHERE version = ? AND checksum IS NULL AND state = 'applied'");
    for (const Migration& m : migrations) {
      fill->setString(1, MigrationChecksum(m));
      fill->setInt(2, m.version);
      fill->executeUpdate();
    }
    return absl::OkStatus();
  }));
  return RunTransaction(pool, "preparing migrations", [](SqlSession& c) {
    c.Prepare("INSERT IGNORE INTO schema_migration_lock (id) VALUES (1)")->execute();
    return absl::OkStatus();
  });
}

// The ledger and whether the lock is live, read without writing; FAILED_PRECONDITION when the
// bookkeeping tables are missing or older than this binary.
absl::Status ReadState(ConnectionPool& pool, Ledger& ledger, bool& lock_live) {
  return RunReadOnly(pool, "reading applied migrations", [&](SqlSession& c) {
    try {
      ledger = ReadLedger(c);
      lock_live = LockIsLive(c);
    } catch (const sql::SQLException& e) {
      if (e.getErrorCode() == kErNoSuchTable) {
        return absl::FailedPreconditionError(
            "the database has no schema yet: run invitation_server --migrate_only with a "
            "database user that may change the schema");
      }
      if (e.getErrorCode() == kErBadField) {
        return absl::FailedPreconditionError(
            "the database's schema_migrations table predates migration checksums: run this "
            "release's invitation_server --migrate_only once");
      }
      throw;
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::string MigrationChecksum(const Migration& migration) {
  return absl::BytesToHexString(Sha256(migration.sql));
}

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* const migrations = [] {
    auto* out = new std::vector<Migration>();
    for (const EmbeddedFile& file : MigrationFiles()) {
      std::string name;
      const int version = VersionOf(file.name, &name);
      if (version < 0) continue;  // storage/CMakeLists.txt refuses such a name at configure time
      out->push_back(Migration{version, std::move(name), std::string(file.content),
                               std::string(file.name)});
    }
    std::sort(out->begin(), out->end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return out;
  }();
  return *migrations;
}

absl::StatusOr<MigrationOutcome> MigrateSchema(ConnectionPool& pool,
                                               const std::vector<Migration>& migrations,
                                               absl::Duration lock_timeout) {
  RETURN_IF_ERROR(PrepareBookkeeping(pool, migrations));
  MigrationOutcome outcome;
  const std::string owner = RandomOwner();
  const absl::Time deadline = absl::Now() + lock_timeout;
  while (true) {
    ASSIGN_OR_RETURN(const Claim claim, TryClaim(pool, owner, migrations));
    if (!claim.pending) break;
    if (claim.held) {
      absl::StatusOr<std::vector<std::string>> applied = ApplyPending(pool, owner, migrations);
      absl::Status released = Release(pool, owner);
      if (!applied.ok()) return applied.status();
      RETURN_IF_ERROR(released);
      outcome.applied = *std::move(applied);
      break;
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(
          "another replica has held the migration lock too long; try again");
    }
    absl::SleepFor(kClaimPollInterval);
  }
  // Also when nothing was pending: an applied file may have changed since.
  Ledger ledger;
  bool lock_live = false;
  RETURN_IF_ERROR(ReadState(pool, ledger, lock_live));
  RETURN_IF_ERROR(CheckHistory(ledger, migrations, lock_live));
  outcome.version = NewestApplied(ledger);
  return outcome;
}

absl::StatusOr<int> ApplyMigrations(ConnectionPool& pool, const std::vector<Migration>& migrations,
                                    absl::Duration lock_timeout) {
  ASSIGN_OR_RETURN(const MigrationOutcome outcome, MigrateSchema(pool, migrations, lock_timeout));
  return outcome.version;
}

absl::StatusOr<int> CheckSchema(ConnectionPool& pool, const std::vector<Migration>& migrations) {
  Ledger ledger;
  bool lock_live = false;
  RETURN_IF_ERROR(ReadState(pool, ledger, lock_live));
  RETURN_IF_ERROR(CheckHistory(ledger, migrations, lock_live));
  const std::vector<const Migration*> pending = Pending(ledger, migrations);
  if (!pending.empty()) {
    std::string more;
    if (pending.size() > 1) absl::StrAppend(&more, " (and ", pending.size() - 1, " after it)");
    return absl::FailedPreconditionError(absl::StrCat(
        "migration ", FileOf(*pending.front()), more,
        " is not applied to this database and this process does not migrate (--migrate=false): "
        "run invitation_server --migrate_only first"));
  }
  return NewestApplied(ledger);
}

absl::StatusOr<MigrationOutcome> PrepareSchemaWhenReachable(
    ConnectionPool& pool, const std::vector<Migration>& migrations, bool migrate,
    absl::Duration timeout, const std::function<void(const absl::Status&)>& on_retry) {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<MigrationOutcome> outcome;
    if (migrate) {
      outcome = MigrateSchema(pool, migrations);
    } else if (absl::StatusOr<int> version = CheckSchema(pool, migrations); version.ok()) {
      outcome = MigrationOutcome{*version, {}};
    } else {
      outcome = version.status();
    }
    if (outcome.ok() || !absl::IsUnavailable(outcome.status()) || absl::Now() > give_up) {
      return outcome;
    }
    on_retry(outcome.status());
    absl::SleepFor(absl::Seconds(1));
  }
}

}  // namespace securelink::invitations
