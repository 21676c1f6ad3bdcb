// The real invitation_server binary: configured through its environment twins, serving with
// reflection and health, exiting 0 on SIGTERM, refusing bad settings by name.
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

extern char** environ;

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;

struct Process {
  pid_t pid = -1;
  std::string log_path;
};

// Starts the server with `env` added to this process's environment; output goes to a file.
Process Spawn(const std::vector<std::string>& env, const std::vector<std::string>& args = {}) {
  Process p;
  p.log_path = absl::StrCat(::testing::TempDir(), "/server-", getpid(), "-", absl::ToUnixMicros(absl::Now()), ".log");
  // getenv() takes the first of duplicate names: the test's settings, then the environment, then
  // defaults for what these tests do not exercise (auth has its own tests).
  std::vector<std::string> env_strings = env;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("INVITATIONS_AUTH=disabled");
  env_strings.push_back(absl::StrCat("INVITATIONS_MAIL_DIR=", ::testing::TempDir(), "/mail-", getpid()));
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = {INVITATION_SERVER_PATH};
  for (const std::string& a : args) argv_strings.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, p.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  int rc = posix_spawn(&p.pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0);
  return p;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Exit status, waiting at most `timeout`; -1 on timeout (the process is then killed).
int WaitExit(pid_t pid, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    absl::SleepFor(absl::Milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

TEST(ServerProcess, ServesFromItsEnvironmentAndExitsCleanlyOnSigterm) {
  MariaDbServer& db = SharedMariaDb();
  const std::string database = absl::StrCat("proc_", getpid());
  ASSERT_TRUE(db.CreateDatabase(database).ok());
  const int port = PickFreePort();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  Process server = Spawn({absl::StrCat("INVITATIONS_GRPC_ADDRESS=", address),
                          absl::StrCat("INVITATIONS_MYSQL_URI=", db.Uri(database)),
                          "INVITATIONS_REGISTRATION_BASE_URL=https://links.example.test/r"});
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30))))
      << ReadFile(server.log_path);

  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest check;
  check.set_service("securelink.invitations.v1.InvitationService");
  grpc::health::v1::HealthCheckResponse status;
  ASSERT_THAT(health->Check(Context().get(), check, &status), IsOk());
  EXPECT_EQ(status.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // What `grpcurl -plaintext ADDRESS list` asks.
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  auto ctx = Context();
  auto stream = reflection->ServerReflectionInfo(ctx.get());
  grpc::reflection::v1alpha::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Read(&listed));
  std::vector<std::string> names;
  for (const auto& s : listed.list_services_response().service()) names.push_back(s.name());
  EXPECT_THAT(names, ::testing::Contains("securelink.invitations.v1.InvitationService"));
  while (stream->Read(&listed)) {
  }
  stream->Finish();

  auto stub = pb::InvitationService::NewStub(channel);
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("proc"));
  req.set_role(pb::ROLE_SUPER_ADMIN);
  pb::CreateInvitationResponse created;
  ASSERT_THAT(stub->CreateInvitation(Context().get(), req, &created), IsOk());
  EXPECT_EQ(created.registration_url().rfind("https://links.example.test/r?token=", 0), 0u);

  kill(server.pid, SIGTERM);
  EXPECT_EQ(WaitExit(server.pid, absl::Seconds(30)), 0);
  const std::string log = ReadFile(server.log_path);
  // Logs are JSON lines and never carry the token.
  const std::string token = created.registration_url().substr(created.registration_url().find('=') + 1);
  EXPECT_EQ(log.find(token), std::string::npos);
  EXPECT_THAT(log, ::testing::HasSubstr("\"msg\":\"serving\""));
  EXPECT_THAT(log, ::testing::HasSubstr("\"msg\":\"stopped\""));
}

TEST(ServerProcess, CommandLineWinsOverTheEnvironment) {
  const int env_port = PickFreePort();
  const int flag_port = PickFreePort();
  MariaDbServer& db = SharedMariaDb();
  const std::string database = absl::StrCat("proc2_", getpid());
  ASSERT_TRUE(db.CreateDatabase(database).ok());
  Process server = Spawn({absl::StrCat("INVITATIONS_GRPC_ADDRESS=127.0.0.1:", env_port),
                          absl::StrCat("INVITATIONS_MYSQL_URI=", db.Uri(database))},
                         {absl::StrCat("--grpc_address=127.0.0.1:", flag_port)});
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", flag_port),
                                     grpc::InsecureChannelCredentials());
  EXPECT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30))))
      << ReadFile(server.log_path);
  kill(server.pid, SIGTERM);
  EXPECT_EQ(WaitExit(server.pid, absl::Seconds(30)), 0);
}

