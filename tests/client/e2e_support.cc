#include "tests/client/e2e_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/util/status_macros.h"

extern char** environ;

namespace securelink::testing::e2e {
namespace {

std::atomic<int> counter{0};

// A directory of this process's own for logs, input files and mail, removed at exit.
const std::string& TempDir() {
  struct Dir {
    std::string path;
    Dir() {
      const char* base = std::getenv("TMPDIR");
      std::string pattern = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp",
                                         "/securelink-e2e-", getpid(), "-XXXXXX");
      if (mkdtemp(pattern.data()) == nullptr) {
        std::fprintf(stderr, "mkdtemp %s: %s\n", pattern.c_str(), strerror(errno));
        std::abort();
      }
      path = pattern;
    }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

std::string TempPath(absl::string_view hint) {
  return absl::StrCat(TempDir(), "/", counter.fetch_add(1), "-", hint);
}

// This process's environment minus INVITATIONS_* (so that a developer's settings never leak into
// a test), plus `extra`.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "INVITATIONS_")) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Forks and execs `argv[0]` with stdin from `stdin_path`, stdout to `stdout_path` and stderr to
// `stderr_path` (which may be the same file). The child gets SIGKILL when the calling thread
// ends. Returns the pid, or an error.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> argv, std::vector<std::string> env,
                            const std::string& stdin_path, const std::string& stdout_path,
                            const std::string& stderr_path) {
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed in a multi-threaded process.
  std::vector<char*> argv_c = CStrings(argv);
  std::vector<char*> env_c = CStrings(env);
  const int in_fd = open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd =
      stderr_path == stdout_path
          ? out_fd
          : open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto close_all = [&] {
    if (in_fd >= 0) close(in_fd);
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0 && err_fd != out_fd) close(err_fd);
  };
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    const int saved = errno;
    close_all();
    return absl::InternalError(absl::StrCat("cannot open the child's files: ", strerror(saved)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent thread died before prctl
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
    execve(argv_c[0], argv_c.data(), env_c.data());
    _exit(127);
  }
  const int saved = errno;
  close_all();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(saved)));
  return pid;
}

