#include "tests/support/mariadb_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
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
#include "tests/support/subprocess.h"

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
constexpr absl::string_view kDirPrefix = "securelink-mariadb-";

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

  const std::string base = TempBase(absl::StrCat("/", kDirPrefix, "XXXXXX/mysqld.sock"));
  SweepAbandonedDirs(base, kDirPrefix);
  std::string dir_template = absl::StrCat(base, "/", kDirPrefix, "XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp(", dir_template, "): ", strerror(errno)));
  }
  // From here on the destructor removes the directory whatever fails.
  std::unique_ptr<MariaDbServer> server(
      new MariaDbServer(std::move(bin), dir_template, PickFreePort()));
  // Held until the destructor; tells SweepAbandonedDirs in other processes that we are alive.
  ASSIGN_OR_RETURN(server->owner_lock_fd_, TakeOwnerLock(server->dir_));
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

  ASSIGN_OR_RETURN(const pid_t pid,
                   SpawnDaemon({bin_.mariadbd, "--defaults-file=" + ConfigPath()}, log_path));
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
