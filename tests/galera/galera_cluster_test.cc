// What tests of the service on a Galera cluster rely on from the cluster harness: three Synced
// nodes that replicate synchronously, cluster-wide auto-increment steps, a node that can crash
// and catch up, certification conflicts surfacing as error 1213 at COMMIT, and no node outliving
// its owner. One cluster serves every test of this binary (it takes seconds to start).
#include "tests/support/galera_cluster.h"

#include <cppconn/exception.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <mysql_driver.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace securelink::testing {
namespace {

constexpr char kDatabase[] = "smoke";
// Eviction of a killed node takes a few seconds (its TCP connections close at once, then
// Galera's suspect timeout); rejoins take a state transfer. Generous for a loaded CI machine.
constexpr absl::Duration kClusterTimeout = absl::Minutes(2);
// MySQL's ER_LOCK_DEADLOCK, which Galera reports for a commit that lost certification.
constexpr int kErLockDeadlock = 1213;

// Starts the shared cluster from the main thread before any test (its nodes die with the thread
// that started them) and says how long that took, for budgeting CI time.
class GaleraEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const absl::Time start = absl::Now();
    GaleraCluster& cluster = SharedGaleraCluster();
    std::printf("Galera cluster of %d nodes started in %s (%s)\n", cluster.size(),
                absl::FormatDuration(absl::Now() - start).c_str(), cluster.dir().c_str());
    absl::Status created = cluster.CreateDatabase(kDatabase);
    ASSERT_TRUE(created.ok()) << created;
  }
};
::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new GaleraEnvironment);

GaleraCluster& Cluster() { return SharedGaleraCluster(); }

// The named wsrep status variable of `node`, or the error.
std::string WsrepStatus(int node, const std::string& name) {
  absl::StatusOr<std::string> row =
      Cluster().Query(node, "", absl::StrCat("SHOW GLOBAL STATUS LIKE '", name, "'"));
  if (!row.ok()) return absl::StrCat("error: ", row.status().ToString());
  std::vector<std::string> fields = absl::StrSplit(absl::StripTrailingAsciiWhitespace(*row), '\t');
  return fields.size() == 2 ? fields[1] : absl::StrCat("unexpected: ", *row);
}

// `sql` on `node` after the node has applied everything the cluster committed before it (a
// causal read: without it, a read on another node may miss a commit made a moment ago).
absl::StatusOr<std::string> CausalQuery(int node, const std::string& sql) {
  return Cluster().Query(node, kDatabase, absl::StrCat("SET SESSION wsrep_sync_wait = 1; ", sql));
}

// A Connector/C++ session to `node` over TCP as root, as the service connects.
std::unique_ptr<sql::Connection> Connect(int node) {
  sql::ConnectOptionsMap options;
  options["hostName"] = sql::SQLString(absl::StrCat("tcp://127.0.0.1:", Cluster().port(node)));
  options["userName"] = sql::SQLString("root");
  options["password"] = sql::SQLString("");
  options["schema"] = sql::SQLString(kDatabase);
  return std::unique_ptr<sql::Connection>(
      sql::mysql::get_mysql_driver_instance()->connect(options));
}

TEST(GaleraClusterTest, EveryNodeIsSyncedInOneClusterOfThree) {
  ASSERT_EQ(Cluster().size(), 3);
  for (int node = 0; node < 3; ++node) {
    SCOPED_TRACE(absl::StrCat("node ", node));
    EXPECT_EQ(WsrepStatus(node, "wsrep_local_state_comment"), "Synced");
    EXPECT_EQ(WsrepStatus(node, "wsrep_cluster_size"), "3");
    EXPECT_EQ(WsrepStatus(node, "wsrep_cluster_status"), "Primary");
    absl::StatusOr<std::string> port = Cluster().Query(node, "", "SELECT @@port");
    ASSERT_TRUE(port.ok()) << port.status();
    EXPECT_EQ(*port, absl::StrCat(Cluster().port(node), "\n"));
  }
  EXPECT_EQ(WsrepStatus(0, "wsrep_cluster_state_uuid"), WsrepStatus(2, "wsrep_cluster_state_uuid"));
}

