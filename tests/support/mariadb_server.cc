#include "tests/support/mariadb_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/util/status_macros.h"

namespace securelink::testing {
namespace {

// mariadbd is ready in ~0.2 s here; 30 s leaves room for a loaded CI machine running many
// servers at once.
constexpr absl::Duration kReadyTimeout = absl::Seconds(30);
// A graceful shutdown takes ~1.5 s here.
constexpr absl::Duration kStopTimeout = absl::Seconds(30);
constexpr absl::Duration kDestructorStopTimeout = absl::Seconds(10);
// Generous: a test's SQL can be a whole migration; this only guards against a hung client.
constexpr absl::Duration kClientTimeout = absl::Seconds(120);
constexpr absl::Duration kInstallTimeout = absl::Seconds(120);
constexpr absl::Duration kPingTimeout = absl::Seconds(5);
// Enough of the error log to show why startup failed without flooding the test output.
constexpr std::streamoff kLogTailBytes = 4096;
// sun_path holds 108 bytes; keep the socket path well inside it.
constexpr size_t kMaxSocketPathLength = 100;

// What a finished child process left behind.
struct CommandResult {
  int wait_status = 0;  // As from waitpid().
  std::string out;
  std::string err;

  bool succeeded() const { return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }
};

// "exit code 1" / "killed by signal 9", for error messages.
std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit code ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("killed by signal ", WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

// Finds `name` on $PATH, then in the sbin directories that a non-root $PATH often lacks (mariadbd
// lives in /usr/sbin).
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

// Closes every descriptor from 3 up, so children do not hold the test's pipes open (ctest waits
// for EOF on them) or its sockets. `max_fd` is computed before fork because sysconf is not
// async-signal-safe.
void CloseDescriptorsFrom3(long max_fd) {
  if (close_range(3, ~0U, 0) == 0) return;
  for (long fd = 3; fd < max_fd; ++fd) close(static_cast<int>(fd));
}

// Runs in the child between fork and exec, so only async-signal-safe calls. Ties the child's
// life to the forking thread and undoes what the test process may have set up for itself: a
// blocked SIGTERM (servers block it to sigwait) or an ignored SIGPIPE would otherwise survive
// exec.
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

// argv storage whose c_str() pointers stay valid until exec.
std::vector<char*> MakeArgv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return argv;
}

// Kills and reaps a child that overran its time.
void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Runs `args` (args[0] an absolute path) to completion, feeding `stdin_data` and collecting stdout
// and stderr. Fails only if the process could not be run or overran `timeout`; a non-zero exit is
// reported in the result.
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

// Returns the end of `path` from byte `from` on, at most kLogTailBytes, or a note if unreadable.
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

// mariadbd's words when another process holds its TCP port.
bool SaysPortInUse(absl::string_view log) {
  return absl::StrContains(log, "Address already in use") ||
         absl::StrContains(log, "Bind on TCP/IP port");
}

// Client errors that mean the server is not there, as opposed to a rejected statement.
bool SaysUnreachable(absl::string_view err) {
  for (absl::string_view marker : {"Can't connect", "Lost connection", "server has gone away",
                                   "ERROR 2002", "ERROR 2003", "ERROR 2006", "ERROR 2013"}) {
    if (absl::StrContains(err, marker)) return true;
  }
  return false;
}

// `name` as a backtick-quoted SQL identifier.
std::string QuoteIdentifier(absl::string_view name) {
  std::string quoted = "`";
  for (char c : name) {
    if (c == '`') quoted += '`';
    quoted += c;
  }
  quoted += '`';
  return quoted;
}

// Where test directories go: $TMPDIR unless the socket path would not fit in sun_path there.
std::string TempBase() {
  const char* tmpdir = getenv("TMPDIR");
  std::string base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  constexpr absl::string_view kSuffix = "/securelink-mariadb-XXXXXX/mysqld.sock";
  if (base.size() + kSuffix.size() > kMaxSocketPathLength) base = "/tmp";
  return base;
}

constexpr absl::string_view kDirPrefix = "securelink-mariadb-";
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

// Removes the directories of servers whose owning process died without running the destructor
// (a crash, or ctest's timeout). Their mariadbd died with the owner (PR_SET_PDEATHSIG), but each
// directory holds ~130 MB and CI machines are reused. An owner holds an flock on DIR/owner.lock
// for as long as it lives, so a lock that can be taken means nobody owns the directory.
void SweepAbandonedDirs(const std::string& base) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(base, error)) {
    const std::string name = entry.path().filename();
    if (!absl::StartsWith(name, kDirPrefix)) continue;
    const std::string dir = entry.path();
    std::error_code entry_error;
    if (!std::filesystem::is_directory(entry.path(), entry_error)) continue;
    if (ServerPidAlive(dir)) continue;  // Someone's server is running there: never touch it.
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

}  // namespace

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

absl::StatusOr<std::unique_ptr<MariaDbServer>> MariaDbServer::Start() { return Start(Options()); }

absl::StatusOr<std::unique_ptr<MariaDbServer>> MariaDbServer::Start(const Options& options) {
  Binaries bin;
  ASSIGN_OR_RETURN(bin.mariadbd, FindBinary("mariadbd"));
  ASSIGN_OR_RETURN(bin.install_db, FindBinary("mariadb-install-db"));
  ASSIGN_OR_RETURN(bin.client, FindBinary("mariadb"));
  ASSIGN_OR_RETURN(bin.admin, FindBinary("mariadb-admin"));
  ASSIGN_OR_RETURN(bin.dump, FindBinary("mariadb-dump"));
  std::string openssl;
  if (options.tls) {
    ASSIGN_OR_RETURN(openssl, FindBinary("openssl"));
  }

  const std::string base = TempBase();
  SweepAbandonedDirs(base);
  std::string dir_template = absl::StrCat(base, "/", kDirPrefix, "XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp(", dir_template, "): ", strerror(errno)));
  }
  // From here on the destructor removes the directory whatever fails.
  std::unique_ptr<MariaDbServer> server(
      new MariaDbServer(std::move(bin), dir_template, PickFreePort()));
  // Held until the destructor; tells SweepAbandonedDirs in other processes that we are alive.
  // Locked under a temporary name and then renamed, so that no sweeper can ever see the file
  // unlocked and take our new directory for an abandoned one.
  const std::string lock_path = absl::StrCat(server->dir_, kOwnerLock);
  const std::string unready_lock_path = lock_path + ".new";
  server->owner_lock_fd_ = open(unready_lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (server->owner_lock_fd_ < 0 || flock(server->owner_lock_fd_, LOCK_EX) != 0 ||
      rename(unready_lock_path.c_str(), lock_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot lock ", lock_path, ": ", strerror(errno)));
  }
  if (server->port_ < 0) return absl::InternalError("no free TCP port on 127.0.0.1");
  if (options.tls) RETURN_IF_ERROR(server->MakeTlsFiles(openssl));
  RETURN_IF_ERROR(server->WriteConfig());
  std::error_code mkdir_error;
  std::filesystem::create_directory(server->dir_ + "/tmp", mkdir_error);
  if (mkdir_error) {
    return absl::InternalError(
        absl::StrCat("mkdir ", server->dir_, "/tmp: ", mkdir_error.message()));
  }

  // --defaults-file must come first: MariaDB programs only honour it in that position.
  ASSIGN_OR_RETURN(CommandResult install,
                   RunCommand({server->bin_.install_db, "--defaults-file=" + server->ConfigPath(),
                               "--user=root", "--datadir=" + server->dir_ + "/data",
                               "--auth-root-authentication-method=normal", "--skip-test-db"},
                              "", kInstallTimeout));
  if (!install.succeeded()) {
    // The script's own output is generic advice; the reason is in the bootstrap server's log.
    return absl::InternalError(
        absl::StrCat("mariadb-install-db failed (", DescribeWaitStatus(install.wait_status),
                     "): ", absl::StripAsciiWhitespace(install.err), "\nend of ",
                     server->ErrorLogPath(), ":\n", ReadTail(server->ErrorLogPath(), 0)));
  }

  absl::MutexLock lock(&server->mu_);
  bool port_in_use = false;
  absl::Status status = server->LaunchAndWait(&port_in_use);
  if (status.ok()) return server;
  if (!port_in_use) return status;
  // Someone bound the port between PickFreePort() and mariadbd's bind; one retry makes a second
  // collision vanishingly unlikely.
  server->port_ = PickFreePort();
  if (server->port_ < 0) return absl::InternalError("no free TCP port on 127.0.0.1");
  RETURN_IF_ERROR(server->WriteConfig());
  RETURN_IF_ERROR(server->LaunchAndWait(&port_in_use));
  return server;
}

MariaDbServer::~MariaDbServer() {
  {
    absl::MutexLock lock(&mu_);
    if (ReapIfExited() && !SignalAndWait(SIGTERM, kDestructorStopTimeout)) {
      SignalAndWait(SIGKILL, absl::InfiniteDuration());
    }
  }
  std::error_code error;
  std::filesystem::remove_all(dir_, error);
  if (error) {
    std::fprintf(stderr, "MariaDbServer: cannot remove %s: %s\n", dir_.c_str(),
                 error.message().c_str());
  }
  if (owner_lock_fd_ >= 0) close(owner_lock_fd_);
}

std::string MariaDbServer::socket_path() const { return dir_ + "/mysqld.sock"; }
std::string MariaDbServer::ConfigPath() const { return dir_ + "/my.cnf"; }
std::string MariaDbServer::ErrorLogPath() const { return dir_ + "/mariadbd.err"; }

std::string MariaDbServer::Uri(absl::string_view database) const {
  return absl::StrCat("mysql://root@127.0.0.1:", port_, "/", database);
}

std::string MariaDbServer::ServerCertPath() const { return dir_ + "/tls/server.pem"; }
std::string MariaDbServer::ServerKeyPath() const { return dir_ + "/tls/server.key"; }

absl::Status MariaDbServer::MakeTlsFiles(const std::string& openssl) {
  const std::string tls_dir = dir_ + "/tls";
  std::error_code mkdir_error;
  std::filesystem::create_directory(tls_dir, mkdir_error);
  if (mkdir_error) {
    return absl::InternalError(absl::StrCat("mkdir ", tls_dir, ": ", mkdir_error.message()));
  }
  // Our own configuration, so that the distribution's openssl.cnf (its default extensions,
  // its prompts) cannot change what the certificates say. P-256 keys take milliseconds to
  // generate; RSA keys take far longer.
  constexpr absl::string_view kConfig = R"(# Written by securelink::testing::MariaDbServer.
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
)";
  const std::string config = tls_dir + "/openssl.cnf";
  {
    std::ofstream out(config, std::ios::trunc);
    out << kConfig;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", config));
  }
  const std::vector<std::string> new_key = {"-newkey", "ec", "-pkeyopt",
                                            "ec_paramgen_curve:prime256v1", "-nodes"};
  auto run = [&](std::vector<std::string> args) -> absl::Status {
    args.insert(args.begin(), openssl);
    const std::string what = absl::StrJoin(args, " ");
    ASSIGN_OR_RETURN(CommandResult result, RunCommand(std::move(args), "", kClientTimeout));
    if (result.succeeded()) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(what, " failed (",
                                            DescribeWaitStatus(result.wait_status),
                                            "): ", absl::StripAsciiWhitespace(result.err)));
  };
  auto make_ca = [&](const std::string& name, const std::string& subject) {
    const std::string base = absl::StrCat(tls_dir, "/", name);
    std::vector<std::string> args = {"req", "-config", config, "-x509", "-new", "-days", "2",
                                     "-subj", subject, "-extensions", "ca",
                                     "-keyout", base + ".key", "-out", base + ".pem"};
    args.insert(args.end(), new_key.begin(), new_key.end());
    return run(std::move(args));
  };
  // A leaf certificate signed by the first CA: a request, then the signature.
  auto make_leaf = [&](const std::string& name, const std::string& subject,
                       const std::string& extensions, int serial) -> absl::Status {
    const std::string base = absl::StrCat(tls_dir, "/", name);
    std::vector<std::string> request = {"req", "-config", config, "-new", "-subj", subject,
                                        "-keyout", base + ".key", "-out", base + ".csr"};
    request.insert(request.end(), new_key.begin(), new_key.end());
    RETURN_IF_ERROR(run(std::move(request)));
    return run({"x509", "-req", "-in", base + ".csr", "-CA", tls_dir + "/ca.pem", "-CAkey",
                tls_dir + "/ca.key", "-set_serial", absl::StrCat(serial), "-days", "2",
                "-extfile", config, "-extensions", extensions, "-out", base + ".pem"});
  };
  RETURN_IF_ERROR(make_ca("ca", "/CN=securelink test CA"));
  RETURN_IF_ERROR(make_ca("other-ca", "/CN=securelink other test CA"));
  RETURN_IF_ERROR(make_leaf("server", "/CN=securelink test MariaDB", "server", 2));
  RETURN_IF_ERROR(make_leaf("client", "/CN=securelink test client", "client", 3));
  tls_.ca_cert = tls_dir + "/ca.pem";
  tls_.other_ca_cert = tls_dir + "/other-ca.pem";
  tls_.client_cert = tls_dir + "/client.pem";
  tls_.client_key = tls_dir + "/client.key";
  return absl::OkStatus();
}

