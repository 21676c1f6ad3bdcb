// A private, throw-away MariaDB Galera cluster for tests (SPEC §8): N mariadbd nodes on loopback,
// replicating synchronously through Debian's galera-4, in one temporary directory.
#ifndef SECURELINK_TESTS_SUPPORT_GALERA_CLUSTER_H_
#define SECURELINK_TESTS_SUPPORT_GALERA_CLUSTER_H_

#include <sys/types.h>

#include <ios>
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

// Owns the mariadbd processes of a Galera cluster and the temporary directory holding each node's
// configuration (deploy/galera.cnf.in, shared with deploy/galera.sh), data, socket and error log.
// Nodes are numbered 0..size()-1; node i listens on 127.0.0.1:port(i) and on socket_path(i), and
// root has no password (over TCP too, as install-db's root@127.0.0.1). What one node commits,
// every node has; a read on another node sees it only if its session waits for the cluster first
// (SET SESSION wsrep_sync_wait=1).
//
// Run as root, the nodes run as the `mysql` user: a root node's rsync state transfer (SST) drops
// to `nobody` and fails. So the directory lives under a parent every user can traverse ($TMPDIR
// if its ancestors are all o+x, else /tmp).
//
// Lifetime: each mariadbd runs in its own session and process group, with
// PR_SET_PDEATHSIG(SIGKILL) set after it has become `mysql` (the kernel clears that setting on a
// change of credentials, so mariadbd must not switch users itself), so it dies with the test
// process. The signal follows the *thread* that forked it: call Start() and StartAgain() from a
// thread that outlives the cluster, such as the main test thread.
//
// Thread safety: every method may be called from any thread. CreateDatabase, Execute and Query
// run their own client processes and may run concurrently. The node processes' bookkeeping is
// under an internal mutex, which StartAgain and WaitSynced do not hold while they wait: a node can
// be killed while it starts, and a second StartAgain of a node already starting is refused.
class GaleraCluster {
 public:
  // Creates a fresh directory, initialises node 0 (mariadb-install-db), bootstraps a new cluster
  // from it and lets the other nodes join (each copies node 0's data by rsync SST), returning once
  // every node is Synced in one primary component of `nodes`. Takes ~10 s for three nodes on an
  // idle machine. If a port is taken between picking and binding, retries once on new ports.
  //
  // Also removes directories left by earlier owners that died without running the destructor.
  //
  // Errors: INVALID_ARGUMENT for nodes outside 1..9; NOT_FOUND if mariadbd, the MariaDB clients,
  // the Galera provider, rsync or (as root) the `mysql` user are missing; DEADLINE_EXCEEDED if a
  // node is not Synced within ~2 min; INTERNAL for any other failure, with the tail of the
  // node's error log.
  static absl::StatusOr<std::unique_ptr<GaleraCluster>> Start(int nodes = 3);

  GaleraCluster(const GaleraCluster&) = delete;
  GaleraCluster& operator=(const GaleraCluster&) = delete;

  // Kills every node (SIGKILL: the data is thrown away, so a graceful shutdown would only cost
  // time) and removes the directory.
  ~GaleraCluster();

  int size() const { return static_cast<int>(nodes_.size()); }

  // The directory holding node<i>/ for every node.
  const std::string& dir() const { return dir_; }

  // Node i's TCP port on 127.0.0.1; stays the same across StartAgain(i). Aborts for a node
  // outside 0..size()-1, as every method taking a node does.
  int port(int node) const;

  // Absolute path of node i's unix socket.
  std::string socket_path(int node) const;

  // "mysql://root@127.0.0.1:<port(node)>/<database>".
  std::string Uri(int node, absl::string_view database) const;

  // "mysql://root@127.0.0.1:<port>,127.0.0.1:<port>,.../<database>" naming every node, starting
  // with `first_node` and going round in order: the multi-host URI of SPEC §8 for a replica that
  // prefers `first_node`.
  std::string UriAll(absl::string_view database, int first_node = 0) const;

  // CREATE DATABASE IF NOT EXISTS `name` (utf8mb4) on node 0; DDL replicates to every node.
  absl::Status CreateDatabase(absl::string_view name);

  // Runs `sql` (one or more ;-separated statements) on node i through the `mariadb` client, with
  // `database` as the default schema unless it is empty. Stops at the first failing statement.
  //
  // Errors: UNAVAILABLE if the node cannot be reached; INTERNAL for an SQL error, with the
  // client's message (e.g. "ERROR 1213 (40001) at line 1: Deadlock found ...").
  absl::Status Execute(int node, absl::string_view database, absl::string_view sql);

  // Runs `sql` on node i with `mariadb -N -B -e` and returns its stdout: one line per row,
  // columns separated by tabs, no header, NULL as "NULL". Errors as for Execute.
  absl::StatusOr<std::string> Query(int node, absl::string_view database, absl::string_view sql);

