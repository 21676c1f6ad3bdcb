// A bounded pool of MySQL connections (Connector/C++ 1.1). Connections are created lazily,
// validated after sitting idle, discarded when broken, and replaced transparently, so the
// service survives a database restart without restarting itself.
#ifndef SECURELINK_STORAGE_CONNECTION_POOL_H_
#define SECURELINK_STORAGE_CONNECTION_POOL_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/mysql_uri.h"
#include "storage/query_observer.h"

namespace sql {
class Connection;
class PreparedStatement;
class SQLException;
}  // namespace sql

namespace securelink::invitations {

// One open connection and the server-side prepared statements made on it. Preparing costs a
// round trip and a parse on the server, so each SQL text is prepared once per connection and
// reused by every later transaction that leases it (Connector/C++ 1.1 cannot emulate prepared
// statements client-side). The statements die with the connection.
class SqlSession {
 public:
  // `host_index`: which of the endpoint's hosts the connection reached (0 for a socket).
  // `galera`: the server is a Galera node (operations start with a causal wait; statements
  // prepared inside a transaction check that it is still open).
  explicit SqlSession(std::unique_ptr<sql::Connection> connection, size_t host_index = 0,
                      bool galera = false);
  ~SqlSession();
  SqlSession(const SqlSession&) = delete;
  SqlSession& operator=(const SqlSession&) = delete;

  sql::Connection& connection() { return *connection_; }

  // The statement for `sql`, prepared on this connection the first time and reused afterwards
  // (parameters from an earlier use stay bound until set again). Owned by the session and valid
  // for the rest of the lease. A statement may not be executed again while a result set of its
  // previous execution is still being read. Throws sql::SQLException like prepareStatement.
  sql::PreparedStatement* Prepare(const std::string& sql);

  // Closes every cached statement once there are more than `max_statements`; called between
  // leases (never during one), so texts that vary with their input (IN lists, multi-row
  // INSERTs of odd sizes) cannot grow the cache without bound.
  void TrimStatements(size_t max_statements);

  size_t cached_statements() const { return statements_.size(); }
  size_t host_index() const { return host_index_; }
  bool galera() const { return galera_; }
  // Whether the current operation runs in a transaction (set as each operation begins).
  void set_in_transaction(bool in_transaction) { in_transaction_ = in_transaction; }

 private:
  // On a Galera node, in a transaction: throws a deadlock error (retried like a certification
  // conflict) when the transaction is no longer open.
  void ThrowIfTransactionLost();

  // Declared before the statements so that they are closed first.
  std::unique_ptr<sql::Connection> connection_;
  absl::flat_hash_map<std::string, std::unique_ptr<sql::PreparedStatement>> statements_;
  size_t host_index_;
  bool galera_;
  bool in_transaction_ = false;
};

// Every limit of the pool in one place, with the reasoning for its default.
struct ConnectionPoolOptions {
  // Upper bound on open connections; sized with the worker pool (one connection per worker).
  int max_connections = 16;
  // How long a caller waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // TCP connect / handshake bound, so an unreachable database fails fast.
  absl::Duration connect_timeout = absl::Seconds(3);
  // Socket read/write bound: the ceiling on any one statement, so a stalled database cannot
  // hang a worker forever. Statements are short single-row work; 10 s is generous.
  absl::Duration io_timeout = absl::Seconds(10);
  // InnoDB row-lock wait bound: contention surfaces as a retryable error, not a hang.
  absl::Duration lock_wait_timeout = absl::Seconds(5);
  // A connection idle longer than this is pinged before reuse (it may have been cut).
  absl::Duration validate_after_idle = absl::Seconds(5);
  // Prepared statements kept per connection before the cache is emptied. The service uses
  // about 40 distinct texts; each costs the server a few kB (MariaDB's max_prepared_stmt_count
  // default, 16382, is shared by every connection of every replica).
  size_t max_cached_statements = 64;
};

class ConnectionPool {
 public:
  class Lease;

