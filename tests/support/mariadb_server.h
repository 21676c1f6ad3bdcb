// A private, throw-away MariaDB server for tests: its own data directory, port and socket, so
// parallel ctest runs never share state and nothing depends on a system-wide mysqld.
#ifndef SECURELINK_TESTS_SUPPORT_MARIADB_SERVER_H_
#define SECURELINK_TESTS_SUPPORT_MARIADB_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace securelink::testing {

// Owns one mariadbd process and the temporary directory holding its configuration, data, socket
// and error log. The server listens on 127.0.0.1:port() and on socket_path(); root has no
// password.
//
// Lifetime: mariadbd runs in its own session (so a terminal's Ctrl-C does not reach it) and with
// PR_SET_PDEATHSIG(SIGKILL), so it dies with the test process even if that process is killed.
// The kernel sends that signal when the *thread* that forked mariadbd exits, not the process:
// call Start() and StartAgain() from a thread that outlives the server, such as the main test
// thread, never from a short-lived helper thread.
//
// Thread safety: CreateDatabase, Execute, Query and Dump may be called concurrently from any
// thread (each runs its own client process). Stop, Kill, StartAgain and running serialise on an
// internal mutex.
class MariaDbServer {
 public:
  // What a server serves beyond the default (plaintext) setup.
  struct Options {
    // TLS: certificates are made at start with the `openssl` command (TlsFiles), and mariadbd
    // runs with ssl_cert/ssl_key/ssl_ca, so clients may use TLS and users created REQUIRE SSL
    // or REQUIRE X509 must. The server's certificate names only the IP address 127.0.0.1 (its
    // subject is not a host name), so "localhost" reaches this server under a name the
    // certificate does not carry. Root keeps connecting without TLS over the socket.
    bool tls = false;
  };

  // The certificates of a server started with Options::tls: absolute paths of PEM files,
  // valid for two days.
  struct TlsFiles {
    std::string ca_cert;        // the CA that signed the server's and the client's certificates
    std::string other_ca_cert;  // a CA that signed neither
    std::string client_cert;    // client certificate signed by ca_cert (for REQUIRE X509)
    std::string client_key;     // its private key
  };

  // Creates a fresh directory under $TMPDIR (or /tmp), runs mariadb-install-db into it and starts
  // mariadbd on a free 127.0.0.1 port and a unix socket in that directory, returning once the
  // server answers a ping. If the port is taken between picking and binding (another test got it
  // first), retries once with a new port. Takes ~1 s on an idle machine, ~5 s while both cores
  // are busy compiling.
  //
  // Also removes directories left by earlier owners that died without running the destructor
  // (each holds ~130 MB): an owner holds an flock on DIR/owner.lock for its whole life.
  //
  // Errors: NOT_FOUND if the MariaDB binaries (or, with Options::tls, `openssl`) are missing;
  // DEADLINE_EXCEEDED if the server does not answer within ~30 s; INTERNAL for any other
  // failure, with the tail of the error log.
  static absl::StatusOr<std::unique_ptr<MariaDbServer>> Start();
  static absl::StatusOr<std::unique_ptr<MariaDbServer>> Start(const Options& options);

  MariaDbServer(const MariaDbServer&) = delete;
  MariaDbServer& operator=(const MariaDbServer&) = delete;

  // Stops the server (SIGTERM, then SIGKILL if it has not exited within ~10 s) and removes its
  // directory.
  ~MariaDbServer();

  // The TCP port on 127.0.0.1; stays the same across StartAgain().
  int port() const { return port_; }

  // Absolute path of the server's unix socket.
  std::string socket_path() const;

  // The directory holding my.cnf, data/, the socket and mariadbd.err.
  const std::string& dir() const { return dir_; }

  // "mysql://root@127.0.0.1:<port>/<database>" (root has no password).
  std::string Uri(absl::string_view database) const;

  // The certificates made for Options::tls; every path empty without it.
  const TlsFiles& tls_files() const { return tls_; }

  // CREATE DATABASE IF NOT EXISTS `name` with character set utf8mb4.
  absl::Status CreateDatabase(absl::string_view name);

  // Runs `sql` (one or more ;-separated statements) through the `mariadb` client, with `database`
  // as the default schema unless it is empty. Stops at the first failing statement.
  //
  // Errors: UNAVAILABLE if the server cannot be reached; INTERNAL for an SQL error, with the
  // client's message (e.g. "ERROR 1064 (42000) at line 1: ...").
  absl::Status Execute(absl::string_view database, absl::string_view sql);

