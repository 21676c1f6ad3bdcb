// What other tests rely on from the private MariaDB harness: it runs SQL, keeps committed data
// across a clean stop and a crash, and leaves no process or directory behind.
#include "tests/support/mariadb_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace securelink::testing {
namespace {

// Whether `pid` names a live process (a zombie waiting to be reaped counts as gone).
bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return errno != ESRCH;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string pid_field, comm, state;
  stat >> pid_field >> comm >> state;
  return state != "Z";
}

// Polls for up to `timeout`; returns whether `pid` went away.
bool WaitForExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (ProcessAlive(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

class MariaDbServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MariaDbServer>> server = MariaDbServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->CreateDatabase("app").ok());
    absl::Status created = server_->Execute(
        "app",
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL) ENGINE=InnoDB;"
        "INSERT INTO people VALUES (1, 'alice'), (2, 'bob');");
    ASSERT_TRUE(created.ok()) << created;
  }

  // The rows of `people`, as Query returns them.
  std::string People() {
    absl::StatusOr<std::string> rows =
        server_->Query("app", "SELECT id, name FROM people ORDER BY id");
    return rows.ok() ? *rows : absl::StrCat("error: ", rows.status().ToString());
  }

  std::unique_ptr<MariaDbServer> server_;
};

TEST_F(MariaDbServerTest, QueryReturnsTabSeparatedRowsWithoutHeader) {
  EXPECT_EQ(People(), "1\talice\n2\tbob\n");
}

TEST_F(MariaDbServerTest, ListensOnItsOwnPortAndSocket) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->Uri("app"), absl::StrCat("mysql://root@127.0.0.1:", server_->port(), "/app"));
  struct stat st;
  ASSERT_EQ(stat(server_->socket_path().c_str(), &st), 0) << server_->socket_path();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  absl::StatusOr<std::string> port = server_->Query("", "SELECT @@port");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, absl::StrCat(server_->port(), "\n"));
}

TEST_F(MariaDbServerTest, DatabasesAreUtf8mb4) {
  absl::Status inserted = server_->Execute("app", "INSERT INTO people VALUES (3, 'zoë 🚀')");
  ASSERT_TRUE(inserted.ok()) << inserted;
  absl::StatusOr<std::string> name = server_->Query("app", "SELECT name FROM people WHERE id = 3");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "zoë 🚀\n");
}

TEST_F(MariaDbServerTest, ExecuteReportsTheSqlError) {
  absl::Status status = server_->Execute("app", "SELEC nonsense");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(status.message(), "ERROR 1064")) << status;
}

TEST_F(MariaDbServerTest, QueryFailsAsUnavailableWhileStoppedAndDataSurvivesStartAgain) {
  const int port = server_->port();
  absl::Status stopped = server_->Stop();
  ASSERT_TRUE(stopped.ok()) << stopped;
  EXPECT_FALSE(server_->running());

  EXPECT_EQ(server_->Query("app", "SELECT 1").status().code(), absl::StatusCode::kUnavailable);

  absl::Status restarted = server_->StartAgain();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_TRUE(server_->running());
  EXPECT_EQ(server_->port(), port);
  EXPECT_EQ(People(), "1\talice\n2\tbob\n");
}

TEST_F(MariaDbServerTest, CommittedDataSurvivesKill) {
  absl::Status killed = server_->Kill();
  ASSERT_TRUE(killed.ok()) << killed;
  EXPECT_FALSE(server_->running());

  absl::Status restarted = server_->StartAgain();
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(People(), "1\talice\n2\tbob\n");
}

