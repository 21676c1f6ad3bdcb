#include "storage/connection_pool.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace securelink::invitations {
namespace {

sql::mysql::MySQL_Driver* Driver() {
  // get_mysql_driver_instance is not thread-safe on first use.
  static sql::mysql::MySQL_Driver* driver = sql::mysql::get_mysql_driver_instance();
  return driver;
}

// Connector/C++ wants threadInit/threadEnd around each thread's use of the client library.
struct ThreadRegistration {
  ThreadRegistration() { Driver()->threadInit(); }
  ~ThreadRegistration() { Driver()->threadEnd(); }
};

void EnsureThreadRegistered() { thread_local ThreadRegistration registration; }

int Seconds(absl::Duration d) {
  return static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

void ExecuteIgnoringErrors(sql::Connection& c, const std::string& statement) {
  try {
    std::unique_ptr<sql::Statement> s(c.createStatement());
    s->execute(statement);
  } catch (const sql::SQLException&) {
    // Best effort: the variable exists on MariaDB or on MySQL, not both.
  }
}

// How ssl-mode maps onto Connector/C++ 1.1 as Debian builds it (on libmariadb). Measured with
// an interposer on libmariadb's mysql_options/mysql_ssl_set: the connector accepts
// "OPT_SSL_MODE" and silently drops it; "sslCA"/"sslCert"/"sslKey" reach mysql_ssl_set,
// "sslEnforce" MYSQL_OPT_SSL_ENFORCE and "sslVerify" MYSQL_OPT_SSL_VERIFY_SERVER_CERT. With
// those, libmariadb (pinned by tests/integration/mysql_tls_test.cc):
//  - sslEnforce: TLS when the server offers it, plaintext otherwise (MySQL's PREFERRED);
//  - a CA: verifies the chain when TLS is used, yet still accepts a server without TLS;
//  - sslVerify: verifies chain and host name, and refuses a server without TLS before login.
// So PREFERRED is sslEnforce; VERIFY_IDENTITY adds sslCA and sslVerify; REQUIRED is sslEnforce
// plus a check right after login that the session is encrypted: a server without TLS is
// refused, but only after the login exchange has crossed the network in plaintext (a
// challenge-response with mysql_native_password or ed25519, not the password itself).
// VERIFY_CA has no sound mapping and is refused.
constexpr absl::string_view kVerifyCaUnsupported =
    "ssl-mode=VERIFY_CA cannot be enforced by this service's MySQL client library "
    "(Connector/C++ 1.1 on libmariadb): without the host-name check it logs in and runs in "
    "plaintext when the server, or a machine in between, offers no TLS. Use "
    "ssl-mode=VERIFY_IDENTITY (the server's certificate must name the host in the URI)";

void SetTlsOptions(const MysqlTls& tls, sql::ConnectOptionsMap& opts) {
  if (tls.mode == MysqlSslMode::kDisabled) return;
  opts["sslEnforce"] = true;
  if (!tls.ca_file.empty()) opts["sslCA"] = sql::SQLString(tls.ca_file);
  if (!tls.cert_file.empty()) opts["sslCert"] = sql::SQLString(tls.cert_file);
  if (!tls.key_file.empty()) opts["sslKey"] = sql::SQLString(tls.key_file);
  if (tls.mode == MysqlSslMode::kVerifyIdentity) opts["sslVerify"] = true;
}

// Whether the server reports a TLS cipher for this session. Throws sql::SQLException.
bool SessionIsEncrypted(sql::Connection& c) {
  std::unique_ptr<sql::Statement> s(c.createStatement());
  std::unique_ptr<sql::ResultSet> rows(s->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_cipher'"));
  bool encrypted = false;
  while (rows->next()) encrypted = !rows->getString(2).asStdString().empty();
  return encrypted;
}

// Empty when `path` can be opened and holds at least one byte, else why not.
std::string UnreadableReason(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return strerror(errno);
  char byte;
  const ssize_t n = read(fd, &byte, 1);
  const int saved = errno;
  close(fd);
  if (n < 0) return strerror(saved);
  return n == 0 ? "the file is empty" : "";
}

}  // namespace

absl::Status CheckTlsSettings(const MysqlEndpoint& endpoint) {
  const MysqlTls& tls = endpoint.tls;
  if (tls.mode == MysqlSslMode::kVerifyCa) return absl::InvalidArgumentError(kVerifyCaUnsupported);
  const std::pair<absl::string_view, const std::string*> files[] = {
      {"ssl-ca", &tls.ca_file}, {"ssl-cert", &tls.cert_file}, {"ssl-key", &tls.key_file}};
  for (const auto& [name, path] : files) {
    if (path->empty()) continue;
    if (std::string why = UnreadableReason(*path); !why.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " ", *path, " cannot be read (", why, ")"));
    }
  }
  return absl::OkStatus();
}

