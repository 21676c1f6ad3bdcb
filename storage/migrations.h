// Versioned schema migrations (storage/migrations/NNNN_name.sql, embedded in the binary),
// applied at start-up under a cluster-wide lock so replicas starting together are safe.
#ifndef SECURELINK_STORAGE_MIGRATIONS_H_
#define SECURELINK_STORAGE_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/util/embedded_files.h"
#include "storage/connection_pool.h"

namespace securelink::invitations {

struct Migration {
  int version;
  std::string name;
  std::string sql;  // statements separated as SplitStatements says
};

// The statements of a migration file: each ends at a line ending in ';', comment lines ("--")
// and blank lines dropped. A compound statement whose body holds ';' (a trigger's BEGIN ... END)
// goes between `DELIMITER //` and `DELIMITER ;` lines, as for the mysql client, and ends at a
// line ending in "//" (which is not sent).
std::vector<std::string> SplitStatements(const std::string& sql);

// The migration files compiled into this binary (storage/migrations/NNNN_name.sql).
EmbeddedFiles MigrationFiles();

// The migrations compiled into this binary, in ascending version order.
const std::vector<Migration>& EmbeddedMigrations();

// Applies every migration newer than the database's recorded version, in order, so that
// concurrent callers (replicas, on one server or on different nodes of a Galera cluster) apply
// each exactly once: one holds the lock row `schema_migration_lock`, the others wait for it to
// finish. Returns the schema version afterwards. A database newer than `migrations` is left as
// is. UNAVAILABLE when the database is unreachable or another replica holds the lock longer
// than `lock_timeout`.
absl::StatusOr<int> ApplyMigrations(ConnectionPool& pool, const std::vector<Migration>& migrations,
                                    absl::Duration lock_timeout = absl::Seconds(60));

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MIGRATIONS_H_