  // Shuts node i down gracefully (SIGTERM: it leaves the cluster, which shrinks) and waits for the
  // process to exit. OK if it was not running. DEADLINE_EXCEEDED if it still runs after ~1 min.
  absl::Status Stop(int node);

  // Kills node i with SIGKILL, as a crash would (its whole process group, so a state transfer's
  // helpers go too), and waits for it to exit. OK if it was not running. The other nodes notice
  // within seconds and go on as a smaller primary component while they are a majority.
  absl::Status Kill(int node);

  // Starts node i again on its directory and ports. With another node running it rejoins that
  // cluster (IST, or SST if it missed too much or crashed); with none running it bootstraps a new
  // cluster from its own data, which the caller has chosen as the most recent. Returns once it is
  // Synced in a primary component of every running node.
  //
  // Errors: FAILED_PRECONDITION if node i is running or starting; INTERNAL if one of its ports
  // was taken while it was down; otherwise as for Start().
  absl::Status StartAgain(int node);

  // Waits until node i is Synced in a primary component made of exactly the nodes this object
  // runs (so right after Kill(j), until the others have dropped j). DEADLINE_EXCEEDED with the
  // node's last state after `timeout`; UNAVAILABLE if the node is not running or dies.
  absl::Status WaitSynced(int node, absl::Duration timeout);

  // Whether node i's mariadbd is alive (reaps it if it has exited on its own).
  bool running(int node) const;

  // Node i's mariadbd process id, or -1 when not running.
  pid_t pid(int node) const;

 private:
  // The account the nodes run as: uid -1 for "as the test process".
  struct RunAs {
    std::string user;
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
  };
  struct Binaries {
    std::string mariadbd;
    std::string install_db;
    std::string client;
  };
  struct Node {
    std::string dir;
    int port = -1;
    int gcomm_port = -1;  // Galera group communication
    int ist_port = -1;    // incremental state transfer (receiving)
    int sst_port = -1;    // rsync state transfer (receiving)
  };

  GaleraCluster(Binaries bin, RunAs run_as, std::string dir)
      : bin_(std::move(bin)), run_as_(std::move(run_as)), dir_(std::move(dir)) {}

  // One attempt of Start() on fresh ports; sets *port_in_use when a node's log says a port was
  // taken.
  static absl::StatusOr<std::unique_ptr<GaleraCluster>> StartOnce(int nodes, bool* port_in_use);

  const Node& node(int i) const;
  std::string ConfigPath(int i) const;
  std::string ErrorLogPath(int i) const;

  // Makes node i's directories and my.cnf, owned by run_as_.
  absl::Status PrepareNode(int i) const;

  // Forks node i's mariadbd (as run_as_, in its own session); `bootstrap` adds
  // --wsrep-new-cluster. FAILED_PRECONDITION if node i is running.
  absl::Status Launch(int i, bool bootstrap) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until node i is Synced in a primary component of `cluster_size` nodes (0: of as many
  // nodes as this object runs). On failure the status carries the tail of the node's log from
  // byte `log_start` and, via *port_in_use, whether it says a port was taken.
  absl::Status AwaitSynced(int i, int cluster_size, absl::Duration timeout,
                           std::streamoff log_start, bool* port_in_use);

  // "Synced"/"Primary"/size of node i, or UNAVAILABLE if its client cannot connect.
  struct WsrepState {
    std::string local_state;
    std::string cluster_status;
    int cluster_size = 0;
  };
  absl::StatusOr<WsrepState> ReadWsrepState(int i) const;

  // Sends `signal` (to the process group when `group`) and waits up to `timeout` for node i's
  // process to exit. Returns whether it exited.
  bool SignalAndWait(int i, int signal, bool group, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Reaps node i's child if it has exited; returns whether it is still alive.
  bool ReapIfExited(int i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int RunningCount() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<std::string> RunClient(int i, const std::vector<std::string>& args,
                                        absl::string_view stdin_data) const;

  const Binaries bin_;
  const RunAs run_as_;
  const std::string dir_;
  std::vector<Node> nodes_;  // Only set by StartOnce(), before the object is shared.

  // flock'ed for the object's life so that other processes never sweep a live directory.
  int owner_lock_fd_ = -1;

  mutable absl::Mutex mu_;
  // Per node: the mariadbd child or -1 (mutable because running() reaps an exited child), how
  // the last one exited (for error messages), and whether a Launch is waiting for it.
  mutable std::vector<pid_t> pids_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<int> exit_statuses_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> starting_ ABSL_GUARDED_BY(mu_);
};

// The cluster of three shared by every test of this binary; started on first use (call it first
// from the main test thread, e.g. in a gtest Environment: the nodes die with the thread that
// started them), stopped and removed at exit. Aborts if it cannot start. Tests that stop or kill
// a node start it again before they end.
GaleraCluster& SharedGaleraCluster();

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_GALERA_CLUSTER_H_