  // Runs `sql` with `mariadb -N -B -e` and returns its stdout: one line per row, columns
  // separated by tabs, no header, NULL as "NULL". Errors as for Execute.
  absl::StatusOr<std::string> Query(absl::string_view database, absl::string_view sql);

  // Returns `mariadb-dump` output for `database` (plain SQL, no --hex-blob), without the dump
  // date so that two dumps of the same data compare equal. Errors as for Execute.
  absl::StatusOr<std::string> Dump(absl::string_view database);

  // Shuts the server down gracefully (SIGTERM; InnoDB flushes) and waits for the process to exit.
  // OK if it was not running. DEADLINE_EXCEEDED if it is still running after ~30 s; the server is
  // then left running (the destructor or Kill() will end it).
  absl::Status Stop();

  // Kills the server with SIGKILL, as a crash would, and waits for the process to exit. OK if it
  // was not running. Committed transactions survive (innodb_flush_log_at_trx_commit=1).
  absl::Status Kill();

  // Starts the server again on the same directory and port and waits until it answers.
  // FAILED_PRECONDITION if it is already running; otherwise errors as for Start(), except that a
  // taken port is an error (INTERNAL) because the port must not change.
  absl::Status StartAgain();

  // Whether the mariadbd process is alive (reaps it if it has exited on its own).
  bool running() const;

  // The mariadbd process id, or -1 when not running. For tests of the harness itself.
  pid_t pid() const;

 private:
  // Absolute paths of the MariaDB programs, resolved once by Start().
  struct Binaries {
    std::string mariadbd;
    std::string install_db;
    std::string client;
    std::string admin;
    std::string dump;
  };

  MariaDbServer(Binaries bin, std::string dir, int port)
      : bin_(std::move(bin)), dir_(std::move(dir)), port_(port) {}

  // Paths inside dir_.
  std::string ConfigPath() const;
  std::string ErrorLogPath() const;

  // Writes my.cnf for port_ (with the TLS settings when tls_ is set).
  absl::Status WriteConfig() const;

  // Makes the CAs and the server's and client's certificates under dir_/tls with `openssl`
  // and fills tls_.
  absl::Status MakeTlsFiles(const std::string& openssl);
  std::string ServerCertPath() const;
  std::string ServerKeyPath() const;

  // Forks mariadbd and waits until it answers a ping or dies. On death, returns the status with
  // the log tail and sets *port_in_use when the log says the port was taken.
  absl::Status LaunchAndWait(bool* port_in_use) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Sends `signal` and waits up to `timeout` for the process to exit. Returns whether it exited.
  bool SignalAndWait(int signal, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Reaps the child if it has exited; returns whether it is still alive.
  bool ReapIfExited() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs a client binary (mariadb, mariadb-dump) with --defaults-file=my.cnf and `args`, feeding
  // `stdin_data`, and returns its stdout or a status carrying its stderr.
  absl::StatusOr<std::string> RunClient(absl::string_view binary,
                                        const std::vector<std::string>& args,
                                        absl::string_view stdin_data) const;

  const Binaries bin_;
  const std::string dir_;
  int port_;  // Only changed by Start()'s retry, before the object is shared.
  TlsFiles tls_;  // Only set by Start(), before the object is shared.

  // flock'ed for the object's life so that other processes never sweep a live directory; -1 if
  // not yet taken.
  int owner_lock_fd_ = -1;

  mutable absl::Mutex mu_;
  // The mariadbd child, or -1. Mutable because running() reaps an exited child.
  mutable pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  // How the last child exited (waitpid status), for error messages.
  mutable int exit_status_ ABSL_GUARDED_BY(mu_) = 0;
};

// Returns a TCP port on 127.0.0.1 that was free a moment ago (binds to port 0, reads the port
// the kernel chose, closes). Another process may take it before the caller binds: callers must
// cope with that, as MariaDbServer::Start() does by retrying. Returns -1 if no socket could be
// bound.
int PickFreePort();

// The MariaDB shared by every test of this binary; started on first use (call it first from the
// main test thread: the server dies with the thread that started it). Aborts if it cannot start.
MariaDbServer& SharedMariaDb();

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_MARIADB_SERVER_H_