bool IsConnectionError(int code) {
  switch (code) {
    case kErNodeNotReady:
    case 1040:  // ER_CON_COUNT_ERROR (too many connections)
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1077:  // ER_NORMAL_SHUTDOWN
    case 1152:  // ER_ABORTING_CONNECTION
    case 1927:  // ER_CONNECTION_KILLED (MariaDB)
    case 2002:  // CR_CONNECTION_ERROR
    case 2003:  // CR_CONN_HOST_ERROR
    case 2005:  // CR_UNKNOWN_HOST
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2026:  // CR_SSL_CONNECTION_ERROR
    case 2055:  // CR_SERVER_LOST_EXTENDED
    case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
      return true;
    default:
      return false;
  }
}

absl::Status SqlErrorToStatus(const sql::SQLException& e, absl::string_view what) {
  const int code = e.getErrorCode();
  if (code == 2026 /* CR_SSL_CONNECTION_ERROR */) {
    // The TLS library's reason ("Validation of SSL server certificate failed", "SSL is
    // required, but the server does not support it") is what an operator needs; it carries
    // no secret.
    return absl::UnavailableError(
        absl::StrCat(what, ": TLS with the database failed (error 2026: ", e.what(),
                     "); check the URI's ssl-mode and ssl-ca against the server's certificate"));
  }
  if (IsConnectionError(code)) {
    return absl::UnavailableError(
        absl::StrCat(what, ": the database is unreachable (error ", code, "); try again"));
  }
  if (code == kErLockDeadlock || code == kErLockWaitTimeout) {
    return absl::AbortedError(
        absl::StrCat(what, ": conflicting concurrent change (error ", code, "); try again"));
  }
  if (code == 1969 /* MariaDB ER_STATEMENT_TIMEOUT */ || code == 3024 /* MySQL */) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": the database query timed out"));
  }
  // The SQL text and bound values stay out of the status: they may carry addresses or hashes.
  return absl::InternalError(absl::StrCat(what, ": database error ", code, " (", e.what(), ")"));
}

SqlSession::SqlSession(std::unique_ptr<sql::Connection> connection, size_t host_index,
                       bool galera)
    : connection_(std::move(connection)), host_index_(host_index), galera_(galera) {}

SqlSession::~SqlSession() = default;

sql::PreparedStatement* SqlSession::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    std::unique_ptr<sql::PreparedStatement> statement(connection_->prepareStatement(sql));
    if (galera_ && in_transaction_) ThrowIfTransactionLost();
    it = statements_.emplace(sql, std::move(statement)).first;
  }
  return it->second.get();
}

