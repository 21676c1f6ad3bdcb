// Faults not covered elsewhere, against real server processes and a real MariaDB:
// a server SIGKILLed in the middle of a bulk and in the middle of concurrent Creates, three
// replicas racing on the same addresses, a database that stalls on a row lock, and MariaDB
// SIGKILLed under load.
// Already covered elsewhere: SMTP down (email_outbox_test SmtpOutageDelaysMailButLosesNone),
// Keycloak down (accept_test KeycloakDownIsUnavailable...), a graceful MariaDB restart
// (resilience_test), a lost Create response retried (client_restart_test).
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/connection_pool.h"
#include "storage/mysql_uri.h"
#include "tests/client/e2e_support.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/row_lock.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;

// A single number from `sql` on `database`, or -1.
int64_t Count(MariaDbServer& db, const std::string& database, const std::string& sql) {
  absl::StatusOr<std::string> out = db.Query(database, sql);
  int64_t n = -1;
  if (!out.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &n)) return -1;
  return n;
}

std::unique_ptr<pb::InvitationService::Stub> StubFor(const e2e::ServerProcess& server) {
  return pb::InvitationService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
}

// A fresh database on the shared MariaDB and the options of a server process using it.
e2e::ServerProcess::Options ProcessOn(const std::string& database,
                                      std::vector<std::string> env = {}) {
  EXPECT_TRUE(SharedMariaDb().CreateDatabase(database).ok());
  e2e::ServerProcess::Options options;
  options.mysql_uri = SharedMariaDb().Uri(database);
  // One sealing key for every replica and restart, as a deployment has.
  env.push_back(absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                             e2e::WriteTempFile("sealing.key",
                                                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")));
  env.push_back("INVITATIONS_AUTH=disabled");
  options.env = std::move(env);
  return options;
}

// The server dies (SIGKILL) after some chunks of a 10,000-address bulk committed; the caller runs
// the same bulk again: every address ends up with exactly one invitation and one queued email,
// and the second run reports the first run's addresses as skipped, not created twice.
TEST(Faults, BulkRerunAfterTheServerWasKilledMidwayInvitesEveryAddressOnce) {
  const std::string database = absl::StrCat("faults_bulk_", getpid());
  const std::string mail_dir = absl::StrCat(::testing::TempDir(), "/faults-mail-", getpid());
  auto server = e2e::ServerProcess::Start(
      ProcessOn(database, {absl::StrCat("INVITATIONS_MAIL_DIR=", mail_dir)}));
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kAddresses = 10000;
  pb::BulkInviteRequest request;
  std::string text;
  for (int i = 0; i < kAddresses; ++i) absl::StrAppend(&text, "crash.", i, "@example.com\n");
  request.set_text(text);
  request.set_role(pb::ROLE_VPN_USER);
  request.set_tenant_id("crash");
  const std::string invitations_sql = "SELECT COUNT(*) FROM invitations WHERE tenant_id = 'crash'";

  {
    auto stub = StubFor(**server);
    auto context = Context(absl::Minutes(5));
    std::thread caller([&] {
      auto reader = stub->BulkInvite(context.get(), request);
      pb::BulkInviteResponse response;
      while (reader->Read(&response)) {
      }
      EXPECT_FALSE(reader->Finish().ok());  // the server died under it
    });
    ASSERT_TRUE(WaitFor([&] { return Count(SharedMariaDb(), database, invitations_sql) > 0; }));
    (*server)->Kill();
    caller.join();
  }
  const int64_t before_rerun = Count(SharedMariaDb(), database, invitations_sql);
  ASSERT_GT(before_rerun, 0);
  ASSERT_LT(before_rerun, kAddresses) << "the bulk finished before the kill; nothing was tested";

  ASSERT_TRUE((*server)->Restart().ok()) << (*server)->Log();
  auto stub = StubFor(**server);
  auto context = Context(absl::Minutes(5));
  auto reader = stub->BulkInvite(context.get(), request);
  pb::BulkInviteResponse response;
  pb::BulkInviteSummary summary;
  while (reader->Read(&response)) {
    if (response.has_summary()) summary = response.summary();
  }
  ASSERT_THAT(reader->Finish(), IsOk());
  EXPECT_EQ(summary.total(), kAddresses);
  EXPECT_EQ(summary.created(), kAddresses - before_rerun);
  EXPECT_EQ(summary.skipped(), before_rerun);
  EXPECT_EQ(summary.failed(), 0);

  EXPECT_EQ(Count(SharedMariaDb(), database, invitations_sql), kAddresses);
  EXPECT_EQ(Count(SharedMariaDb(), database,
                  "SELECT COUNT(DISTINCT email) FROM invitations WHERE tenant_id = 'crash' "
                  "AND state = 'PENDING'"),
            kAddresses);
  EXPECT_EQ(Count(SharedMariaDb(), database,
                  "SELECT COUNT(*) FROM email_outbox o JOIN invitations i "
                  "ON o.invitation_id = i.id WHERE i.tenant_id = 'crash'"),
            kAddresses);
  EXPECT_EQ((*server)->Terminate(), 0);
}

// The server dies (SIGKILL) while sixteen callers create invitations, so group-commit batches
// are in flight: every Create it acknowledged is in the database, and no invitation was written
// without its CREATED event and its queued email (each batch is one transaction).
TEST(Faults, KilledWithCreatesInFlightKeepsEveryAcknowledgedInvitationWhole) {
  const std::string database = absl::StrCat("faults_creates_", getpid());
  const std::string mail_dir = absl::StrCat(::testing::TempDir(), "/faults-creates-", getpid());
  auto server = e2e::ServerProcess::Start(
      ProcessOn(database, {absl::StrCat("INVITATIONS_MAIL_DIR=", mail_dir)}));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = StubFor(**server);
  constexpr int kCallers = 16;
  absl::Mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; !stop.load(); ++i) {
        pb::CreateInvitationRequest request;
        request.set_email(absl::StrCat("inflight.", c, ".", i, "@example.com"));
        request.set_role(pb::ROLE_VPN_USER);
        request.set_tenant_id("inflight");
        pb::CreateInvitationResponse response;
        grpc::Status s = stub->CreateInvitation(Context().get(), request, &response);
        if (!s.ok()) return;  // the server is gone
        absl::MutexLock lock(&mu);
        acknowledged.push_back(response.invitation().id());
      }
    });
  }
  const bool busy = WaitFor([&] {
    return Count(SharedMariaDb(), database, "SELECT COUNT(*) FROM invitations") >= 300;
  });
  (*server)->Kill();
  stop = true;
  for (std::thread& t : callers) t.join();
  ASSERT_TRUE(busy) << "the callers never got going";

  ASSERT_FALSE(acknowledged.empty());
  std::string ids;
  for (const std::string& id : acknowledged) {
    absl::StrAppend(&ids, ids.empty() ? "'" : ",'", id, "'");
  }
  EXPECT_EQ(Count(SharedMariaDb(), database,
                  absl::StrCat("SELECT COUNT(*) FROM invitations WHERE id IN (", ids, ")")),
            static_cast<int64_t>(acknowledged.size()));
  EXPECT_EQ(Count(SharedMariaDb(), database,
                  "SELECT COUNT(*) FROM invitations i WHERE NOT EXISTS (SELECT 1 FROM "
                  "invitation_events e WHERE e.invitation_id = i.id AND e.type = 'CREATED')"),
            0);
  EXPECT_EQ(Count(SharedMariaDb(), database,
                  "SELECT COUNT(*) FROM invitations i WHERE NOT EXISTS (SELECT 1 FROM "
                  "email_outbox o WHERE o.invitation_id = i.id)"),
            0);
}

