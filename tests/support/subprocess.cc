#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace securelink::testing {
namespace {

// Enough of the error log to show why startup failed without flooding the test output.
constexpr std::streamoff kLogTailBytes = 4096;
// sun_path holds 108 bytes; keep the socket path well inside it.
constexpr size_t kMaxSocketPathLength = 100;
constexpr absl::string_view kOwnerLock = "/owner.lock";
// A directory without an owner lock this old was abandoned between mkdtemp and taking the lock.
constexpr absl::Duration kUnlockedDirGrace = absl::Minutes(10);

// Whether the mariadbd named by DIR/mariadbd.pid is alive.
bool ServerPidAlive(const std::string& dir) {
  std::ifstream pid_file(dir + "/mariadbd.pid");
  long pid = 0;
  if (!(pid_file >> pid) || pid <= 0) return false;
  std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
  std::string name;
  return comm >> name && name == "mariadbd";
}

// Whether a mariadbd of DIR (one server) or of one of its subdirectories (a cluster's nodes) is
// alive.
bool AnyServerAlive(const std::string& dir) {
  if (ServerPidAlive(dir)) return true;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::error_code entry_error;
    if (entry.is_directory(entry_error) && ServerPidAlive(entry.path())) return true;
  }
  return false;
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit code ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

absl::StatusOr<std::string> FindBinary(absl::string_view name) {
  const char* env_path = getenv("PATH");
  std::vector<std::string> dirs =
      absl::StrSplit(env_path != nullptr ? env_path : "", ':', absl::SkipEmpty());
  for (const char* extra : {"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"}) {
    dirs.emplace_back(extra);
  }
  for (const std::string& dir : dirs) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat(name,
                   " not found on PATH or in /usr/sbin; install mariadb-server and mariadb-client "
                   "(deploy/install-deps.sh)"));
}

void CloseDescriptorsFrom3(long max_fd) {
  if (close_range(3, ~0U, 0) == 0) return;
  for (long fd = 3; fd < max_fd; ++fd) close(static_cast<int>(fd));
}

void PrepareChild(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before prctl took effect; then no signal will come.
  if (getppid() != parent) _exit(127);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action;
  memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &default_action, nullptr);
}

std::vector<char*> MakeArgv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return argv;
}

absl::StatusOr<pid_t> SpawnDaemon(std::vector<std::string> args, const std::string& log_path,
                                  SpawnUser user) {
  std::vector<char*> argv = MakeArgv(args);
  const std::string exec_error = absl::StrCat("cannot exec ", args[0], "\n");
  const std::string user_error = absl::StrCat("cannot become uid ", user.uid, "\n");
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0660);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  }
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("open /dev/null: ", strerror(errno)));
  }
  const long max_fd = sysconf(_SC_OPEN_MAX);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int saved = errno;
    close(log_fd);
    close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(saved)));
  }
  if (pid == 0) {
    setsid();
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    // The user changes here rather than through the server's own option (mariadbd's `user=`):
    // the kernel clears PR_SET_PDEATHSIG when the credentials change, so PrepareChild comes
    // after.
    if (user.uid != static_cast<uid_t>(-1) &&
        (setgroups(1, &user.gid) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0)) {
      ssize_t ignored = write(2, user_error.data(), user_error.size());
      (void)ignored;
      _exit(127);
    }
    PrepareChild(parent);
    CloseDescriptorsFrom3(max_fd);
    execv(argv[0], argv.data());
    ssize_t ignored = write(2, exec_error.data(), exec_error.size());
    (void)ignored;
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  return pid;
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

absl::StatusOr<CommandResult> RunCommand(std::vector<std::string> args,
                                         absl::string_view stdin_data, absl::Duration timeout) {
  // stdin is a socket rather than a pipe so that writing to a client that exited early gives
  // EPIPE via MSG_NOSIGNAL instead of a SIGPIPE that would kill the test process.
  int in_fds[2], out_fds[2], err_fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_fds) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
  }
  if (pipe2(out_fds, O_CLOEXEC) != 0) {
    int saved = errno;
    close(in_fds[0]);
    close(in_fds[1]);
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(saved)));
  }
  if (pipe2(err_fds, O_CLOEXEC) != 0) {
    int saved = errno;
    for (int fd : {in_fds[0], in_fds[1], out_fds[0], out_fds[1]}) close(fd);
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(saved)));
  }

  std::vector<char*> argv = MakeArgv(args);
  const std::string exec_error = absl::StrCat("cannot exec ", args[0], "\n");
  const long max_fd = sysconf(_SC_OPEN_MAX);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    for (int fd : {in_fds[0], in_fds[1], out_fds[0], out_fds[1], err_fds[0], err_fds[1]}) {
      close(fd);
    }
    return absl::InternalError(absl::StrCat("fork: ", strerror(saved)));
  }
  if (pid == 0) {
    PrepareChild(parent);
    dup2(in_fds[1], 0);
    dup2(out_fds[1], 1);
    dup2(err_fds[1], 2);
    CloseDescriptorsFrom3(max_fd);
    execv(argv[0], argv.data());
    ssize_t ignored = write(2, exec_error.data(), exec_error.size());
    (void)ignored;
    _exit(127);
  }
  close(in_fds[1]);
  close(out_fds[1]);
  close(err_fds[1]);

  int in_fd = in_fds[0];
  const int out_fd = out_fds[0];
  const int err_fd = err_fds[0];
  for (int fd : {in_fd, out_fd, err_fd}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }

  CommandResult result;
  size_t written = 0;
  bool out_open = true, err_open = true;
  const absl::Time deadline = absl::Now() + timeout;
  while (out_open || err_open || in_fd >= 0) {
    pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_open) fds[n++] = {out_fd, POLLIN, 0};
    if (err_open) fds[n++] = {err_fd, POLLIN, 0};
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const int ready = poll(fds, n, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w =
            send(in_fd, stdin_data.data() + written, stdin_data.size() - written, MSG_NOSIGNAL);
        if (w > 0) written += static_cast<size_t>(w);
        // Done, or the child stopped reading (it exited; its stderr says why).
        if (written == stdin_data.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[16384];
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        (fds[i].fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        (fds[i].fd == out_fd ? out_open : err_open) = false;
      }
    }
  }
  const bool timed_out = out_open || err_open || in_fd >= 0;
  if (in_fd >= 0) close(in_fd);
  close(out_fd);
  close(err_fd);
  if (timed_out) {
    KillAndReap(pid);
    return absl::DeadlineExceededError(absl::StrCat(args[0], " did not finish within ",
                                                    absl::FormatDuration(timeout),
                                                    "; stderr so far: ", result.err));
  }
  // Output is closed, so the child is exiting; a child that forked a daemon keeping the pipes
  // would not get here.
  while (waitpid(pid, &result.wait_status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
  }
  return result;
}

