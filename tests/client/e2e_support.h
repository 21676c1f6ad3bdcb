// Helpers for end-to-end tests of the client side: the real invitation_server binary as a child
// process on a private MariaDB, and other programs (invitectl) run to completion with their
// output and exit code captured.
#ifndef SECURELINK_TESTS_CLIENT_E2E_SUPPORT_H_
#define SECURELINK_TESTS_CLIENT_E2E_SUPPORT_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/support/mariadb_server.h"

namespace securelink::testing::e2e {

// The MariaDB shared by every test of this binary, started on first use. Call it first from the
// main test thread: mariadbd dies with the thread that started it. Aborts if it cannot start.
MariaDbServer& SharedDb();

// A name unique to this process and call, usable as a database, tenant id or email local part
// ("<prefix>_<pid>_<n>", lower case).
std::string UniqueName(absl::string_view prefix);

// `prefix.<pid>.<n>@example.com`.
std::string UniqueEmail(absl::string_view prefix);

// The whole content of `path`, or "" when it cannot be read.
std::string ReadWholeFile(const std::string& path);

// Writes `content` to a new file under the test's temporary directory; returns its path.
std::string WriteTempFile(absl::string_view name_hint, absl::string_view content);

// A finished program.
struct ProgramResult {
  int exit_code = -1;  // 128 + signal when killed by a signal; -1 when it timed out
  std::string out;
  std::string err;
};

// Runs `path` with `args` to completion. The child's environment is this process's without any
// INVITATIONS_* variable, plus `env` ("NAME=value"); stdin carries `stdin_data`. A child still
// running after `timeout` is killed and reported with exit_code -1.
ProgramResult RunProgram(const std::string& path, const std::vector<std::string>& args,
                         const std::vector<std::string>& env, absl::string_view stdin_data = "",
                         absl::Duration timeout = absl::Seconds(60));

// One invitation_server child process, listening on 127.0.0.1:port() with the database at
// mysql_uri. It is sent SIGKILL if the thread that started it ends (PR_SET_PDEATHSIG), so start
// and restart it from the main test thread, as for MariaDbServer.
class ServerProcess {
 public:
  struct Options {
    std::string mysql_uri;
    // Extra environment ("NAME=value"), e.g. INVITATIONS_TOKEN_SEALING_KEY_FILE=...
    std::vector<std::string> env;
    // How long Start/Restart wait for the "serving" log line.
    absl::Duration start_timeout = absl::Seconds(60);
  };

  // Starts the server on a free port and returns once it has logged "serving". Retries once
  // with another port when the chosen one was taken in between. Errors carry the server's log.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(Options options);

  // Starts one server per element of `options` at the same moment (every process spawned before
  // any is waited for), e.g. replicas racing to migrate an empty database, and returns once all
  // serve. No port retry: a port taken in between fails the start.
  static absl::StatusOr<std::vector<std::unique_ptr<ServerProcess>>> StartTogether(
      const std::vector<Options>& options);

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  // SIGTERM, then SIGKILL if it has not exited within ~30 s.
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const;
  // The port /metrics is served on (INVITATIONS_METRICS_ADDRESS defaults to 127.0.0.1:0; the
  // bound port is read from the "serving" log line of the latest launch). 0 if unknown.
  int metrics_port() const { return metrics_port_; }
  // The registration page's port (INVITATIONS_WEB_ADDRESS defaults to 127.0.0.1:0; read from
  // the "serving" line of the latest launch). 0 if unknown.
  int web_port() const { return web_port_; }

  // Sends SIGTERM and waits for the exit; returns the exit code (-1: still running after
  // `timeout`, then killed). 0 when it was not running.
  int Terminate(absl::Duration timeout = absl::Seconds(30));

  // SIGKILL (a crash: no drain, no shutdown hooks) and waits for the process to be gone.
  void Kill();

  // Starts the server again with the same options on the SAME port and waits for "serving".
  // FAILED_PRECONDITION if it is running.
  absl::Status Restart();

  bool running();

  // Every log line the server wrote, across restarts.
  std::string Log() const;

 private:
  ServerProcess(Options options, int port) : options_(std::move(options)), port_(port) {}

  // Spawns the binary and waits for "serving" or its death.
  absl::Status Launch();
  // Spawns the binary with a new log file.
  absl::Status SpawnChild();
  // Waits for the latest launch's "serving" line, or its death.
  absl::Status AwaitServing();

  const Options options_;
  const int port_;
  pid_t pid_ = -1;
  int metrics_port_ = 0;
  int web_port_ = 0;
  std::vector<std::string> log_paths_;  // one per launch
};

}  // namespace securelink::testing::e2e

#endif  // SECURELINK_TESTS_CLIENT_E2E_SUPPORT_H_