// Three replicas on one database and one relay; six callers invite the same 30 addresses through
// all three at once. Each address gets exactly one active invitation (the other attempts are
// ALREADY_EXISTS) and exactly one email.
TEST(Faults, ThreeReplicasUnderConcurrentLoadInviteAndMailEachAddressOnce) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  const std::string database = absl::StrCat("faults_replicas_", getpid());
  e2e::ServerProcess::Options options =
      ProcessOn(database, {absl::StrCat("INVITATIONS_SMTP_URL=", (*sink)->url())});
  std::vector<std::unique_ptr<e2e::ServerProcess>> replicas;
  std::vector<std::unique_ptr<pb::InvitationService::Stub>> stubs;
  for (int i = 0; i < 3; ++i) {
    auto replica = e2e::ServerProcess::Start(options);
    ASSERT_TRUE(replica.ok()) << replica.status();
    stubs.push_back(StubFor(**replica));
    replicas.push_back(*std::move(replica));
  }
  constexpr int kEmails = 30, kCallers = 6;
  std::vector<std::string> emails;
  for (int i = 0; i < kEmails; ++i) emails.push_back(UniqueEmail("replica"));

  std::atomic<int> created{0};
  absl::Mutex mu;
  std::map<int, int> other_codes;  // unexpected status codes → count
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int k = 0; k < kEmails; ++k) {
        const int i = (k * 7 + c * 5) % kEmails;  // each caller its own order
        pb::CreateInvitationRequest request;
        request.set_email(emails[i]);
        request.set_role(pb::ROLE_SUPER_ADMIN);
        pb::CreateInvitationResponse response;
        grpc::Status s =
            stubs[(c + k) % stubs.size()]->CreateInvitation(Context().get(), request, &response);
        if (s.ok()) {
          ++created;
        } else if (s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
          absl::MutexLock lock(&mu);
          ++other_codes[s.error_code()];
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(created.load(), kEmails);
  EXPECT_THAT(other_codes, ::testing::IsEmpty());
  EXPECT_EQ(Count(SharedMariaDb(), database,
                  "SELECT COUNT(*) FROM invitations WHERE active_email IS NOT NULL"),
            kEmails);

  ASSERT_TRUE((*sink)->WaitForMessages(kEmails, absl::Seconds(60)).ok());
  ASSERT_TRUE(WaitFor([&] {
    return Count(SharedMariaDb(), database,
                 "SELECT COUNT(*) FROM email_outbox WHERE state = 'SENT'") == kEmails;
  }));
  for (auto& replica : replicas) EXPECT_EQ(replica->Terminate(), 0);
  // Every replica has stopped: nothing can still be sending.
  std::vector<std::string> messages = (*sink)->Messages();
  EXPECT_EQ(messages.size(), static_cast<size_t>(kEmails));
  for (const std::string& email : emails) {
    int copies = 0;
    for (const std::string& m : messages) copies += m.find(email) != std::string::npos;
    EXPECT_EQ(copies, 1) << email;
  }
}

// A statement stalled behind another session's row lock fails the call with a retryable error
// once the lock wait bound passes; neither the call nor its worker hangs while the stall lasts.
TEST(Faults, AStalledDatabaseFailsTheCallInsteadOfHangingIt) {
  TestServerOptions options;
  options.pool.lock_wait_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;
  pb::CreateInvitationRequest create;
  create.set_email(UniqueEmail("stall"));
  create.set_role(pb::ROLE_SUPER_ADMIN);
  pb::CreateInvitationResponse created;
  ASSERT_THAT(server.stub().CreateInvitation(Context().get(), create, &created), IsOk());
  const std::string id = created.invitation().id();

  HeldInvitationLock lock(SharedMariaDb().Uri(server.database()), id);

  pb::RevokeInvitationRequest revoke;
  revoke.set_id(id);
  pb::RevokeInvitationResponse revoked;
  // The lock is still held when this returns: the server gave up on its own.
  grpc::Status stalled =
      server.stub().RevokeInvitation(Context(absl::Seconds(60)).get(), revoke, &revoked);
  EXPECT_FALSE(lock.released());
  EXPECT_THAT(stalled, ::testing::AnyOf(StatusIs(absl::StatusCode::kUnavailable),
                                        StatusIs(absl::StatusCode::kAborted)));
  EXPECT_TRUE(WaitFor([&] { return server.workers().busy_workers() == 0; }));
  lock.Release();
  ASSERT_THAT(server.stub().RevokeInvitation(Context().get(), revoke, &revoked), IsOk());
}

// MariaDB SIGKILLed while four callers create invitations through a server process: calls fail
// cleanly (UNAVAILABLE) meanwhile, the same process serves again once MariaDB is back, and every
// invitation acknowledged before the crash is still there. Runs last: it kills the shared database.
TEST(FaultsZ, DatabaseKilledUnderLoadRecoversWithoutRestartingTheService) {
  const std::string database = absl::StrCat("faults_dbkill_", getpid());
  auto server = e2e::ServerProcess::Start(ProcessOn(database));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = StubFor(**server);

  std::atomic<bool> stop{false};
  std::atomic<int> ok_after_restart{0};
  std::atomic<bool> restarted{false};
  absl::Mutex mu;
  std::vector<std::string> acknowledged;      // ids the service confirmed
  std::map<grpc::StatusCode, int> failures;   // by code
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      while (!stop.load()) {
        pb::CreateInvitationRequest request;
        request.set_email(UniqueEmail("dbkill"));
        request.set_role(pb::ROLE_SUPER_ADMIN);
        request.set_suppress_email(true);
        pb::CreateInvitationResponse response;
        grpc::Status s = stub->CreateInvitation(Context(absl::Seconds(30)).get(), request, &response);
        absl::MutexLock lock(&mu);
        if (s.ok()) {
          acknowledged.push_back(response.invitation().id());
          if (restarted.load()) ++ok_after_restart;
        } else {
          ++failures[s.error_code()];
        }
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return acknowledged.size() >= 20;
  }));
  ASSERT_TRUE(SharedMariaDb().Kill().ok());
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return failures[grpc::StatusCode::UNAVAILABLE] >= 4;
  }, absl::Seconds(60)));
  ASSERT_TRUE(SharedMariaDb().StartAgain().ok());
  restarted = true;
  EXPECT_TRUE(WaitFor([&] { return ok_after_restart.load() >= 10; }, absl::Seconds(60)));
  stop = true;
  for (std::thread& t : callers) t.join();

  EXPECT_TRUE((*server)->running());
  for (const auto& [code, n] : failures) {
    EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE) << n << " calls failed with code " << code;
  }
  std::set<std::string> stored;
  absl::StatusOr<std::string> ids = SharedMariaDb().Query(database, "SELECT id FROM invitations");
  ASSERT_TRUE(ids.ok()) << ids.status();
  for (absl::string_view line : absl::StrSplit(*ids, '\n', absl::SkipWhitespace())) {
    stored.insert(std::string(absl::StripAsciiWhitespace(line)));
  }
  for (const std::string& id : acknowledged) EXPECT_TRUE(stored.count(id)) << "lost " << id;
  EXPECT_EQ((*server)->Terminate(), 0);
}

}  // namespace
}  // namespace securelink::testing