// The exit code once `pid` has exited (128 + signal for a signal), or -1 while it runs.
int ReapIfExited(pid_t pid) {
  int status = 0;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  if (r != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits up to `timeout` for `pid` to exit; on timeout kills it and returns -1.
int WaitForExit(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    const int code = ReapIfExited(pid);
    if (code >= 0) return code;
    if (absl::Now() >= give_up) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

constexpr absl::string_view kServingLine = "\"msg\":\"serving\"";

// The number in `"<field>":"<n>"` of the "serving" line in `log`, or 0.
int PortField(absl::string_view log, absl::string_view field) {
  const size_t line = log.find(kServingLine);
  if (line == absl::string_view::npos) return 0;
  const size_t line_start = log.rfind('\n', line);
  const std::string key = absl::StrCat("\"", field, "\":");
  const size_t at = log.find(key, line_start == absl::string_view::npos ? 0 : line_start);
  if (at == absl::string_view::npos) return 0;
  size_t digits = at + key.size();
  if (digits < log.size() && log[digits] == '"') ++digits;  // a number, or a quoted one
  int port = 0;
  for (size_t i = digits; i < log.size() && absl::ascii_isdigit(log[i]); ++i) {
    port = port * 10 + (log[i] - '0');
  }
  return port;
}

}  // namespace

MariaDbServer& SharedDb() { return SharedMariaDb(); }

std::string UniqueName(absl::string_view prefix) {
  return absl::StrCat(prefix, "_", getpid(), "_", counter.fetch_add(1));
}

std::string UniqueEmail(absl::string_view prefix) {
  return absl::StrCat(prefix, ".", getpid(), ".", counter.fetch_add(1), "@example.com");
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WriteTempFile(absl::string_view name_hint, absl::string_view content) {
  const std::string path = TempPath(name_hint);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return path;
}

ProgramResult RunProgram(const std::string& path, const std::vector<std::string>& args,
                         const std::vector<std::string>& env, absl::string_view stdin_data,
                         absl::Duration timeout) {
  ProgramResult result;
  const std::string in_path = WriteTempFile("stdin", stdin_data);
  const std::string out_path = TempPath("stdout");
  const std::string err_path = TempPath("stderr");
  std::vector<std::string> argv = {path};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<pid_t> pid = Spawn(argv, ChildEnvironment(env), in_path, out_path, err_path);
  if (!pid.ok()) {
    result.err = pid.status().ToString();
  } else {
    result.exit_code = WaitForExit(*pid, timeout);
    result.out = ReadWholeFile(out_path);
    result.err = ReadWholeFile(err_path);
  }
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return result;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(Options options) {
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int port = PickFreePort();
    if (port < 0) return absl::InternalError("no free port");
    std::unique_ptr<ServerProcess> server(new ServerProcess(options, port));
    last = server->Launch();
    if (last.ok()) return server;
    // Another process took the port between picking and binding: try once more.
    if (!absl::StrContains(last.message(), "cannot start the gRPC server")) break;
  }
  return last;
}

absl::StatusOr<std::vector<std::unique_ptr<ServerProcess>>> ServerProcess::StartTogether(
    const std::vector<Options>& options) {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  for (const Options& o : options) {
    const int port = PickFreePort();
    if (port < 0) return absl::InternalError("no free port");
    servers.emplace_back(new ServerProcess(o, port));
    RETURN_IF_ERROR(servers.back()->SpawnChild());
  }
  for (auto& server : servers) RETURN_IF_ERROR(server->AwaitServing());
  return servers;
}

ServerProcess::~ServerProcess() { Terminate(); }

std::string ServerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

int ServerProcess::Terminate(absl::Duration timeout) {
  if (pid_ < 0) return 0;
  kill(pid_, SIGTERM);
  const int code = WaitForExit(pid_, timeout);
  pid_ = -1;
  if (code != 0) {
    // Whatever ended it badly (a sanitizer's report, a crash) is in its log: show it with the
    // failing test, since the temporary log file is gone once the test binary exits.
    const std::string log = Log();
    std::fprintf(stderr, "invitation_server on port %d exited with %d; its log ends:\n%s\n", port_,
                 code, log.substr(log.size() > 20000 ? log.size() - 20000 : 0).c_str());
  }
  return code;
}

void ServerProcess::Kill() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  WaitForExit(pid_, absl::Seconds(30));
  pid_ = -1;
}

absl::Status ServerProcess::Restart() {
  if (running()) return absl::FailedPreconditionError("the server is still running");
  return Launch();
}

bool ServerProcess::running() {
  if (pid_ < 0) return false;
  if (ReapIfExited(pid_) >= 0) pid_ = -1;
  return pid_ >= 0;
}

std::string ServerProcess::Log() const {
  std::string out;
  for (const std::string& path : log_paths_) {
    absl::StrAppend(&out, "--- ", path, "\n", ReadWholeFile(path));
  }
  return out;
}

absl::Status ServerProcess::SpawnChild() {
  const std::string log_path = TempPath(absl::StrCat("server-", log_paths_.size(), ".log"));
  log_paths_.push_back(log_path);
  std::vector<std::string> env = {
      absl::StrCat("INVITATIONS_GRPC_ADDRESS=", address()),
      absl::StrCat("INVITATIONS_MYSQL_URI=", options_.mysql_uri),
      "INVITATIONS_REGISTRATION_BASE_URL=https://register.example.test/register",
      // Ports of listeners that may not exist yet; never the defaults, which may be in use.
      "INVITATIONS_METRICS_ADDRESS=127.0.0.1:0",  // the bound port is in the "serving" line
      "INVITATIONS_WEB_ADDRESS=127.0.0.1:0",  // the registration page; port in "serving"
      absl::StrCat("INVITATIONS_MAIL_DIR=", TempPath("mail")),
      "INVITATIONS_AUTH=disabled",
  };
  // getenv() takes the first of duplicate names: the caller's settings come first and win.
  env.insert(env.begin(), options_.env.begin(), options_.env.end());
  absl::StatusOr<pid_t> pid =
      Spawn({INVITATION_SERVER_PATH}, ChildEnvironment(env), "/dev/null", log_path, log_path);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  return absl::OkStatus();
}

absl::Status ServerProcess::Launch() {
  RETURN_IF_ERROR(SpawnChild());
  return AwaitServing();
}

absl::Status ServerProcess::AwaitServing() {
  const std::string& log_path = log_paths_.back();
  const absl::Time give_up = absl::Now() + options_.start_timeout;
  for (;;) {
    if (const std::string log = ReadWholeFile(log_path); absl::StrContains(log, kServingLine)) {
      metrics_port_ = PortField(log, "metrics_port");
      web_port_ = PortField(log, "web_port");
      return absl::OkStatus();
    }
    if (!running()) {
      return absl::InternalError(
          absl::StrCat("invitation_server exited before serving; log:\n", ReadWholeFile(log_path)));
    }
    if (absl::Now() >= give_up) {
      Terminate(absl::Seconds(5));
      return absl::DeadlineExceededError(absl::StrCat("invitation_server did not serve within ",
                                                      absl::FormatDuration(options_.start_timeout),
                                                      "; log:\n", ReadWholeFile(log_path)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace securelink::testing::e2e
