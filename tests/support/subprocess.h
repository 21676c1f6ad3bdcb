// Child processes and scratch directories for the tests' private database servers
// (MariaDbServer, GaleraCluster): running a client program to completion, preparing a forked
// server, reading its log, and sweeping the directories of owners that died.
#ifndef SECURELINK_TESTS_SUPPORT_SUBPROCESS_H_
#define SECURELINK_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>
#include <sys/wait.h>

#include <ios>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::testing {

// What a finished child process left behind.
struct CommandResult {
  int wait_status = 0;  // As from waitpid().
  std::string out;
  std::string err;

  bool succeeded() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
};

// "exit code 1" / "killed by signal 9", for error messages.
std::string DescribeWaitStatus(int wait_status);

// Finds `name` on $PATH, then in the sbin directories that a non-root $PATH often lacks (mariadbd
// lives in /usr/sbin). NOT_FOUND names the packages to install.
absl::StatusOr<std::string> FindBinary(absl::string_view name);

// Closes every descriptor from 3 up, so children do not hold the test's pipes open (ctest waits
// for EOF on them) or its sockets. `max_fd` is computed before fork because sysconf is not
// async-signal-safe.
void CloseDescriptorsFrom3(long max_fd);

// Runs in the child between fork and exec, so only async-signal-safe calls. Ties the child's
// life to the forking thread (PR_SET_PDEATHSIG; the kernel clears that setting when the child's
// credentials change, so a child that drops privileges must do so before this) and undoes what
// the test process may have set up for itself: a blocked SIGTERM (servers block it to sigwait) or
// an ignored SIGPIPE would otherwise survive exec. Exits the child if `parent` has already died.
void PrepareChild(pid_t parent);

// argv storage whose c_str() pointers stay valid until exec.
std::vector<char*> MakeArgv(std::vector<std::string>& args);

// Who a spawned server runs as: uid -1 keeps the test's own user.
struct SpawnUser {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// Forks and execs a server (`args[0]` an absolute path) in its own session, so a terminal's
// signals and the test's process group stay away from it and killing its group reaches its
// helpers: stdin from /dev/null, stdout and stderr appended to `log_path` (early failures, before
// the server opens its own log, land there too), its life tied to the calling thread
// (PrepareChild), running as `user`. Returns its pid; the caller reaps it.
absl::StatusOr<pid_t> SpawnDaemon(std::vector<std::string> args, const std::string& log_path,
                                  SpawnUser user = {});

// Kills and reaps a child that overran its time.
void KillAndReap(pid_t pid);

// Runs `args` (args[0] an absolute path) to completion, feeding `stdin_data` and collecting stdout
// and stderr. Fails only if the process could not be run (INTERNAL) or overran `timeout`
// (DEADLINE_EXCEEDED); a non-zero exit is reported in the result.
absl::StatusOr<CommandResult> RunCommand(std::vector<std::string> args,
                                         absl::string_view stdin_data, absl::Duration timeout);

// Returns the end of `path` from byte `from` on, at most 4 KiB, or a note if unreadable.
std::string ReadTail(const std::string& path, std::streamoff from);

// The size of `path` in bytes, 0 if it does not exist.
std::streamoff FileSize(const std::string& path);

// mariadbd's words when another process holds its TCP port.
bool SaysPortInUse(absl::string_view log);

// Client errors that mean the server is not there, as opposed to a rejected statement.
bool SaysUnreachable(absl::string_view err);

// `name` as a backtick-quoted SQL identifier.
std::string QuoteIdentifier(absl::string_view name);

// Where test directories go: $TMPDIR, or /tmp when `longest_suffix` (the longest socket path the
// caller creates under it, e.g. "/securelink-mariadb-XXXXXX/mysqld.sock") would not fit in
// sun_path there.
std::string TempBase(absl::string_view longest_suffix);

// Takes the owner lock of a freshly made test directory `dir` (an flock on DIR/owner.lock) and
// returns its descriptor, to be held (open) for as long as the directory is in use: it tells
// SweepAbandonedDirs in other processes that the owner is alive. INTERNAL if it cannot.
absl::StatusOr<int> TakeOwnerLock(const std::string& dir);

// Removes the directories in `base` whose names start with `prefix` and whose owning process died
// without removing them (a crash, or ctest's timeout): their servers died with the owner
// (PR_SET_PDEATHSIG), but each directory holds ~100 MB or more and CI machines are reused. A
// directory whose owner lock can be taken, or that has had none for 10 minutes, is abandoned; one
// where a mariadbd named by DIR/mariadbd.pid or DIR/*/mariadbd.pid is alive is never touched.
void SweepAbandonedDirs(const std::string& base, absl::string_view prefix);

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_SUBPROCESS_H_
