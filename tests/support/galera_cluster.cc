#include "tests/support/galera_cluster.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/util/status_macros.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/subprocess.h"

namespace securelink::testing {
namespace {

constexpr int kMaxNodes = 9;
constexpr absl::string_view kDirPrefix = "securelink-galera-";
constexpr char kProvider[] = "/usr/lib/galera/libgalera_smm.so";
// A bootstrapping node is Synced ~1 s after starting and a joiner ~3-5 s after (its rsync SST
// copies ~90 MB); the margin is for a loaded CI machine.
constexpr absl::Duration kReadyTimeout = absl::Minutes(2);
// A graceful shutdown takes ~2 s here.
constexpr absl::Duration kStopTimeout = absl::Minutes(1);
// Generous: a test's SQL can be a whole migration; this only guards against a hung client.
constexpr absl::Duration kClientTimeout = absl::Seconds(120);
constexpr absl::Duration kInstallTimeout = absl::Seconds(120);
constexpr absl::Duration kStatusTimeout = absl::Seconds(5);

// Whether every directory from `path` up to the root lets other users through (o+x), so that
// the nodes' user can reach a directory made below it.
bool TraversableByAll(const std::filesystem::path& path) {
  for (std::filesystem::path p = path;; p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) return false;
    if (p == p.parent_path()) return true;
  }
}

absl::Status WriteFile(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path));
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GaleraCluster>> GaleraCluster::Start(int nodes) {
  if (nodes < 1 || nodes > kMaxNodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a Galera cluster has 1 to ", kMaxNodes, " nodes, not ", nodes));
  }
  bool port_in_use = false;
  absl::StatusOr<std::unique_ptr<GaleraCluster>> cluster = StartOnce(nodes, &port_in_use);
  if (cluster.ok() || !port_in_use) return cluster;
  // Another process bound one of the 4 x N ports between picking and binding; the failed
  // attempt's nodes and directory are gone with it. One retry makes a second collision
  // vanishingly unlikely.
  return StartOnce(nodes, &port_in_use);
}