absl::Status MariaDbServer::WriteConfig() const {
  // deploy/mariadb.cnf.in says why each setting is there; local runs use the same file.
  std::ifstream in(MARIADB_CNF_TEMPLATE);
  std::stringstream template_text;
  template_text << in.rdbuf();
  if (!in || template_text.str().empty()) {
    return absl::InternalError(absl::StrCat("cannot read ", MARIADB_CNF_TEMPLATE));
  }
  std::string content =
      absl::StrReplaceAll(template_text.str(), {{"$DIR", dir_}, {"$PORT", absl::StrCat(port_)}});
  if (!tls_.ca_cert.empty()) {
    // ssl_ca also makes the server ask for (and verify) client certificates, which users
    // created REQUIRE X509 must present.
    absl::StrAppend(&content, "\n[mysqld]\nssl_cert=", ServerCertPath(),
                    "\nssl_key=", ServerKeyPath(), "\nssl_ca=", tls_.ca_cert, "\n");
  }
  std::ofstream out(ConfigPath(), std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", ConfigPath()));
  return absl::OkStatus();
}

absl::Status MariaDbServer::LaunchAndWait(bool* port_in_use) {
  *port_in_use = false;
  const std::string log_path = ErrorLogPath();
  // Only this launch's lines decide whether the port was taken; the log accumulates restarts.
  const std::streamoff log_start = FileSize(log_path);

  std::vector<std::string> args = {bin_.mariadbd, "--defaults-file=" + ConfigPath()};
  std::vector<char*> argv = MakeArgv(args);
  const std::string exec_error = absl::StrCat("cannot exec ", bin_.mariadbd, "\n");
  // Early failures (a bad option) go to stderr before mariadbd opens its log-error file, so send
  // stderr to the same file.
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0660);
  if (log_fd < 0)
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    close(log_fd);
    return absl::InternalError(absl::StrCat("open /dev/null: ", strerror(errno)));
  }
  const long max_fd = sysconf(_SC_OPEN_MAX);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(log_fd);
    close(null_fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(saved)));
  }
  if (pid == 0) {
    PrepareChild(parent);
    // Its own session: a terminal's signals and the test's process group stay away from it.
    setsid();
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    CloseDescriptorsFrom3(max_fd);
    execv(argv[0], argv.data());
    ssize_t ignored = write(2, exec_error.data(), exec_error.size());
    (void)ignored;
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  pid_ = pid;

  // Ping over the private socket rather than TCP: if another server holds our port, a TCP ping
  // would reach *it* and report ready. mariadbd binds TCP before it creates the socket and
  // aborts if that fails, so an answer on the socket means the port is ours too.
  const std::vector<std::string> ping = {bin_.admin, "--defaults-file=" + ConfigPath(),
                                         "--connect-timeout=2", "ping"};
  const absl::Time deadline = absl::Now() + kReadyTimeout;
  absl::Duration pause = absl::Milliseconds(20);
  while (true) {
    if (!ReapIfExited()) {
      const std::string tail = ReadTail(log_path, log_start);
      *port_in_use = SaysPortInUse(tail);
      return absl::InternalError(absl::StrCat("mariadbd exited during startup (",
                                              DescribeWaitStatus(exit_status_), ") on port ", port_,
                                              "; end of ", log_path, ":\n", tail));
    }
    absl::StatusOr<CommandResult> answer = RunCommand(ping, "", kPingTimeout);
    if (answer.ok() && answer->succeeded() && ReapIfExited()) return absl::OkStatus();
    if (absl::Now() >= deadline) break;
    absl::SleepFor(std::min(pause, deadline - absl::Now()));
    pause = std::min(pause * 2, absl::Milliseconds(200));
  }
  SignalAndWait(SIGKILL, absl::InfiniteDuration());
  return absl::DeadlineExceededError(absl::StrCat("mariadbd did not answer within ",
                                                  absl::FormatDuration(kReadyTimeout), "; end of ",
                                                  log_path, ":\n", ReadTail(log_path, log_start)));
}

