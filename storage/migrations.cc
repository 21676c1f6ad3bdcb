#include "storage/migrations.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace securelink::invitations {
namespace {

constexpr char kLockName[] = "securelink_invitations_migrations";

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

std::vector<std::string> SplitStatements(const std::string& sql) {
  std::vector<std::string> statements;
  std::string current;
  for (absl::string_view line : absl::StrSplit(sql, '\n')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(trimmed, "--") || trimmed.empty()) continue;
    absl::StrAppend(&current, line, "\n");
    if (absl::EndsWith(trimmed, ";")) {
      statements.push_back(current);
      current.clear();
    }
  }
  if (!absl::StripAsciiWhitespace(current).empty()) statements.push_back(current);
  return statements;
}

int ScalarInt(SqlSession& c, const std::string& query) {
  std::unique_ptr<sql::Statement> s(c.connection().createStatement());
  std::unique_ptr<sql::ResultSet> rs(s->executeQuery(query));
  if (!rs->next() || rs->isNull(1)) return -1;
  return rs->getInt(1);
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
  int version = 0;
  absl::Status status = RunReadOnly(pool, "applying migrations", [&](SqlSession& c) {
    const int got = ScalarInt(
        c, absl::StrCat("SELECT GET_LOCK('", kLockName, "', ",
                        std::max<int64_t>(1, absl::ToInt64Seconds(lock_timeout)), ")"));
    if (got != 1) {
      return absl::UnavailableError(
          "another replica has held the migration lock too long; try again");
    }
    absl::Status result = [&]() -> absl::Status {
     try {
      std::unique_ptr<sql::Statement> s(c.connection().createStatement());
      s->execute(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version INT NOT NULL PRIMARY KEY,"
          " name VARCHAR(255) NOT NULL,"
          " applied_at DATETIME(6) NOT NULL"
          ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
      version = std::max(0, ScalarInt(c, "SELECT MAX(version) FROM schema_migrations"));
      for (const Migration& m : migrations) {
        if (m.version <= version) continue;
        // DDL commits implicitly in MySQL, so each migration must be written to be re-runnable
        // only in the sense that the lock guarantees a single applier; the version row is the
        // last thing written.
        for (const std::string& statement : SplitStatements(m.sql)) s->execute(statement);
        sql::PreparedStatement* ins(c.Prepare(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES (?, ?, UTC_TIMESTAMP(6))"));
        ins->setInt(1, m.version);
        ins->setString(2, m.name);
        ins->execute();
        version = m.version;
      }
      return absl::OkStatus();
     } catch (const sql::SQLException&) {
      // Release the session lock before the error leaves; the connection may be pooled again.
      try {
        ScalarInt(c, absl::StrCat("SELECT RELEASE_LOCK('", kLockName, "')"));
      } catch (const sql::SQLException&) {
      }
      throw;
     }
    }();
    ScalarInt(c, absl::StrCat("SELECT RELEASE_LOCK('", kLockName, "')"));
    return result;
  });
  if (!status.ok()) return status;
  return version;
}

}  // namespace securelink::invitations