absl::StatusOr<std::unique_ptr<GaleraCluster>> GaleraCluster::StartOnce(int nodes,
                                                                        bool* port_in_use) {
  *port_in_use = false;
  Binaries bin;
  ASSIGN_OR_RETURN(bin.mariadbd, FindBinary("mariadbd"));
  ASSIGN_OR_RETURN(bin.install_db, FindBinary("mariadb-install-db"));
  ASSIGN_OR_RETURN(bin.client, FindBinary("mariadb"));
  if (access(kProvider, R_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat(kProvider, " not found: install galera-4 (mariadb-server depends on it)"));
  }
  if (!FindBinary("rsync").ok()) {
    return absl::NotFoundError("rsync not found: Galera's state transfer needs it; install rsync");
  }

  RunAs run_as;
  {
    struct passwd pw;
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (geteuid() == 0) {
      // A root node's rsync SST daemon drops to `nobody`, which cannot read the data directory:
      // the joiner aborts with "Permission denied". mariadb-server's package makes `mysql`.
      getpwnam_r("mysql", &pw, buffer.data(), buffer.size(), &found);
      if (found == nullptr) {
        return absl::NotFoundError(
            "user mysql not found: Galera nodes cannot run as root (install mariadb-server)");
      }
      run_as.uid = pw.pw_uid;
      run_as.gid = pw.pw_gid;
    } else {
      getpwuid_r(geteuid(), &pw, buffer.data(), buffer.size(), &found);
      if (found == nullptr) {
        return absl::InternalError(absl::StrCat("no passwd entry for uid ", geteuid()));
      }
    }
    run_as.user = pw.pw_name;
  }

  std::string base = TempBase(absl::StrCat("/", kDirPrefix, "XXXXXX/node9/mysqld.sock"));
  if (run_as.uid != static_cast<uid_t>(-1) && !TraversableByAll(base)) base = "/tmp";
  SweepAbandonedDirs(base, kDirPrefix);
  std::string dir_template = absl::StrCat(base, "/", kDirPrefix, "XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp(", dir_template, "): ", strerror(errno)));
  }
  // From here on the destructor kills the nodes and removes the directory whatever fails.
  std::unique_ptr<GaleraCluster> cluster(
      new GaleraCluster(std::move(bin), std::move(run_as), dir_template));
  // Held until the destructor; tells SweepAbandonedDirs in other processes that we are alive.
  ASSIGN_OR_RETURN(cluster->owner_lock_fd_, TakeOwnerLock(cluster->dir_));
  // mkdtemp makes it 0700; the nodes' user must get through to its node directory.
  if (chmod(cluster->dir_.c_str(), 0755) != 0) {
    return absl::InternalError(absl::StrCat("chmod ", cluster->dir_, ": ", strerror(errno)));
  }

  // Four listeners per node, all distinct: the kernel may hand out the same free port twice.
  std::set<int> ports;
  auto pick = [&ports]() -> int {
    for (int attempt = 0; attempt < 100; ++attempt) {
      const int port = PickFreePort();
      if (port < 0) return -1;
      if (ports.insert(port).second) return port;
    }
    return -1;
  };
  for (int i = 0; i < nodes; ++i) {
    Node node;
    node.dir = absl::StrCat(cluster->dir_, "/node", i);
    node.port = pick();
    node.gcomm_port = pick();
    node.ist_port = pick();
    node.sst_port = pick();
    if (std::min({node.port, node.gcomm_port, node.ist_port, node.sst_port}) < 0) {
      return absl::InternalError("no free TCP port on 127.0.0.1");
    }
    cluster->nodes_.push_back(std::move(node));
  }
  {
    absl::MutexLock lock(&cluster->mu_);
    cluster->pids_.assign(nodes, -1);
    cluster->exit_statuses_.assign(nodes, 0);
    cluster->starting_.assign(nodes, false);
  }
  for (int i = 0; i < nodes; ++i) RETURN_IF_ERROR(cluster->PrepareNode(i));

  // Only node 0 is initialised: the others receive its data by SST when they join.
  // --defaults-file must come first: MariaDB programs only honour it in that position.
  ASSIGN_OR_RETURN(
      CommandResult install,
      RunCommand({cluster->bin_.install_db, "--defaults-file=" + cluster->ConfigPath(0),
                  "--user=" + cluster->run_as_.user, "--datadir=" + cluster->node(0).dir + "/data",
                  "--auth-root-authentication-method=normal", "--skip-test-db"},
                 "", kInstallTimeout));
  if (!install.succeeded()) {
    // The script's own output is generic advice; the reason is in the bootstrap server's log.
    return absl::InternalError(
        absl::StrCat("mariadb-install-db failed (", DescribeWaitStatus(install.wait_status),
                     "): ", absl::StripAsciiWhitespace(install.err), "\nend of ",
                     cluster->ErrorLogPath(0), ":\n", ReadTail(cluster->ErrorLogPath(0), 0)));
  }

  RETURN_IF_ERROR(cluster->Launch(0, /*bootstrap=*/true));
  RETURN_IF_ERROR(cluster->AwaitSynced(0, 1, kReadyTimeout, 0, port_in_use));
  // One joiner at a time: a donor serves one state transfer at a time, and joiners started
  // together were seen here to wait for a donor until the timeout.
  for (int i = 1; i < nodes; ++i) {
    RETURN_IF_ERROR(cluster->Launch(i, /*bootstrap=*/false));
    RETURN_IF_ERROR(cluster->AwaitSynced(i, i + 1, kReadyTimeout, 0, port_in_use));
  }
  // Every node must see the whole cluster, not only the nodes that were up when it joined.
  for (int i = 0; i < nodes; ++i) {
    RETURN_IF_ERROR(cluster->AwaitSynced(i, nodes, kReadyTimeout, 0, port_in_use));
  }
  return cluster;
}

GaleraCluster::~GaleraCluster() {
  {
    absl::MutexLock lock(&mu_);
    // pids_, not nodes_: a Start() that failed while picking ports has nodes but no processes.
    for (size_t i = 0; i < pids_.size(); ++i) {
      SignalAndWait(static_cast<int>(i), SIGKILL, true, absl::InfiniteDuration());
    }
  }
  std::error_code error;
  std::filesystem::remove_all(dir_, error);
  if (error) {
    std::fprintf(stderr, "GaleraCluster: cannot remove %s: %s\n", dir_.c_str(),
                 error.message().c_str());
  }
  if (owner_lock_fd_ >= 0) close(owner_lock_fd_);
}

const GaleraCluster::Node& GaleraCluster::node(int i) const {
  if (i < 0 || i >= size()) {
    std::fprintf(stderr, "GaleraCluster: node %d does not exist (the cluster has %d)\n", i, size());
    std::abort();
  }
  return nodes_[i];
}