// Start() relies on the same detection to retry on a new port.
TEST_F(MariaDbServerTest, StartAgainReportsAPortTakenWhileTheServerWasDown) {
  ASSERT_TRUE(server_->Stop().ok());
  const int squatter = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(squatter, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  ASSERT_EQ(bind(squatter, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
  ASSERT_EQ(listen(squatter, 1), 0);

  absl::Status status = server_->StartAgain();
  close(squatter);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(status.message(), "was taken by another process")) << status;
  EXPECT_FALSE(server_->running());
}

TEST_F(MariaDbServerTest, StartAgainWhileRunningIsRefused) {
  EXPECT_EQ(server_->StartAgain().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(server_->running());
}

TEST_F(MariaDbServerTest, DumpHoldsSchemaAndRowsAndIsRepeatable) {
  absl::StatusOr<std::string> dump = server_->Dump("app");
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_TRUE(absl::StrContains(*dump, "CREATE TABLE `people`")) << *dump;
  // 10.11 writes one row per line.
  EXPECT_TRUE(absl::StrContains(*dump, "(1,'alice'),\n(2,'bob');")) << *dump;
  absl::StatusOr<std::string> again = server_->Dump("app");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*dump, *again);
}

TEST_F(MariaDbServerTest, DestructorStopsTheServerAndRemovesItsDirectory) {
  const pid_t pid = server_->pid();
  const std::string dir = server_->dir();
  ASSERT_GT(pid, 0);
  server_.reset();
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(MariaDbServerLifetimeTest, TwoServersRunSideBySideWithSeparateData) {
  absl::StatusOr<std::unique_ptr<MariaDbServer>> a = MariaDbServer::Start();
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<MariaDbServer>> b = MariaDbServer::Start();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->port(), (*b)->port());
  EXPECT_NE((*a)->dir(), (*b)->dir());

  ASSERT_TRUE((*a)->CreateDatabase("only_in_a").ok());
  absl::StatusOr<std::string> in_b = (*b)->Query("", "SHOW DATABASES LIKE 'only\\_in\\_a'");
  ASSERT_TRUE(in_b.ok()) << in_b.status();
  EXPECT_EQ(*in_b, "");
}

// Starts a server in a forked child, SIGKILLs the child (as ctest's timeout would) and reports
// the server's pid and directory. The orphaned mariadbd is re-parented to this process (a child
// subreaper), so it is reaped here instead of lingering as a zombie under whatever PID 1 is.
void StartServerInAProcessThatGetsKilled(pid_t* server_pid, std::string* dir) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    // Should the test die first, the owner must not linger holding ctest's output pipes.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(report[0]);
    absl::StatusOr<std::unique_ptr<MariaDbServer>> server = MariaDbServer::Start();
    const std::string text = server.ok() ? absl::StrCat((*server)->pid(), " ", (*server)->dir())
                                         : absl::StrCat("0 ", server.status().ToString());
    ssize_t ignored = write(report[1], text.data(), text.size());
    (void)ignored;
    close(report[1]);
    if (!server.ok()) _exit(1);
    // Wait to be killed: the destructor must not get the chance to clean up.
    while (true) pause();
  }
  close(report[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(report[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  close(report[0]);
  kill(owner, SIGKILL);
  waitpid(owner, nullptr, 0);

  char dir_buf[4096] = {0};
  ASSERT_EQ(std::sscanf(text.c_str(), "%d %4095[^\n]", server_pid, dir_buf), 2) << text;
  ASSERT_GT(*server_pid, 0) << text;
  *dir = dir_buf;
}

// A test process killed by ctest's timeout must not leave a mariadbd behind.
TEST(MariaDbServerLifetimeTest, ServerDiesWithTheProcessThatStartedIt) {
  pid_t server_pid = 0;
  std::string dir;
  ASSERT_NO_FATAL_FAILURE(StartServerInAProcessThatGetsKilled(&server_pid, &dir));

  EXPECT_TRUE(WaitForExit(server_pid, absl::Seconds(10)));
  waitpid(server_pid, nullptr, 0);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

// ... nor, once the next server starts, its ~130 MB directory.
TEST(MariaDbServerLifetimeTest, NextStartRemovesTheDirectoryOfAKilledOwner) {
  pid_t server_pid = 0;
  std::string dir;
  ASSERT_NO_FATAL_FAILURE(StartServerInAProcessThatGetsKilled(&server_pid, &dir));
  ASSERT_TRUE(WaitForExit(server_pid, absl::Seconds(10)));
  waitpid(server_pid, nullptr, 0);
  ASSERT_TRUE(std::filesystem::exists(dir));

  absl::StatusOr<std::unique_ptr<MariaDbServer>> next = MariaDbServer::Start();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(std::filesystem::exists((*next)->dir()));
}

TEST(MariaDbPickFreePortTest, ReturnsAPortThatCanBeBound) {
  const int port = PickFreePort();
  ASSERT_GT(port, 0);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
  close(fd);
}

}  // namespace
}  // namespace securelink::testing
