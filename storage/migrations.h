// Versioned schema migrations (storage/migrations/NNNN_name.sql, embedded in the binary),
// applied at start-up under a cluster-wide lock so replicas starting together are safe.
#ifndef SECURELINK_STORAGE_MIGRATIONS_H_
#define SECURELINK_STORAGE_MIGRATIONS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/util/embedded_files.h"
#include "storage/connection_pool.h"

namespace securelink::invitations {

struct Migration {
  int version;
  std::string name;
  std::string sql;   // statements separated as SplitStatements says
  std::string file;  // "NNNN_name.sql", for messages; empty: derived from version and name
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

// What MigrateSchema did.
struct MigrationOutcome {
  int version = 0;                 // the schema version afterwards (the newest applied)
  std::vector<std::string> applied;  // the files this call applied ("0012_name.sql"), in order
};

// Applies every migration of `migrations` that the database has not recorded as applied, in
// version order, so that concurrent callers (replicas, on one server or on different nodes of a
// Galera cluster) apply each exactly once: one holds the lock row `schema_migration_lock`, the
// others wait for it to finish. Each applied migration is recorded with the SHA-256 of its file
// and a state, 'started' before its first statement and 'applied' after its last, since MySQL
// DDL is not transactional. A bookkeeping table from before those columns is upgraded (the
// checksums of its rows filled from `migrations`). A database newer than `migrations` is left
// as is.
//
// FAILED_PRECONDITION, naming the file, when a migration the database recorded differs from
// `migrations` (its checksum changed) or was left 'started' by a run that stopped mid-file (the
// message says how to repair it). UNAVAILABLE when the database is unreachable or another
// process holds the lock longer than `lock_timeout`. Needs DDL privileges (CREATE, ALTER, INDEX,
// DROP, TRIGGER, REFERENCES) on the database.
absl::StatusOr<MigrationOutcome> MigrateSchema(ConnectionPool& pool,
                                               const std::vector<Migration>& migrations,
                                               absl::Duration lock_timeout = absl::Seconds(60));

// MigrateSchema's resulting version.
absl::StatusOr<int> ApplyMigrations(ConnectionPool& pool, const std::vector<Migration>& migrations,
                                    absl::Duration lock_timeout = absl::Seconds(60));

// For a process that must not change the schema (a serving replica whose database user may only
// read and write rows): checks, without writing anything, that every migration of `migrations`
// is recorded as applied with an unchanged checksum. Returns the schema version.
//
// FAILED_PRECONDITION naming the file when a migration is missing (the message says to run
// `invitation_server --migrate_only`), was changed since it was applied, or was left
// half-applied; also when the database has no bookkeeping table yet, or one from before
// checksums. UNAVAILABLE when the database is unreachable or a migration is being applied right
// now by a live holder of the lock (worth waiting for).
absl::StatusOr<int> CheckSchema(ConnectionPool& pool, const std::vector<Migration>& migrations);

// At start-up the database may still be starting next to the process: MigrateSchema (`migrate`)
// or CheckSchema (not), retried one second apart while it answers UNAVAILABLE (unreachable, the
// lock busy, a migration in progress elsewhere) until `timeout` has passed. `on_retry` is told
// each UNAVAILABLE it retries (for a log line). With !migrate, `applied` stays empty.
absl::StatusOr<MigrationOutcome> PrepareSchemaWhenReachable(
    ConnectionPool& pool, const std::vector<Migration>& migrations, bool migrate,
    absl::Duration timeout, const std::function<void(const absl::Status&)>& on_retry);

// Lower-case hex SHA-256 of a migration file's text: what schema_migrations.checksum holds.
std::string MigrationChecksum(const Migration& migration);

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MIGRATIONS_H_