int GaleraCluster::port(int i) const { return node(i).port; }
std::string GaleraCluster::socket_path(int i) const { return node(i).dir + "/mysqld.sock"; }
std::string GaleraCluster::ConfigPath(int i) const { return node(i).dir + "/my.cnf"; }
std::string GaleraCluster::ErrorLogPath(int i) const { return node(i).dir + "/mariadbd.err"; }

std::string GaleraCluster::Uri(int i, absl::string_view database) const {
  return absl::StrCat("mysql://root@127.0.0.1:", port(i), "/", database);
}

std::string GaleraCluster::UriAll(absl::string_view database, int first_node) const {
  node(first_node);  // Aborts for a node that does not exist.
  std::vector<std::string> hosts;
  for (int k = 0; k < size(); ++k) {
    hosts.push_back(absl::StrCat("127.0.0.1:", port((first_node + k) % size())));
  }
  return absl::StrCat("mysql://root@", absl::StrJoin(hosts, ","), "/", database);
}

absl::Status GaleraCluster::PrepareNode(int i) const {
  const Node& n = node(i);
  for (const std::string& d : {n.dir, n.dir + "/data", n.dir + "/tmp"}) {
    std::error_code error;
    std::filesystem::create_directories(d, error);
    if (error) return absl::InternalError(absl::StrCat("mkdir ", d, ": ", error.message()));
  }
  // deploy/galera.cnf.in says why each setting is there; deploy/galera.sh uses the same file.
  ASSIGN_OR_RETURN(std::string text, ReadFile(GALERA_CNF_TEMPLATE));
  std::vector<std::string> members;
  for (const Node& member : nodes_) {
    members.push_back(absl::StrCat("127.0.0.1:", member.gcomm_port));
  }
  const std::string config = absl::StrReplaceAll(
      text, {{"$DIR", n.dir},
             {"$PORT", absl::StrCat(n.port)},
             {"$USER", run_as_.user},
             {"$CLUSTER_ADDRESS", absl::StrCat("gcomm://", absl::StrJoin(members, ","))},
             {"$NODE_NAME", absl::StrCat("node", i)},
             {"$GCOMM_PORT", absl::StrCat(n.gcomm_port)},
             {"$IST_PORT", absl::StrCat(n.ist_port)},
             {"$SST_PORT", absl::StrCat(n.sst_port)}});
  RETURN_IF_ERROR(WriteFile(ConfigPath(i), config));
  // The error log exists before mariadbd opens it (its early output is appended there), so it
  // must belong to the nodes' user as much as the directories do.
  RETURN_IF_ERROR(WriteFile(ErrorLogPath(i), ""));
  if (run_as_.uid == static_cast<uid_t>(-1)) return absl::OkStatus();
  for (const std::string& path : {n.dir, n.dir + "/data", n.dir + "/tmp", ErrorLogPath(i)}) {
    if (chown(path.c_str(), run_as_.uid, run_as_.gid) != 0) {
      return absl::InternalError(
          absl::StrCat("chown ", run_as_.user, " ", path, ": ", strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status GaleraCluster::Launch(int i, bool bootstrap) {
  const std::string log_path = ErrorLogPath(i);
  std::vector<std::string> args = {bin_.mariadbd, "--defaults-file=" + ConfigPath(i)};
  if (bootstrap) args.push_back("--wsrep-new-cluster");
  absl::MutexLock lock(&mu_);
  if (ReapIfExited(i)) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", i, " is already running (pid ", pids_[i], ")"));
  }
  // Its own session and process group: Kill() reaches its state-transfer helpers through the
  // group, and the SST script's `kill -- -<mariadbd pid>` on an abort hits only those helpers.
  ASSIGN_OR_RETURN(const pid_t pid,
                   SpawnDaemon(std::move(args), log_path, {run_as_.uid, run_as_.gid}));
  pids_[i] = pid;
  return absl::OkStatus();
}

absl::StatusOr<GaleraCluster::WsrepState> GaleraCluster::ReadWsrepState(int i) const {
  ASSIGN_OR_RETURN(
      CommandResult result,
      RunCommand(
          {bin_.client, "--defaults-file=" + ConfigPath(i), "--connect-timeout=2", "-N", "-B", "-e",
           "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', "
           "'wsrep_cluster_status', 'wsrep_cluster_size')"},
          "", kStatusTimeout));
  if (!result.succeeded()) {
    return absl::UnavailableError(
        absl::StrCat("node ", i, ": ", absl::StripAsciiWhitespace(result.err)));
  }
  WsrepState state;
  for (absl::string_view line : absl::StrSplit(result.out, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, '\t');
    if (kv.first == "wsrep_local_state_comment") state.local_state = std::string(kv.second);
    if (kv.first == "wsrep_cluster_status") state.cluster_status = std::string(kv.second);
    if (kv.first == "wsrep_cluster_size" && !absl::SimpleAtoi(kv.second, &state.cluster_size)) {
      state.cluster_size = 0;
    }
  }
  return state;
}

absl::Status GaleraCluster::AwaitSynced(int i, int cluster_size, absl::Duration timeout,
                                        std::streamoff log_start, bool* port_in_use) {
  const std::string log_path = ErrorLogPath(i);
  const absl::Time deadline = absl::Now() + timeout;
  std::string last_state = "no answer";
  absl::Duration pause = absl::Milliseconds(20);
  while (true) {
    int want = cluster_size;
    {
      absl::MutexLock lock(&mu_);
      if (!ReapIfExited(i)) {
        const std::string tail = ReadTail(log_path, log_start);
        if (port_in_use != nullptr) *port_in_use = SaysPortInUse(tail);
        return absl::UnavailableError(absl::StrCat(
            "node ", i, " (mariadbd) is not running",
            exit_statuses_[i] != 0 ? absl::StrCat(" (", DescribeWaitStatus(exit_statuses_[i]), ")")
                                   : "",
            "; end of ", log_path, ":\n", tail));
      }
      if (want == 0) want = RunningCount();
    }
    absl::StatusOr<WsrepState> state = ReadWsrepState(i);
    if (state.ok()) {
      if (state->local_state == "Synced" && state->cluster_status == "Primary" &&
          state->cluster_size == want) {
        return absl::OkStatus();
      }
      last_state = absl::StrCat(state->local_state, ", ", state->cluster_status, " component of ",
                                state->cluster_size);
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(std::min(pause, deadline - absl::Now()));
    pause = std::min(pause * 2, absl::Milliseconds(200));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("node ", i, " was not Synced in a primary component of ",
                   cluster_size > 0 ? absl::StrCat(cluster_size) : "every running node", " within ",
                   absl::FormatDuration(timeout), " (last: ", last_state, "); end of ", log_path,
                   ":\n", ReadTail(log_path, log_start)));
}

bool GaleraCluster::ReapIfExited(int i) const {
  if (pids_[i] < 0) return false;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pids_[i], &status, WNOHANG);
    if (r == 0) return true;
    if (r < 0 && errno == EINTR) continue;
    // r == pid, or ECHILD because SIGCHLD is ignored and the kernel reaped it: gone either way.
    exit_statuses_[i] = r == pids_[i] ? status : 0;
    pids_[i] = -1;
    return false;
  }
}

int GaleraCluster::RunningCount() const {
  int count = 0;
  for (int i = 0; i < size(); ++i) count += ReapIfExited(i) ? 1 : 0;
  return count;
}

bool GaleraCluster::SignalAndWait(int i, int signal, bool group, absl::Duration timeout) {
  if (!ReapIfExited(i)) return true;
  // Not yet reaped, so the pid (and the group it leads) cannot have been reused.
  // Right after fork the child may not lead its group yet; then the signal goes to it alone.
  if (!group || killpg(pids_[i], signal) != 0) kill(pids_[i], signal);
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(10);
  while (ReapIfExited(i)) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(pause, deadline - absl::Now()));
    pause = std::min(pause * 2, absl::Milliseconds(100));
  }
  return true;
}

absl::Status GaleraCluster::Stop(int i) {
  node(i);
  absl::MutexLock lock(&mu_);
  const pid_t pid = pids_[i];
  if (SignalAndWait(i, SIGTERM, false, kStopTimeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("node ", i, " (pid ", pid, ") still running ",
                                                  absl::FormatDuration(kStopTimeout),
                                                  " after SIGTERM"));
}

absl::Status GaleraCluster::Kill(int i) {
  node(i);
  absl::MutexLock lock(&mu_);
  SignalAndWait(i, SIGKILL, true, absl::InfiniteDuration());
  return absl::OkStatus();
}

absl::Status GaleraCluster::StartAgain(int i) {
  const std::string log_path = ErrorLogPath(i);
  bool bootstrap = false;
  {
    absl::MutexLock lock(&mu_);
    if (starting_[i]) {
      return absl::FailedPreconditionError(absl::StrCat("node ", i, " is already starting"));
    }
    bootstrap = RunningCount() == 0;
    starting_[i] = true;
  }
  if (bootstrap) {
    // Galera refuses to bootstrap from a node it did not mark as the last one standing (after a
    // crash it marks none); the caller has chosen this one.
    const std::string state_path = node(i).dir + "/data/grastate.dat";
    absl::StatusOr<std::string> state = ReadFile(state_path);
    if (state.ok()) {
      absl::Status written = WriteFile(
          state_path,
          absl::StrReplaceAll(*state, {{"safe_to_bootstrap: 0", "safe_to_bootstrap: 1"}}));
      if (!written.ok()) {
        absl::MutexLock lock(&mu_);
        starting_[i] = false;
        return written;
      }
    }
  }
  const std::streamoff log_start = FileSize(log_path);
  bool port_in_use = false;
  absl::Status status = Launch(i, bootstrap);
  if (status.ok()) status = AwaitSynced(i, 0, kReadyTimeout, log_start, &port_in_use);
  {
    absl::MutexLock lock(&mu_);
    starting_[i] = false;
  }
  if (!status.ok() && port_in_use) {
    return absl::InternalError(
        absl::StrCat("a port of node ", i,
                     " was taken by another process while it was down: ", status.message()));
  }
  return status;
}

absl::Status GaleraCluster::WaitSynced(int i, absl::Duration timeout) {
  node(i);
  return AwaitSynced(i, 0, timeout, FileSize(ErrorLogPath(i)), nullptr);
}

bool GaleraCluster::running(int i) const {
  node(i);
  absl::MutexLock lock(&mu_);
  return ReapIfExited(i);
}

pid_t GaleraCluster::pid(int i) const {
  node(i);
  absl::MutexLock lock(&mu_);
  return ReapIfExited(i) ? pids_[i] : -1;
}

absl::StatusOr<std::string> GaleraCluster::RunClient(int i, const std::vector<std::string>& args,
                                                     absl::string_view stdin_data) const {
  std::vector<std::string> argv = {bin_.client, "--defaults-file=" + ConfigPath(i)};
  argv.insert(argv.end(), args.begin(), args.end());
  ASSIGN_OR_RETURN(CommandResult result, RunCommand(std::move(argv), stdin_data, kClientTimeout));
  if (result.succeeded()) return std::move(result.out);
  std::string message =
      absl::StrCat("mariadb on node ", i, " failed (", DescribeWaitStatus(result.wait_status),
                   "): ", absl::StripAsciiWhitespace(result.err));
  if (SaysUnreachable(result.err)) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::Status GaleraCluster::CreateDatabase(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("database name is empty");
  return Execute(0, "",
                 absl::StrCat("CREATE DATABASE IF NOT EXISTS ", QuoteIdentifier(name),
                              " CHARACTER SET utf8mb4"));
}

absl::Status GaleraCluster::Execute(int i, absl::string_view database, absl::string_view sql) {
  node(i);
  std::vector<std::string> args;
  if (!database.empty()) args.push_back(absl::StrCat("--database=", database));
  // Through stdin rather than -e: a migration script can exceed the 128 KiB limit on one argv
  // string.
  return RunClient(i, args, sql).status();
}

absl::StatusOr<std::string> GaleraCluster::Query(int i, absl::string_view database,
                                                 absl::string_view sql) {
  node(i);
  std::vector<std::string> args = {"-N", "-B", "-e", std::string(sql)};
  if (!database.empty()) args.push_back(absl::StrCat("--database=", database));
  return RunClient(i, args, "");
}

GaleraCluster& SharedGaleraCluster() {
  // Destroyed at exit, unlike SharedMariaDb()'s server: three nodes leave ~300 MB behind.
  static const std::unique_ptr<GaleraCluster> cluster = [] {
    absl::StatusOr<std::unique_ptr<GaleraCluster>> started = GaleraCluster::Start(3);
    if (!started.ok()) {
      std::fprintf(stderr, "cannot start a Galera cluster for the tests: %s\n",
                   started.status().ToString().c_str());
      std::abort();
    }
    return *std::move(started);
  }();
  return *cluster;
}

}  // namespace securelink::testing
