// SPEC §7: every replica of one database seals links with the same --token_sealing_key_file, and
// a replica whose key differs from the database's refuses to start, saying so. Real
// invitation_server processes on a private MariaDB, plus the check itself on a real pool.
#include "storage/sealing_key_check.h"

#include <grpcpp/grpcpp.h>

#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/e2e_support.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKeyA[] = "0123456789abcdef0123456789abcdef";
constexpr char kKeyB[] = "fedcba9876543210fedcba9876543210";

// What every refusal must say (SPEC §7), and must not: the key, in any encoding a file holds.
::testing::Matcher<std::string> ARefusalNamingTheSetting() {
  return AllOf(HasSubstr("--token_sealing_key_file"),
               HasSubstr("INVITATIONS_TOKEN_SEALING_KEY_FILE"),
               HasSubstr("every replica of one database must use the same key"),
               Not(HasSubstr(absl::Base64Escape(kKeyA))),
               Not(HasSubstr(absl::Base64Escape(kKeyB))),
               Not(HasSubstr(kKeyA)), Not(HasSubstr(kKeyB)),
               Not(HasSubstr(absl::BytesToHexString(kKeyA))),
               Not(HasSubstr(absl::BytesToHexString(kKeyB))));
}

invitations::TokenSealer Sealer(absl::string_view key) {
  return *invitations::TokenSealer::Create(key);
}

std::string KeyFile(absl::string_view key) {
  return e2e::WriteTempFile("sealing.key", absl::Base64Escape(key));
}

std::vector<std::string> KeyEnv(absl::string_view key) {
  return {absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=", KeyFile(key))};
}

std::string FreshDatabase(absl::string_view prefix) {
  static int n = 0;
  const std::string name = absl::StrCat(prefix, "_", getpid(), "_", ++n);
  EXPECT_THAT(SharedMariaDb().CreateDatabase(name), IsOk());
  return name;
}

std::string QueryOne(const std::string& database, const std::string& sql) {
  absl::StatusOr<std::string> out = SharedMariaDb().Query(database, sql);
  return out.ok() ? std::string(absl::StripAsciiWhitespace(*out)) : out.status().ToString();
}

absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> StartReplica(
    const std::string& database, std::vector<std::string> env) {
  e2e::ServerProcess::Options options;
  options.mysql_uri = SharedMariaDb().Uri(database);
  options.env = std::move(env);
  return e2e::ServerProcess::Start(options);
}

// Runs a replica to completion (it is expected to refuse to start): exit code and output. One
// that wrongly starts is killed after the timeout and reports -1.
e2e::ProgramResult RunReplica(const std::string& database, std::vector<std::string> env) {
  env.push_back(absl::StrCat("INVITATIONS_MYSQL_URI=", SharedMariaDb().Uri(database)));
  for (const char* setting :
       {"INVITATIONS_GRPC_ADDRESS=127.0.0.1:0", "INVITATIONS_METRICS_ADDRESS=127.0.0.1:0",
        "INVITATIONS_WEB_ADDRESS=127.0.0.1:0", "INVITATIONS_AUTH=disabled"}) {
    env.push_back(setting);
  }
  env.push_back(absl::StrCat("INVITATIONS_MAIL_DIR=", ::testing::TempDir(), "/sealing-mail"));
  return e2e::RunProgram(INVITATION_SERVER_PATH, {}, env, "", absl::Seconds(30));
}

// An invitation (a live link, sealed by `server`) created through `server`'s gRPC API.
pb::CreateInvitationResponse Invite(const e2e::ServerProcess& server) {
  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("sealed"));
  req.set_role(pb::ROLE_SUPER_ADMIN);
  pb::CreateInvitationResponse resp;
  EXPECT_THAT(stub->CreateInvitation(Context().get(), req, &resp), IsOk());
  return resp;
}

grpc::Status Validate(const e2e::ServerProcess& server, const std::string& registration_url) {
  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
  pb::ValidateInvitationTokenRequest req;
  req.set_token(TokenOf(registration_url));
  pb::ValidateInvitationTokenResponse resp;
  return stub->ValidateInvitationToken(Context().get(), req, &resp);
}

TEST(TokenSealerKeyFingerprint, IdentifiesTheKeyWithoutRevealingIt) {
  const std::string a = Sealer(kKeyA).KeyFingerprint();
  EXPECT_EQ(a, Sealer(kKeyA).KeyFingerprint());
  EXPECT_NE(a, Sealer(kKeyB).KeyFingerprint());
  EXPECT_EQ(a.size(), 64u);
  EXPECT_THAT(a, Not(HasSubstr(absl::BytesToHexString(kKeyA).substr(0, 16))));
}