bool MariaDbServer::ReapIfExited() const {
  if (pid_ < 0) return false;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    if (r < 0 && errno == EINTR) continue;
    // r == pid_, or ECHILD because SIGCHLD is ignored and the kernel reaped it: gone either way.
    exit_status_ = r == pid_ ? status : 0;
    pid_ = -1;
    return false;
  }
}

bool MariaDbServer::SignalAndWait(int signal, absl::Duration timeout) {
  if (!ReapIfExited()) return true;
  kill(pid_, signal);
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(10);
  while (ReapIfExited()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(pause, deadline - absl::Now()));
    pause = std::min(pause * 2, absl::Milliseconds(100));
  }
  return true;
}

absl::Status MariaDbServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (SignalAndWait(SIGTERM, kStopTimeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("mariadbd (pid ", pid_, ") still running ",
                                                  absl::FormatDuration(kStopTimeout),
                                                  " after SIGTERM"));
}

absl::Status MariaDbServer::Kill() {
  absl::MutexLock lock(&mu_);
  SignalAndWait(SIGKILL, absl::InfiniteDuration());
  return absl::OkStatus();
}

absl::Status MariaDbServer::StartAgain() {
  absl::MutexLock lock(&mu_);
  if (ReapIfExited()) {
    return absl::FailedPreconditionError(
        absl::StrCat("mariadbd is already running (pid ", pid_, ")"));
  }
  bool port_in_use = false;
  absl::Status status = LaunchAndWait(&port_in_use);
  if (!status.ok() && port_in_use) {
    return absl::InternalError(absl::StrCat("port ", port_,
                                            " was taken by another process while the server "
                                            "was down: ",
                                            status.message()));
  }
  return status;
}