TEST(ServerProcess, BadSettingsAreRefusedByName) {
  struct Case {
    std::vector<std::string> env;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"INVITATIONS_TTL_MIN=5h", "INVITATIONS_TTL_MAX=2h"}, "invitation_ttl_min"},
      {{"INVITATIONS_TTL=soon"}, "INVITATIONS_TTL"},
      {{"INVITATIONS_MYSQL_URI=postgres://x@y/z"}, "mysql_uri"},
      {{"INVITATIONS_REGISTRATION_BASE_URL=ftp://x"}, "registration_base_url"},
      {{"INVITATIONS_AUTH=jwt"}, "jwt_public_key_file"},
      {{"INVITATIONS_AUTH=maybe"}, "auth"},
      {{"INVITATIONS_MYSQL_URI=mysql://u@h/d?ssl-mode=strict"}, "ssl-mode 'strict'"},
      {{"INVITATIONS_MYSQL_URI=mysql://u@h/d?ssl-mode=VERIFY_IDENTITY"}, "needs ssl-ca"},
      // The client library cannot enforce VERIFY_CA (storage/connection_pool.h).
      {{"INVITATIONS_MYSQL_URI=mysql://u@h/d?ssl-mode=VERIFY_CA&ssl-ca=/ca.pem"},
       "ssl-mode=VERIFY_CA cannot be enforced"},
      {{"INVITATIONS_MYSQL_URI=mysql://u@h/d?ssl-mode=VERIFY_IDENTITY&ssl-ca=/nonexistent/ca.pem"},
       "ssl-ca /nonexistent/ca.pem cannot be read"},
      {{"INVITATIONS_MYSQL_PASSWORD_FILE=/nonexistent/password"}, "mysql_password_file"},
      {{"INVITATIONS_CREATE_BATCH_MAX=0"}, "create_batch_max"},
      {{"INVITATIONS_CREATE_BATCHES_IN_FLIGHT=0"}, "create_batches_in_flight"},
  };
  for (const Case& c : cases) {
    Process server = Spawn(c.env);
    EXPECT_NE(WaitExit(server.pid, absl::Seconds(30)), 0) << c.named;
    EXPECT_THAT(ReadFile(server.log_path), ::testing::HasSubstr(c.named));
  }
}

// A variable may hold something secret by mistake (a password in the wrong variable): the
// refusal names the variable and the expected form, never the value.
TEST(ServerProcess, AnEnvironmentValueThatDoesNotParseIsRefusedWithoutEchoingIt) {
  Process server = Spawn({"INVITATIONS_GRPC_MAX_CONNECTION_AGE=N0tADurati0nPw"});
  EXPECT_EQ(WaitExit(server.pid, absl::Seconds(30)), 2);
  const std::string log = ReadFile(server.log_path);
  EXPECT_THAT(log, ::testing::HasSubstr("INVITATIONS_GRPC_MAX_CONNECTION_AGE"));
  EXPECT_THAT(log, ::testing::HasSubstr("like its default 30m"));
  EXPECT_EQ(log.find("N0tADurati0nPw"), std::string::npos) << log;
}

TEST(ServerProcess, HelpListsEverySettingWithItsDefault) {
  Process server = Spawn({}, {"--help"});
  WaitExit(server.pid, absl::Seconds(30));
  const std::string help = ReadFile(server.log_path);
  for (const char* flag : {"--grpc_address", "--mysql_uri", "--mysql_password_file",
                           "--invitation_ttl", "--smtp_url",
                           "--keycloak_url", "--auth", "--jwt_issuer", "--bulk_max_addresses",
                           "--token_rate_per_second", "--watch_streams_per_caller",
                           "--jwks_max_stale", "--web_trusted_proxies",
                           "--web_request_read_timeout", "--accept_saga_lease", "--migrate",
                           "--migrate_only", "--create_batch_max"}) {
    EXPECT_THAT(help, ::testing::HasSubstr(flag)) << flag;
  }
  EXPECT_THAT(help, ::testing::HasSubstr("default: \"127.0.0.1:50051\""));
}

TEST(ServerProcess, ThePasswordInTheDatabaseUriIsNeverLogged) {
  const int dead_port = PickFreePort();
  Process server =
      Spawn({absl::StrCat("INVITATIONS_MYSQL_URI=mysql://app:Sup3rSecretPw@127.0.0.1:", dead_port, "/x"),
             "INVITATIONS_DB_STARTUP_TIMEOUT=1s", "INVITATIONS_DB_CONNECT_TIMEOUT=1s",
             absl::StrCat("INVITATIONS_GRPC_ADDRESS=127.0.0.1:", PickFreePort())});
  EXPECT_EQ(WaitExit(server.pid, absl::Seconds(30)), 1);
  const std::string log = ReadFile(server.log_path);
  EXPECT_THAT(log, ::testing::HasSubstr("cannot migrate the database"));
  EXPECT_EQ(log.find("Sup3rSecretPw"), std::string::npos);
}

TEST(ServerProcess, ThePasswordFromThePasswordFileIsNeverLogged) {
  const std::string password_file =
      absl::StrCat(::testing::TempDir(), "/mysql-password-", getpid());
  std::ofstream(password_file) << "F1leSecretPw\n";
  const int dead_port = PickFreePort();
  // With an ssl-mode, whose endpoint description (logged) names the mode but no password.
  Process server = Spawn(
      {absl::StrCat("INVITATIONS_MYSQL_URI=mysql://app:UriSecretPw@127.0.0.1:", dead_port,
                    "/x?ssl-mode=REQUIRED"),
       absl::StrCat("INVITATIONS_MYSQL_PASSWORD_FILE=", password_file),
       "INVITATIONS_DB_STARTUP_TIMEOUT=1s", "INVITATIONS_DB_CONNECT_TIMEOUT=1s",
       absl::StrCat("INVITATIONS_GRPC_ADDRESS=127.0.0.1:", PickFreePort())});
  EXPECT_EQ(WaitExit(server.pid, absl::Seconds(30)), 1);
  const std::string log = ReadFile(server.log_path);
  EXPECT_THAT(log, ::testing::HasSubstr("cannot migrate the database"));
  EXPECT_EQ(log.find("F1leSecretPw"), std::string::npos);
  EXPECT_EQ(log.find("UriSecretPw"), std::string::npos);
}

}  // namespace
}  // namespace securelink::testing