TEST(SealingKeyProcesses, ASecondReplicaWithAnotherKeyRefusesToStartAndOneWithTheSameKeyStarts) {
  const std::string database = FreshDatabase("seal_two");
  auto first = StartReplica(database, KeyEnv(kKeyA));
  ASSERT_TRUE(first.ok()) << first.status();
  Invite(**first);  // a live link sealed with key A

  const e2e::ProgramResult other_key = RunReplica(database, KeyEnv(kKeyB));
  EXPECT_NE(other_key.exit_code, 0);
  EXPECT_NE(other_key.exit_code, -1) << "it started";
  EXPECT_THAT(other_key.out + other_key.err, ARefusalNamingTheSetting());
  EXPECT_THAT(other_key.out + other_key.err, Not(HasSubstr("\"msg\":\"serving\"")));

  const e2e::ProgramResult no_key = RunReplica(database, {});
  EXPECT_NE(no_key.exit_code, 0);
  EXPECT_NE(no_key.exit_code, -1) << "it started";
  EXPECT_THAT(no_key.out + no_key.err, ARefusalNamingTheSetting());

  auto same_key = StartReplica(database, KeyEnv(kKeyA));
  ASSERT_TRUE(same_key.ok()) << same_key.status();
  EXPECT_EQ((*same_key)->Terminate(), 0);
  EXPECT_EQ((*first)->Terminate(), 0);
}

TEST(SealingKeyProcesses, OnAnEmptyDatabaseAReplicaStartsWithAnyKeyAndTheFirstKeyBecomesItsKey) {
  const std::string keyless_database = FreshDatabase("seal_empty_nokey");
  auto keyless = StartReplica(keyless_database, {});
  ASSERT_TRUE(keyless.ok()) << keyless.status();
  EXPECT_EQ((*keyless)->Terminate(), 0);
  // A per-process key is never recorded: it would lock out every later process.
  EXPECT_EQ(QueryOne(keyless_database, "SELECT COUNT(*) FROM token_sealing_key"), "0");

  const std::string database = FreshDatabase("seal_empty");
  auto b = StartReplica(database, KeyEnv(kKeyB));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->Terminate(), 0);
  // No link exists yet, but the database now has a key: a replica with another one would seal
  // links that B's dispatchers cannot open.
  const e2e::ProgramResult a = RunReplica(database, KeyEnv(kKeyA));
  EXPECT_NE(a.exit_code, 0);
  EXPECT_NE(a.exit_code, -1) << "it started";
  EXPECT_THAT(a.out + a.err, ARefusalNamingTheSetting());
}

// A replica without a key file seals with a key that dies with it: restarted, it could mail none
// of the links it issued, so it refuses instead of letting their mail wait for ever.
TEST(SealingKeyProcesses, AReplicaWithoutAKeyFileCannotRestartOnItsOwnLiveLinks) {
  const std::string database = FreshDatabase("seal_nokey_restart");
  auto keyless = StartReplica(database, {});
  ASSERT_TRUE(keyless.ok()) << keyless.status();
  Invite(**keyless);
  EXPECT_EQ((*keyless)->Terminate(), 0);

  const e2e::ProgramResult restarted = RunReplica(database, {});
  EXPECT_NE(restarted.exit_code, 0);
  EXPECT_NE(restarted.exit_code, -1) << "it started";
  EXPECT_THAT(restarted.out + restarted.err,
              AllOf(ARefusalNamingTheSetting(), HasSubstr("live registration links")));
}

// A database whose links predate the recorded key (or whose record an operator removed) is
// judged by its live links: a key that opens none of them is refused and not recorded.
TEST(SealingKeyProcesses, WithoutARecordedKeyTheLiveLinksDecide) {
  const std::string database = FreshDatabase("seal_unrecorded");
  auto a = StartReplica(database, KeyEnv(kKeyA));
  ASSERT_TRUE(a.ok()) << a.status();
  Invite(**a);
  EXPECT_EQ((*a)->Terminate(), 0);
  ASSERT_THAT(SharedMariaDb().Execute(database, "DELETE FROM token_sealing_key"), IsOk());

  const e2e::ProgramResult b = RunReplica(database, KeyEnv(kKeyB));
  EXPECT_NE(b.exit_code, 0);
  EXPECT_NE(b.exit_code, -1) << "it started";
  EXPECT_THAT(b.out + b.err,
              AllOf(ARefusalNamingTheSetting(), HasSubstr("live registration links")));
  EXPECT_EQ(QueryOne(database, "SELECT COUNT(*) FROM token_sealing_key"), "0");

  ASSERT_THAT((*a)->Restart(), IsOk());
  EXPECT_EQ(QueryOne(database, "SELECT COUNT(*) FROM token_sealing_key"), "1");
}