bool MariaDbServer::running() const {
  absl::MutexLock lock(&mu_);
  return ReapIfExited();
}

pid_t MariaDbServer::pid() const {
  absl::MutexLock lock(&mu_);
  return ReapIfExited() ? pid_ : -1;
}

absl::StatusOr<std::string> MariaDbServer::RunClient(absl::string_view binary,
                                                     const std::vector<std::string>& args,
                                                     absl::string_view stdin_data) const {
  std::vector<std::string> argv = {std::string(binary), "--defaults-file=" + ConfigPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(CommandResult result, RunCommand(std::move(argv), stdin_data, kClientTimeout));
  if (result.succeeded()) return std::move(result.out);
  const std::string name = std::filesystem::path(std::string(binary)).filename();
  std::string message = absl::StrCat(name, " failed (", DescribeWaitStatus(result.wait_status),
                                     "): ", absl::StripAsciiWhitespace(result.err));
  if (SaysUnreachable(result.err)) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::Status MariaDbServer::CreateDatabase(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("database name is empty");
  return Execute("", absl::StrCat("CREATE DATABASE IF NOT EXISTS ", QuoteIdentifier(name),
                                  " CHARACTER SET utf8mb4"));
}

absl::Status MariaDbServer::Execute(absl::string_view database, absl::string_view sql) {
  std::vector<std::string> args;
  if (!database.empty()) args.push_back(absl::StrCat("--database=", database));
  // Through stdin rather than -e: a migration script can exceed the 128 KiB limit on one argv
  // string.
  return RunClient(bin_.client, args, sql).status();
}

absl::StatusOr<std::string> MariaDbServer::Query(absl::string_view database,
                                                 absl::string_view sql) {
  std::vector<std::string> args = {"-N", "-B", "-e", std::string(sql)};
  if (!database.empty()) args.push_back(absl::StrCat("--database=", database));
  return RunClient(bin_.client, args, "");
}

absl::StatusOr<std::string> MariaDbServer::Dump(absl::string_view database) {
  // Without the dump date two dumps of the same data are byte-identical, which is what a test
  // comparing before and after wants.
  return RunClient(bin_.dump, {"--skip-dump-date", std::string(database)}, "");
}

MariaDbServer& SharedMariaDb() {
  static MariaDbServer* server = [] {
    absl::StatusOr<std::unique_ptr<MariaDbServer>> started = MariaDbServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start MariaDB for the tests: %s\n",
                   started.status().ToString().c_str());
      std::abort();
    }
    return started->release();
  }();
  return *server;
}

}  // namespace securelink::testing