TEST(GaleraClusterTest, UriAllNamesEveryNodeStartingWithTheChosenOne) {
  const std::string p0 = absl::StrCat(Cluster().port(0));
  const std::string p1 = absl::StrCat(Cluster().port(1));
  const std::string p2 = absl::StrCat(Cluster().port(2));
  EXPECT_EQ(Cluster().Uri(1, "db"), absl::StrCat("mysql://root@127.0.0.1:", p1, "/db"));
  EXPECT_EQ(Cluster().UriAll("db"), absl::StrCat("mysql://root@127.0.0.1:", p0, ",127.0.0.1:", p1,
                                                 ",127.0.0.1:", p2, "/db"));
  EXPECT_EQ(Cluster().UriAll("db", 2), absl::StrCat("mysql://root@127.0.0.1:", p2,
                                                    ",127.0.0.1:", p0, ",127.0.0.1:", p1, "/db"));
}

TEST(GaleraClusterTest, ARowWrittenOnOneNodeIsReadOnAnother) {
  absl::Status written =
      Cluster().Execute(0, kDatabase,
                        "CREATE TABLE replicated (id INT PRIMARY KEY, note VARCHAR(32) NOT NULL);"
                        "INSERT INTO replicated VALUES (1, 'from node 0 🚀');");
  ASSERT_TRUE(written.ok()) << written;

  absl::StatusOr<std::string> rows = CausalQuery(2, "SELECT id, note FROM replicated");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, "1\tfrom node 0 🚀\n");
}

TEST(GaleraClusterTest, AutoIncrementStepsByTheClusterSize) {
  absl::Status written = Cluster().Execute(
      1, kDatabase,
      "CREATE TABLE counted (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL);"
      "INSERT INTO counted (v) VALUES (1), (2);");
  ASSERT_TRUE(written.ok()) << written;
  absl::StatusOr<std::string> ids =
      Cluster().Query(1, kDatabase, "SELECT MAX(id) - MIN(id) FROM counted");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, "3\n");
}