std::string ReadTail(const std::string& path, std::streamoff from) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::StrCat("(cannot read ", path, ")");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(std::max(from, size - kLogTailBytes));
  std::stringstream tail;
  tail << in.rdbuf();
  return tail.str();
}

std::streamoff FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<std::streamoff>(st.st_size) : 0;
}

bool SaysPortInUse(absl::string_view log) {
  return absl::StrContains(log, "Address already in use") ||
         absl::StrContains(log, "Bind on TCP/IP port");
}

bool SaysUnreachable(absl::string_view err) {
  for (absl::string_view marker : {"Can't connect", "Lost connection", "server has gone away",
                                   "ERROR 2002", "ERROR 2003", "ERROR 2006", "ERROR 2013"}) {
    if (absl::StrContains(err, marker)) return true;
  }
  return false;
}

std::string QuoteIdentifier(absl::string_view name) {
  std::string quoted = "`";
  for (char c : name) {
    if (c == '`') quoted += '`';
    quoted += c;
  }
  quoted += '`';
  return quoted;
}

std::string TempBase(absl::string_view longest_suffix) {
  const char* tmpdir = getenv("TMPDIR");
  std::string base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (base.size() + longest_suffix.size() > kMaxSocketPathLength) base = "/tmp";
  return base;
}

absl::StatusOr<int> TakeOwnerLock(const std::string& dir) {
  // Locked under a temporary name and then renamed, so that no sweeper can ever see the file
  // unlocked and take the new directory for an abandoned one.
  const std::string lock_path = absl::StrCat(dir, kOwnerLock);
  const std::string unready_lock_path = lock_path + ".new";
  const int fd = open(unready_lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0 ||
      rename(unready_lock_path.c_str(), lock_path.c_str()) != 0) {
    const int saved = errno;
    if (fd >= 0) close(fd);
    return absl::InternalError(absl::StrCat("cannot lock ", lock_path, ": ", strerror(saved)));
  }
  return fd;
}

void SweepAbandonedDirs(const std::string& base, absl::string_view prefix) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(base, error)) {
    const std::string name = entry.path().filename();
    if (!absl::StartsWith(name, prefix)) continue;
    const std::string dir = entry.path();
    std::error_code entry_error;
    if (!std::filesystem::is_directory(entry.path(), entry_error)) continue;
    if (AnyServerAlive(dir)) continue;  // Someone's server is running there: never touch it.
    const int fd = open(absl::StrCat(dir, kOwnerLock).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      struct stat st;
      if (stat(dir.c_str(), &st) != 0 ||
          absl::Now() - absl::FromTimeT(st.st_mtime) < kUnlockedDirGrace) {
        continue;
      }
      std::filesystem::remove_all(dir, entry_error);
      continue;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) std::filesystem::remove_all(dir, entry_error);
    close(fd);
  }
}

}  // namespace securelink::testing
