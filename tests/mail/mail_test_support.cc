#include "tests/mail/mail_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/support/mariadb_server.h"

extern char** environ;

namespace securelink::testing {
namespace {

constexpr absl::Duration kSinkReadyTimeout = absl::Seconds(30);

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool WriteWholeFile(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(out);
}

// "NAME=value" strings: this process's environment with `extra` added or replaced.
std::vector<std::string> MergedEnvironment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    const absl::string_view name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(extra.begin(), extra.end(),
                                      [&](const auto& kv) { return kv.first == name; });
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [name, value] : extra) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Forks and execs `args` with stdin from `stdin_path` and stdout/stderr to the given files. The
// child dies with the forking thread (PR_SET_PDEATHSIG), so a crashed test leaves no server.
absl::StatusOr<pid_t> Spawn(std::vector<std::string> args,
                            const std::vector<std::pair<std::string, std::string>>& env_extra,
                            const std::string& stdin_path, const std::string& stdout_path,
                            const std::string& stderr_path) {
  std::vector<std::string> env = MergedEnvironment(env_extra);
  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(env);
  const int in_fd = open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    const int saved = errno;
    for (int fd : {in_fd, out_fd, err_fd}) {
      if (fd >= 0) close(fd);
    }
    return absl::InternalError(absl::StrCat("open child stdio: ", strerror(saved)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // Undo what the test process may have set up (blocked or ignored signals survive exec).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    close_range(3, ~0U, 0);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  const int saved = errno;
  close(in_fd);
  close(out_fd);
  close(err_fd);
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(saved)));
  return pid;
}

// Whether `pid` has exited (and reaps it); sets *wait_status when it has.
bool Exited(pid_t pid, int* wait_status) {
  while (true) {
    const pid_t r = waitpid(pid, wait_status, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    return r != 0;
  }
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Connects to 127.0.0.1:port; when `want_greeting`, also reads the first line and requires
// "220". Returns whether the server answered so.
bool Answers(int port, bool want_greeting) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (ok && want_greeting) {
    std::string line;
    const absl::Time deadline = absl::Now() + absl::Seconds(2);
    while (line.find('\n') == std::string::npos && absl::Now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ok = absl::StartsWith(line, "220");
    if (ok) send(fd, "QUIT\r\n", 6, MSG_NOSIGNAL);
  }
  close(fd);
  return ok;
}

}  // namespace

TempDir::TempDir(absl::string_view prefix) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/", prefix,
                                     "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "mkdtemp " << pattern << ": " << strerror(errno) << "\n";
    std::abort();
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::operator/(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}


absl::StatusOr<ProcessResult> RunProcess(
    std::vector<std::string> args, absl::string_view stdin_data,
    const std::vector<std::pair<std::string, std::string>>& env, absl::Duration timeout) {
  // Files rather than pipes: no deadlock however much either side writes.
  TempDir dir("securelink-proc");
  const std::string in = dir / "stdin", out = dir / "stdout", err = dir / "stderr";
  if (!WriteWholeFile(in, stdin_data)) return absl::InternalError("cannot write " + in);
  const std::string program = args.empty() ? "" : args[0];
  absl::StatusOr<pid_t> pid = Spawn(std::move(args), env, in, out, err);
  if (!pid.ok()) return pid.status();
  int wait_status = 0;
  if (!WaitFor([&] { return Exited(*pid, &wait_status); }, timeout)) {
    KillAndReap(*pid);
    return absl::DeadlineExceededError(
        absl::StrCat(program, " ran longer than ", absl::FormatDuration(timeout)));
  }
  ProcessResult result;
  result.exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  result.out = ReadWholeFile(out);
  result.err = ReadWholeFile(err);
  return result;
}

std::string ParsedMessage::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

int ParsedMessage::HeaderCount(absl::string_view name) const {
  return static_cast<int>(std::count_if(headers.begin(), headers.end(), [&](const auto& kv) {
    return absl::EqualsIgnoreCase(kv.first, name);
  }));
}

std::vector<std::string> ParsedMessage::HeaderNames() const {
  std::vector<std::string> names;
  for (const auto& kv : headers) names.push_back(kv.first);
  return names;
}

std::string ParsedMessage::Body(absl::string_view content_type) const {
  for (const Part& part : parts) {
    if (part.content_type == content_type) return part.body;
  }
  return "";
}

absl::StatusOr<ParsedMessage> InspectMessage(absl::string_view raw) {
  absl::StatusOr<ProcessResult> run =
      RunProcess({kSystemPython, MAIL_TEST_DIR "/inspect_message.py"}, raw);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return absl::InternalError(absl::StrCat("inspect_message.py failed: ", run->err));
  }
  const nlohmann::json j = nlohmann::json::parse(run->out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InternalError("inspect_message.py printed no JSON");
  ParsedMessage m;
  m.strict_error = j.at("strict_error").get<std::string>();
  m.defects = j.at("defects").get<std::vector<std::string>>();
  for (const auto& h : j.at("headers")) m.headers.emplace_back(h.at(0), h.at(1));
  for (const auto& h : j.at("raw_headers")) m.raw_headers.emplace_back(h.at(0), h.at(1));
  m.content_type = j.at("content_type").get<std::string>();
  for (const auto& p : j.at("parts")) {
    m.parts.push_back({p.at("content_type"), p.at("charset"), p.at("transfer_encoding"),
                       p.at("body")});
  }
  return m;
}

absl::StatusOr<TestCertificate> MakeTestCertificate(const std::string& dir) {
  TestCertificate cert{dir + "/cert.pem", dir + "/key.pem"};
  absl::StatusOr<ProcessResult> run = RunProcess(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", cert.key_file, "-out",
       cert.cert_file, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
       "subjectAltName=IP:127.0.0.1,DNS:localhost"},
      "");
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) return absl::InternalError("openssl req failed: " + run->err);
  return cert;
}