TEST(GaleraClusterTest, SurvivorsServeWritesAndAKilledNodeCatchesUpOnRestart) {
  absl::Status created = Cluster().Execute(
      0, kDatabase, "CREATE TABLE survivors (id INT PRIMARY KEY, written_on INT NOT NULL)");
  ASSERT_TRUE(created.ok()) << created;
  ASSERT_TRUE(CausalQuery(1, "SELECT COUNT(*) FROM survivors").ok());

  absl::Status killed = Cluster().Kill(1);
  ASSERT_TRUE(killed.ok()) << killed;
  EXPECT_FALSE(Cluster().running(1));
  // The survivors drop the dead node and stay a primary component: two of three is a majority.
  absl::Status shrunk = Cluster().WaitSynced(0, kClusterTimeout);
  ASSERT_TRUE(shrunk.ok()) << shrunk;
  EXPECT_EQ(WsrepStatus(0, "wsrep_cluster_size"), "2");

  absl::Status on0 = Cluster().Execute(0, kDatabase, "INSERT INTO survivors VALUES (1, 0)");
  EXPECT_TRUE(on0.ok()) << on0;
  absl::Status on2 = Cluster().Execute(2, kDatabase, "INSERT INTO survivors VALUES (2, 2)");
  EXPECT_TRUE(on2.ok()) << on2;

  absl::Status restarted = Cluster().StartAgain(1);
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(WsrepStatus(1, "wsrep_local_state_comment"), "Synced");
  for (int node = 0; node < 3; ++node) {
    absl::Status synced = Cluster().WaitSynced(node, kClusterTimeout);
    EXPECT_TRUE(synced.ok()) << synced;
    EXPECT_EQ(WsrepStatus(node, "wsrep_cluster_size"), "3") << "node " << node;
  }
  absl::StatusOr<std::string> rows =
      CausalQuery(1, "SELECT id, written_on FROM survivors ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, "1\t0\n2\t2\n");
}

TEST(GaleraClusterTest, OfTwoConflictingTransactionsOnTwoNodesTheSecondFailsAtCommitWith1213) {
  absl::Status created =
      Cluster().Execute(0, kDatabase,
                        "CREATE TABLE contested (id INT PRIMARY KEY, v INT NOT NULL);"
                        "INSERT INTO contested VALUES (1, 0);");
  ASSERT_TRUE(created.ok()) << created;
  ASSERT_EQ(CausalQuery(2, "SELECT v FROM contested").value_or("error"), "0\n");

  int commit_error = 0;
  try {
    std::unique_ptr<sql::Connection> first = Connect(0);
    std::unique_ptr<sql::Connection> second = Connect(2);
    first->setAutoCommit(false);
    second->setAutoCommit(false);
    std::unique_ptr<sql::Statement> first_statement(first->createStatement());
    std::unique_ptr<sql::Statement> second_statement(second->createStatement());
    // Row locks are node-local: both updates of the same row go through at once.
    first_statement->executeUpdate("UPDATE contested SET v = v + 1 WHERE id = 1");
    second_statement->executeUpdate("UPDATE contested SET v = v + 10 WHERE id = 1");
    // COMMIT as a statement, as the service sends it: Connector/C++ 1.1's Connection::commit()
    // ignores the server's answer, and with it this very error (seen here: no exception, the
    // transaction rolled back).
    first_statement->execute("COMMIT");
    try {
      second_statement->execute("COMMIT");
    } catch (const sql::SQLException& e) {
      commit_error = e.getErrorCode();
    }
  } catch (const sql::SQLException& e) {
    FAIL() << "before the second COMMIT: " << e.what() << " (error " << e.getErrorCode() << ")";
  }
  EXPECT_EQ(commit_error, kErLockDeadlock);
  for (int node = 0; node < 3; ++node) {
    EXPECT_EQ(CausalQuery(node, "SELECT v FROM contested").value_or("error"), "1\n")
        << "node " << node;
  }
}

// Starts a one-node cluster in a forked child, SIGKILLs the child (as ctest's timeout would) and
// reports the node's pid. The orphaned mariadbd is re-parented to this process (a child
// subreaper), so it can be reaped here instead of lingering as a zombie.
void StartClusterInAProcessThatGetsKilled(pid_t* node_pid, std::string* dir) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    // Should the test die first, the owner must not linger holding ctest's output pipes.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(report[0]);
    absl::StatusOr<std::unique_ptr<GaleraCluster>> cluster = GaleraCluster::Start(1);
    const std::string text = cluster.ok() ? absl::StrCat((*cluster)->pid(0), " ", (*cluster)->dir())
                                          : absl::StrCat("0 ", cluster.status().ToString());
    ssize_t ignored = write(report[1], text.data(), text.size());
    (void)ignored;
    close(report[1]);
    pause();
    _exit(0);
  }
  close(report[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(report[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(report[0]);
  kill(owner, SIGKILL);
  waitpid(owner, nullptr, 0);
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits(' ', 1));
  ASSERT_EQ(parts.size(), 2u) << text;
  ASSERT_TRUE(absl::SimpleAtoi(parts[0], node_pid)) << text;
  ASSERT_GT(*node_pid, 0) << text;
  *dir = parts[1];
}

// The node drops to the `mysql` user, and the kernel clears PR_SET_PDEATHSIG on a change of
// credentials: the harness sets it after the switch, or a crashed test run would leave nodes
// running.
TEST(GaleraClusterLifetimeTest, NodesDieWithTheProcessThatStartedThem) {
  pid_t node_pid = 0;
  std::string dir;
  StartClusterInAProcessThatGetsKilled(&node_pid, &dir);
  if (HasFatalFailure()) return;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  bool reaped = false;
  while (!reaped && absl::Now() < deadline) {
    const pid_t r = waitpid(node_pid, nullptr, WNOHANG);
    reaped = r == node_pid || (r < 0 && errno == ECHILD);
    if (!reaped) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(reaped) << "mariadbd " << node_pid << " outlived the process that started it";
  if (!reaped) {
    kill(node_pid, SIGKILL);
    waitpid(node_pid, nullptr, 0);
  }
  // The next cluster started on this machine sweeps the abandoned directory.
  absl::StatusOr<std::unique_ptr<GaleraCluster>> next = GaleraCluster::Start(1);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

}  // namespace
}  // namespace securelink::testing