// A conflicting writeset from another node that lands while a Galera node prepares a statement
// rolls the open transaction back without telling the client (MariaDB 10.11: the prepare
// succeeds, the statements after it run outside any transaction, and COMMIT succeeds).
// galera_outbox_test saw this make two dispatchers own one message. Statements are prepared
// once per connection, so the check costs a round trip only the first time a text is used.
void SqlSession::ThrowIfTransactionLost() {
  std::unique_ptr<sql::Statement> s(connection_->createStatement());
  std::unique_ptr<sql::ResultSet> rows(s->executeQuery("SELECT @@in_transaction"));
  if (rows->next() && rows->getInt(1) == 1) return;
  throw sql::SQLException(
      "the transaction was rolled back by a conflicting change on another Galera node", "40001",
      kErLockDeadlock);
}

void SqlSession::TrimStatements(size_t max_statements) {
  if (statements_.size() > max_statements) statements_.clear();
}

ConnectionPool::ConnectionPool(MysqlEndpoint endpoint, ConnectionPoolOptions options)
    : endpoint_(std::move(endpoint)), options_(options) {}

ConnectionPool::~ConnectionPool() {
  EnsureThreadRegistered();
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<std::unique_ptr<SqlSession>> ConnectionPool::Connect() {
  const size_t hosts = endpoint_.socket.empty() ? endpoint_.hosts.size() : 1;
  size_t first;
  {
    absl::MutexLock lock(&mu_);
    first = preferred_host_;
  }
  absl::Status failure;
  for (size_t i = 0; i < hosts; ++i) {
    const size_t index = (first + i) % hosts;
    absl::StatusOr<std::unique_ptr<SqlSession>> c = ConnectTo(index);
    if (c.ok()) {
      if (index != first) {
        absl::MutexLock lock(&mu_);
        preferred_host_ = index;
      }
      return c;
    }
    // Anything but "unreachable" (a refused login, TLS this library cannot do) would be the
    // same on every node.
    if (!absl::IsUnavailable(c.status())) return c.status();
    if (failure.ok()) {
      failure = c.status();
    } else {
      failure = absl::UnavailableError(absl::StrCat(failure.message(), "; ", c.status().message()));
    }
  }
  return failure;
}

void ConnectionPool::HostFailed(size_t index) {
  const size_t hosts = endpoint_.hosts.size();
  if (hosts < 2) return;
  absl::MutexLock lock(&mu_);
  if (preferred_host_ == index) preferred_host_ = (index + 1) % hosts;
}

namespace {

// Whether the server is a Galera node (true) that may serve: a synced member of the primary
// component, else UNAVAILABLE. False for a server without Galera (MySQL has no wsrep_on: the
// query fails). Throws sql::SQLException for connection errors.
absl::StatusOr<bool> CheckGaleraNode(sql::Connection& c, absl::string_view where) {
  std::unique_ptr<sql::Statement> s(c.createStatement());
  try {
    std::unique_ptr<sql::ResultSet> on(s->executeQuery("SELECT @@wsrep_on"));
    if (!on->next() || on->getInt(1) != 1) return false;
  } catch (const sql::SQLException& e) {
    if (IsConnectionError(e.getErrorCode())) throw;
    return false;
  }
  std::unique_ptr<sql::ResultSet> rows(s->executeQuery(
      "SHOW GLOBAL STATUS WHERE Variable_name IN "
      "('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state_comment')"));
  std::string ready, cluster, state;
  while (rows->next()) {
    const std::string name = rows->getString(1);
    const std::string value = rows->getString(2);
    if (name == "wsrep_ready") ready = value;
    if (name == "wsrep_cluster_status") cluster = value;
    if (name == "wsrep_local_state_comment") state = value;
  }
  if (ready == "ON" && cluster == "Primary" && state == "Synced") {
    // No causal wait inside a transaction: each operation waits once, at its start
    // (BeginOperation), before it holds anything.
    s->execute("SET SESSION wsrep_sync_wait = 0");
    return true;
  }
  return absl::UnavailableError(absl::StrCat(where, ": the Galera node is not ready (",
                                             state.empty() ? "state unknown" : state, ", ",
                                             cluster.empty() ? "no cluster" : cluster,
                                             " component)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqlSession>> ConnectionPool::ConnectTo(size_t index) const {
  EnsureThreadRegistered();
  if (endpoint_.tls.mode == MysqlSslMode::kVerifyCa) {
    return absl::FailedPreconditionError(kVerifyCaUnsupported);
  }
  sql::ConnectOptionsMap opts;
  const std::string where =
      endpoint_.socket.empty()
          ? absl::StrCat(endpoint_.hosts[index].host, ":", endpoint_.hosts[index].port)
          : absl::StrCat("unix:", endpoint_.socket);
  opts["hostName"] = endpoint_.socket.empty()
                         ? sql::SQLString(absl::StrCat("tcp://", where))
                         : sql::SQLString(absl::StrCat("unix://", endpoint_.socket));
  opts["userName"] = sql::SQLString(endpoint_.user);
  opts["password"] = sql::SQLString(endpoint_.password);
  opts["schema"] = sql::SQLString(endpoint_.database);
  opts["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
  opts["OPT_CONNECT_TIMEOUT"] = Seconds(options_.connect_timeout);
  opts["OPT_READ_TIMEOUT"] = Seconds(options_.io_timeout);
  opts["OPT_WRITE_TIMEOUT"] = Seconds(options_.io_timeout);
  opts["OPT_RECONNECT"] = false;  // a silent reconnect would lose session settings mid-transaction
  SetTlsOptions(endpoint_.tls, opts);
  try {
    std::unique_ptr<sql::Connection> c(Driver()->connect(opts));
    if (endpoint_.tls.mode == MysqlSslMode::kRequired && !SessionIsEncrypted(*c)) {
      return absl::UnavailableError(absl::StrCat(
          "connecting to ", endpoint_.Describe(),
          ": the server did not negotiate TLS, which ssl-mode=REQUIRED demands; enable TLS on "
          "the server (ssl_cert, ssl_key)"));
    }
    std::unique_ptr<sql::Statement> s(c->createStatement());
    // READ COMMITTED: a transaction that loses a unique-key race must see the winner's row.
    s->execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    s->execute(absl::StrCat("SET SESSION innodb_lock_wait_timeout = ",
                            Seconds(options_.lock_wait_timeout)));
    s->execute("SET SESSION time_zone = '+00:00'");
    ExecuteIgnoringErrors(*c, absl::StrCat("SET SESSION max_statement_time = ",
                                           Seconds(options_.io_timeout)));  // MariaDB
    absl::StatusOr<bool> galera = CheckGaleraNode(*c, absl::StrCat("connecting to ", where));
    if (!galera.ok()) return galera.status();
    return std::make_unique<SqlSession>(std::move(c), index, *galera);
  } catch (const sql::SQLException& e) {
    return SqlErrorToStatus(e, absl::StrCat("connecting to ", endpoint_.Describe(), " (", where,
                                            ")"));
  }
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  EnsureThreadRegistered();
  std::unique_ptr<SqlSession> session;
  absl::Time idle_since;
  {
    absl::MutexLock lock(&mu_);
    auto slot_free = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || leased_ < options_.max_connections;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&slot_free), options_.acquire_timeout)) {
      return absl::UnavailableError(absl::StrCat(
          "all ", options_.max_connections, " database connections are busy; try again"));
    }
    ++leased_;
    if (!idle_.empty()) {
      session = std::move(idle_.back().session);
      idle_since = idle_.back().since;
      idle_.pop_back();
    }
  }
  bool reused = session != nullptr;
  if (reused && absl::Now() - idle_since > options_.validate_after_idle) {
    bool valid = false;
    try {
      valid = session->connection().isValid();
    } catch (const sql::SQLException&) {
    }
    if (!valid) {
      session.reset();
      reused = false;
    }
  }
  if (session == nullptr) {
    absl::StatusOr<std::unique_ptr<SqlSession>> fresh = Connect();
    if (!fresh.ok()) {
      absl::MutexLock lock(&mu_);
      --leased_;
      return fresh.status();
    }
    session = *std::move(fresh);
  }
  session->TrimStatements(options_.max_cached_statements);
  return Lease(this, std::move(session), reused);
}

void ConnectionPool::Release(std::unique_ptr<SqlSession> session, bool reusable) {
  EnsureThreadRegistered();
  if (!reusable) session.reset();  // close outside the lock
  absl::MutexLock lock(&mu_);
  --leased_;
  if (session != nullptr) idle_.push_back(Idle{std::move(session), absl::Now()});
}

int ConnectionPool::in_use() const {
  absl::MutexLock lock(&mu_);
  return leased_;
}

int ConnectionPool::idle() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

ConnectionPool::Lease::Lease(ConnectionPool* pool, std::unique_ptr<SqlSession> session,
                             bool reused)
    : pool_(pool), session_(std::move(session)), reused_(reused) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      session_(std::move(other.session_)),
      reused_(other.reused_),
      reusable_(other.reusable_) {
  other.pool_ = nullptr;
}

void ConnectionPool::Lease::DiscardAfterConnectionError() {
  reusable_ = false;
  pool_->HostFailed(session_->host_index());
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(std::move(session_), reusable_);
}

namespace {

void Execute(sql::Connection& c, const char* statement) {
  std::unique_ptr<sql::Statement> s(c.createStatement());
  s->execute(statement);
}

// On a Galera node each operation first waits until the node has applied everything the cluster
// committed before it began (read-your-writes across nodes), and only then reads or locks. Not
// wsrep_sync_wait for the whole session: every SELECT of a transaction would wait again while the
// transaction holds its locks, for nothing more than the first wait gives. MariaDB syntax; only
// Galera sessions use it.
constexpr char kCausalStartTransaction[] =
    "SET STATEMENT wsrep_sync_wait = 1 FOR START TRANSACTION";
constexpr char kCausalWait[] = "SET STATEMENT wsrep_sync_wait = 1 FOR SELECT 1";

// Whether the open transaction is gone. A Galera node that aborts a transaction for a conflicting
// writeset (a brute-force abort) while the statement is opening a table or loading its triggers
// can report the interruption as that statement's own failure (MariaDB 10.11: "Trigger ... has an
// error in its body", "Table ... doesn't exist"), not as a deadlock; the transaction is rolled
// back all the same. Such an error is a conflict, and is retried as one.
bool TransactionWasLost(sql::Connection& c) {
  try {
    std::unique_ptr<sql::Statement> s(c.createStatement());
    std::unique_ptr<sql::ResultSet> rows(s->executeQuery("SELECT @@in_transaction"));
    return rows->next() && rows->getInt(1) == 0;
  } catch (const sql::SQLException&) {
    return false;
  }
}

void BeginOperation(SqlSession& session, bool transactional) {
  sql::Connection& c = session.connection();
  session.set_in_transaction(transactional);
  if (transactional) {
    Execute(c, session.galera() ? kCausalStartTransaction : "START TRANSACTION");
  } else if (session.galera()) {
    std::unique_ptr<sql::Statement> s(c.createStatement());
    std::unique_ptr<sql::ResultSet> drained(s->executeQuery(kCausalWait));
    while (drained->next()) {
    }
  }
}

absl::Status RunOnce(ConnectionPool& pool, absl::string_view what, bool transactional,
                     const std::function<absl::Status(SqlSession&)>& body,
                     bool* retry_on_fresh_connection) {
  *retry_on_fresh_connection = false;
  absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  sql::Connection& c = lease->connection();
  bool commit_sent = false;
  try {
    BeginOperation(lease->session(), transactional);
    absl::Status status = body(lease->session());
    if (!status.ok()) {
      if (transactional) Execute(c, "ROLLBACK");
      return status;
    }
    if (transactional) {
      commit_sent = true;
      Execute(c, "COMMIT");
    }
    return absl::OkStatus();
  } catch (const sql::SQLException& e) {
    absl::Status status = SqlErrorToStatus(e, what);
    if (IsConnectionError(e.getErrorCode())) {
      lease->DiscardAfterConnectionError();
      // Only a transaction that never reached COMMIT is known not to have happened, or one a
      // Galera node refused outright.
      *retry_on_fresh_connection = (lease->reused() && !commit_sent) ||
                                   e.getErrorCode() == kErNodeNotReady;
    } else if (transactional) {
      if (absl::IsInternal(status) && lease->session().galera() && !commit_sent &&
          TransactionWasLost(c)) {
        status = absl::AbortedError(absl::StrCat(
            what, ": rolled back by a conflicting change on another database node (reported as "
                  "error ", e.getErrorCode(), "); try again"));
      }
      try {
        Execute(c, "ROLLBACK");
      } catch (const sql::SQLException&) {
        lease->Discard();
      }
    }
    return status;
  }
}

// Conflicts are retried after a short random pause that doubles each time: on a Galera
// cluster, transactions on one row through different nodes lock only locally and fail each
// other's certification at COMMIT, so retrying at once lets the same racers collide again
// (seen: four immediate attempts exhausted within 8 ms by three concurrent accepts of one link).
// The pauses spread them; eight attempts wait at most ~0.5 s in all.
constexpr int kMaxAttempts = 8;
constexpr absl::Duration kFirstConflictPause = absl::Milliseconds(2);
constexpr absl::Duration kMaxConflictPause = absl::Milliseconds(128);

absl::Duration ConflictPause(int attempt) {
  absl::Duration ceiling = kFirstConflictPause;
  for (int i = 1; i < attempt && ceiling < kMaxConflictPause; ++i) ceiling *= 2;
  thread_local absl::BitGen random;
  return absl::Microseconds(absl::Uniform<int64_t>(random, 0, absl::ToInt64Microseconds(ceiling)));
}

absl::Status RunWithRetriesUnobserved(ConnectionPool& pool, absl::string_view what,
                                      bool transactional,
                                      const std::function<absl::Status(SqlSession&)>& body) {
  absl::Status status;
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    bool retry_on_fresh_connection = false;
    status = RunOnce(pool, what, transactional, body, &retry_on_fresh_connection);
    if (status.ok()) return status;
    if (retry_on_fresh_connection) continue;
    if (!absl::IsAborted(status)) return status;
    if (attempt < kMaxAttempts) absl::SleepFor(ConflictPause(attempt));
  }
  return status;
}

absl::Status RunWithRetries(ConnectionPool& pool, absl::string_view what, bool transactional,
                            const std::function<absl::Status(SqlSession&)>& body) {
  QueryObserver* observer = pool.observer();
  if (observer == nullptr) return RunWithRetriesUnobserved(pool, what, transactional, body);
  const absl::Time start = absl::Now();
  absl::Status status = RunWithRetriesUnobserved(pool, what, transactional, body);
  observer->OperationFinished(what, absl::Now() - start, status);
  return status;
}

}  // namespace

absl::Status RunTransaction(ConnectionPool& pool, absl::string_view what,
                            const std::function<absl::Status(SqlSession&)>& body) {
  return RunWithRetries(pool, what, /*transactional=*/true, body);
}

absl::Status RunReadOnly(ConnectionPool& pool, absl::string_view what,
                         const std::function<absl::Status(SqlSession&)>& body) {
  return RunWithRetries(pool, what, /*transactional=*/false, body);
}

absl::Status PingDatabase(ConnectionPool& pool) {
  return RunReadOnly(pool, "health probe", [](SqlSession& session) {
    std::unique_ptr<sql::Statement> s(session.connection().createStatement());
    // The result set must be read and closed, or the connection is out of sync (error 2014).
    std::unique_ptr<sql::ResultSet> rows(s->executeQuery("SELECT 1"));
    while (rows->next()) {
    }
    return absl::OkStatus();
  });
}

}  // namespace securelink::invitations