absl::StatusOr<std::unique_ptr<SmtpSink>> SmtpSink::Start(Options options) {
  std::unique_ptr<SmtpSink> sink(new SmtpSink());
  sink->dir_ = std::make_unique<TempDir>("securelink-smtp");
  sink->maildir_ = *sink->dir_ / "maildir";
  sink->log_path_ = *sink->dir_ / "aiosmtpd.log";
  sink->smtps_ = options.smtps.has_value();
  std::vector<std::pair<std::string, std::string>> env = options.env;
  env.emplace_back("PYTHONPATH", MAIL_TEST_DIR);
  env.emplace_back("PYTHONDONTWRITEBYTECODE", "1");  // keep the source tree clean

  // A port picked free may be taken before aiosmtpd binds it; then it exits and we try again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    sink->port_ = options.port != 0 ? options.port : PickFreePort();
    if (sink->port_ < 0) return absl::InternalError("no free TCP port on 127.0.0.1");
    std::vector<std::string> args = {kSystemPython, "-m", "aiosmtpd", "-n", "-l",
                                     absl::StrCat("127.0.0.1:", sink->port_), "-c",
                                     options.handler};
    if (options.starttls) {
      args.insert(args.end(), {"--tlscert", options.starttls->cert_file, "--tlskey",
                               options.starttls->key_file});
    }
    if (options.smtps) {
      args.insert(args.end(), {"--smtpscert", options.smtps->cert_file, "--smtpskey",
                               options.smtps->key_file});
    }
    args.push_back(sink->maildir_);
    absl::StatusOr<pid_t> pid = Spawn(args, env, "/dev/null", sink->log_path_, sink->log_path_);
    if (!pid.ok()) return pid.status();
    sink->pid_ = *pid;

    int wait_status = 0;
    bool exited = false;
    const bool ready = WaitFor(
        [&] {
          exited = Exited(sink->pid_, &wait_status);
          // Ours only while it is alive: a stranger on a stolen port does not count.
          return !exited && Answers(sink->port_, !sink->smtps_) && !Exited(sink->pid_, &wait_status);
        },
        kSinkReadyTimeout);
    if (ready) return sink;
    const std::string log = ReadWholeFile(sink->log_path_);
    if (!exited) KillAndReap(sink->pid_);
    sink->pid_ = -1;
    if (!absl::StrContains(absl::AsciiStrToLower(log), "address already in use")) {
      return absl::InternalError(absl::StrCat("aiosmtpd did not start on port ", sink->port_,
                                              "; its output:\n", log));
    }
  }
  return absl::InternalError("aiosmtpd: every port tried was taken");
}

SmtpSink::~SmtpSink() {
  if (pid_ > 0) KillAndReap(pid_);
}

std::string SmtpSink::url() const {
  return absl::StrCat(smtps_ ? "smtps" : "smtp", "://127.0.0.1:", port_);
}

std::vector<std::string> SmtpSink::Messages() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(maildir_ + "/new", ec)) {
    names.push_back(entry.path().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> messages;
  for (const std::string& name : names) messages.push_back(ReadWholeFile(name));
  return messages;
}

absl::StatusOr<std::vector<std::string>> SmtpSink::WaitForMessages(size_t count,
                                                                   absl::Duration timeout) const {
  std::vector<std::string> messages;
  if (WaitFor(
          [&] {
            messages = Messages();
            return messages.size() >= count;
          },
          timeout)) {
    return messages;
  }
  return absl::DeadlineExceededError(absl::StrCat("expected ", count, " message(s) in ", maildir_,
                                                  " within ", absl::FormatDuration(timeout),
                                                  ", found ", messages.size()));
}

}  // namespace securelink::testing