// README "Rotating the token sealing key": with every replica stopped, forget the recorded key
// and the sealed copies only the old key opens; replicas with the new key then start. Links
// issued before keep working (they are looked up by hash); only their sealed copies are gone.
TEST(SealingKeyProcesses, AnOperatorCanRotateTheKey) {
  const std::string database = FreshDatabase("seal_rotate");
  auto old_replica = StartReplica(database, KeyEnv(kKeyA));
  ASSERT_TRUE(old_replica.ok()) << old_replica.status();
  const pb::CreateInvitationResponse before = Invite(**old_replica);
  EXPECT_EQ((*old_replica)->Terminate(), 0);

  ASSERT_THAT(SharedMariaDb().Execute(
                  database,
                  "START TRANSACTION; DELETE FROM token_sealing_key; "
                  "UPDATE invitations SET sealed_token = NULL WHERE sealed_token IS NOT NULL; "
                  "COMMIT"),
              IsOk());
  auto rotated = StartReplica(database, KeyEnv(kKeyB));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  const pb::CreateInvitationResponse after = Invite(**rotated);
  EXPECT_THAT(Validate(**rotated, after.registration_url()), IsOk());
  EXPECT_THAT(Validate(**rotated, before.registration_url()), IsOk());

  const e2e::ProgramResult old_key = RunReplica(database, KeyEnv(kKeyA));
  EXPECT_NE(old_key.exit_code, 0);
  EXPECT_NE(old_key.exit_code, -1) << "it started";
  EXPECT_THAT(old_key.out + old_key.err, ARefusalNamingTheSetting());
  EXPECT_EQ((*rotated)->Terminate(), 0);
}

// The check itself, on a real pool: replicas with two keys starting at once on an empty
// database: whichever records first, only the replicas with that key may start.
TEST(CheckTokenSealingKey, ConcurrentFirstStartsWithTwoKeysLetOnlyOneKeyIn) {
  auto server = TestServer::Start(SharedMariaDb());
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kReplicas = 6;
  std::vector<absl::StatusOr<invitations::SealingKeyCheck>> results(
      kReplicas, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      auto endpoint = invitations::ParseMysqlUri(SharedMariaDb().Uri((*server)->database()));
      invitations::ConnectionPool pool(*endpoint, {});
      results[i] = invitations::CheckTokenSealingKey(pool, Sealer(i % 2 ? kKeyB : kKeyA),
                                                     absl::Now());
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string recorded =
      QueryOne((*server)->database(), "SELECT fingerprint FROM token_sealing_key");
  const std::string winner = recorded == Sealer(kKeyA).KeyFingerprint() ? kKeyA : kKeyB;
  ASSERT_EQ(recorded, Sealer(winner).KeyFingerprint());
  for (int i = 0; i < kReplicas; ++i) {
    if ((i % 2 ? kKeyB : kKeyA) == winner) {
      EXPECT_THAT(results[i], IsOk()) << i;
    } else {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kFailedPrecondition)) << i;
    }
  }
}

// Links sealed under two keys (say, left over from an unplanned key change): a key that opens
// some of them may start (refusing would stop a deployment whose newest links are fine), and
// the start-up log reports how many it could open.
TEST(CheckTokenSealingKey, AKeyThatOpensSomeLiveLinksIsAcceptedAndCountsThem) {
  auto server = TestServer::Start(SharedMariaDb());
  ASSERT_TRUE(server.ok()) << server.status();
  for (int i = 0; i < 3; ++i) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("mixed"));
    req.set_role(pb::ROLE_SUPER_ADMIN);
    pb::CreateInvitationResponse resp;
    ASSERT_THAT((*server)->stub().CreateInvitation(Context().get(), req, &resp), IsOk());
  }
  // One of the three re-sealed under key A; the other two stay under the test server's own key.
  const std::string resealed = invitations::Base64UrlEncode(
      Sealer(kKeyA).Seal(invitations::NewRegistrationToken()));
  ASSERT_THAT(SharedMariaDb().Execute((*server)->database(),
                                      absl::StrCat("UPDATE invitations SET sealed_token = '",
                                                   resealed, "' ORDER BY seq LIMIT 1")),
              IsOk());

  absl::StatusOr<invitations::SealingKeyCheck> check =
      invitations::CheckTokenSealingKey((*server)->pool(), Sealer(kKeyA), absl::Now());
  ASSERT_THAT(check, IsOk());
  EXPECT_EQ(check->live_links_sampled, 3);
  EXPECT_EQ(check->live_links_opened, 1);
  EXPECT_TRUE(check->recorded_now);
  check = invitations::CheckTokenSealingKey((*server)->pool(), Sealer(kKeyA), absl::Now());
  ASSERT_THAT(check, IsOk());
  EXPECT_TRUE(check->matched_recorded_key);
}

}  // namespace
}  // namespace securelink::testing