  // Does not connect; the first Acquire does. `endpoint.password` is never logged.
  //
  // With several hosts (the nodes of a Galera cluster, every one writable), new connections go
  // to the host that last worked, first the first listed; a host that cannot be reached, or a
  // Galera node that is not a synced member of the primary component (joining, donating, cut
  // off), is passed over for the next, and a connection error on a host moves later
  // connections on. Each operation on a Galera node starts with a causal wait, so it reads the
  // cluster's latest writes: a Get right after a Create through another node finds it.
  ConnectionPool(MysqlEndpoint endpoint, ConnectionPoolOptions options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection for the caller's exclusive use until the Lease is destroyed. Waits at most
  // acquire_timeout for a free slot. UNAVAILABLE when no slot frees up in time, the database
  // cannot be reached, or TLS as the endpoint's ssl-mode demands cannot be set up (a server
  // certificate that does not verify, a server without TLS); FAILED_PRECONDITION for an
  // ssl-mode this client library cannot enforce (see CheckTlsSettings).
  absl::StatusOr<Lease> Acquire();

  // Connections currently leased out / open and idle. For metrics and tests.
  int in_use() const;
  int idle() const;

  const MysqlEndpoint& endpoint() const { return endpoint_; }
  const ConnectionPoolOptions& options() const { return options_; }

  // Told about every RunTransaction/RunReadOnly on this pool (metrics). Set it before the pool
  // is shared between threads; `observer` must outlive the pool's use. nullptr: none.
  void set_observer(QueryObserver* observer) { observer_ = observer; }
  QueryObserver* observer() const { return observer_; }

 private:
  struct Idle {
    std::unique_ptr<SqlSession> session;
    absl::Time since;
  };
  // A new session on the first usable host, trying them from the preferred one on.
  absl::StatusOr<std::unique_ptr<SqlSession>> Connect();
  // A session on hosts[index] (the socket when the endpoint has one), ready for use.
  absl::StatusOr<std::unique_ptr<SqlSession>> ConnectTo(size_t index) const;
  void Release(std::unique_ptr<SqlSession> session, bool reusable);
  // A connection to hosts[index] failed: later connections start at the next host.
  void HostFailed(size_t index);

  const MysqlEndpoint endpoint_;
  const ConnectionPoolOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Idle> idle_ ABSL_GUARDED_BY(mu_);
  int leased_ ABSL_GUARDED_BY(mu_) = 0;
  size_t preferred_host_ ABSL_GUARDED_BY(mu_) = 0;
  QueryObserver* observer_ = nullptr;
};

// Exclusive use of one pooled connection; returns it on destruction.
class ConnectionPool::Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  SqlSession& session() { return *session_; }
  sql::Connection& connection() { return session_->connection(); }
  // The connection came out of the idle list (rather than being opened for this lease), so a
  // connection error on its first statement may just mean the database restarted meanwhile.
  bool reused() const { return reused_; }
  // Close instead of returning to the pool (after a connection error or a half-done transaction).
  void Discard() { reusable_ = false; }
  // Close it, and start the next connections on another host: this one failed.
  void DiscardAfterConnectionError();

 private:
  friend class ConnectionPool;
  Lease(ConnectionPool* pool, std::unique_ptr<SqlSession> session, bool reused);
  ConnectionPool* pool_;
  std::unique_ptr<SqlSession> session_;
  bool reused_;
  bool reusable_ = true;
};

// MySQL/MariaDB client and server error numbers this code branches on.
inline constexpr int kErDupEntry = 1062;
// ER_UNKNOWN_COM_ERROR, which a Galera node answers to every statement while it is not a synced
// member of the primary component ("WSREP has not yet prepared node for application use"): the
// statement, COMMIT included, was refused and nothing of it happened.
inline constexpr int kErNodeNotReady = 1047;
inline constexpr int kErLockWaitTimeout = 1205;
inline constexpr int kErLockDeadlock = 1213;
inline constexpr int kErSignalException = 1644;  // SIGNAL SQLSTATE '45000' (a trigger's refusal)

// Whether `error_code` means the connection is unusable (lost, refused, server gone or
// shutting down, a Galera node out of its cluster) rather than the statement being wrong.
bool IsConnectionError(int error_code);

// Maps a Connector/C++ exception to a Status: connection errors (TLS failures included, with
// the TLS library's reason) → UNAVAILABLE, lock timeouts and deadlocks → ABORTED, statement
// timeouts → DEADLINE_EXCEEDED, anything else → INTERNAL.
// `what` names the operation for the message; the SQL text and its parameters are not included.
absl::Status SqlErrorToStatus(const sql::SQLException& e, absl::string_view what);

// Runs `body` inside one transaction on a pooled connection and commits. Exceptions are mapped
// with SqlErrorToStatus; an error from `body` or a failed commit rolls back. Retries the whole
// transaction (a few times) after a deadlock or lock timeout (on Galera also a certification
// conflict, error 1213 at COMMIT), when a reused connection turns out to be dead before
// anything was committed, and on another node when a Galera node refused it (error 1047).
absl::Status RunTransaction(ConnectionPool& pool, absl::string_view what,
                            const std::function<absl::Status(SqlSession&)>& body);

// Start-up check that this client library can enforce the endpoint's TLS settings, and that
// the files they name are readable. INVALID_ARGUMENT, naming the parameter, for:
//  - ssl-mode=VERIFY_CA. Connector/C++ 1.1 on libmariadb makes a connection refuse a server
//    that offers no TLS only together with the host-name check: with a CA alone it logs in and
//    runs in plaintext when the server (or a machine in between) does not offer TLS, the one
//    attack VERIFY_CA exists to stop. VERIFY_IDENTITY is enforced fully.
//  - an ssl-ca, ssl-cert or ssl-key file that cannot be read.
// (ConnectionPool refuses VERIFY_CA on its own too, with FAILED_PRECONDITION, and never
// connects.)
absl::Status CheckTlsSettings(const MysqlEndpoint& endpoint);

// OK when the database answers a trivial query on a connection of `pool` (health probes).
// UNAVAILABLE when it cannot be reached, DEADLINE_EXCEEDED when it does not answer in time.
absl::Status PingDatabase(ConnectionPool& pool);

// Like RunTransaction but without BEGIN/COMMIT (autocommit reads).
absl::Status RunReadOnly(ConnectionPool& pool, absl::string_view what,
                         const std::function<absl::Status(SqlSession&)>& body);

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_CONNECTION_POOL_H_
