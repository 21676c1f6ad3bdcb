// Group commit against a real MariaDB: MysqlInvitationStore::InsertEach decides every row of a
// batch as a lone Insert would (duplicates and request_id replays inside and across batches,
// live and stale holders, the pending quota) and a batch that loses a deadlock is decided again
// whole; GroupCommitInvitationStore under concurrent callers keeps one invitation per address.
#include "storage/mysql_invitation_store.h"

#include <memory>
#include <thread>
#include <vector>

#include <cppconn/exception.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain/errors.h"
#include "server/domain/tenant_policy.h"
#include "server/domain/token.h"
#include "storage/group_commit_invitation_store.h"
#include "storage/migrations.h"
#include "storage/mysql_tenant_policy_store.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace inv = ::securelink::invitations;

class GroupCommitStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = absl::StrCat("group_commit_", getpid(), "_", counter_++);
    ASSERT_TRUE(SharedMariaDb().CreateDatabase(database_).ok());
    absl::StatusOr<inv::MysqlEndpoint> endpoint =
        inv::ParseMysqlUri(SharedMariaDb().Uri(database_));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    inv::ConnectionPoolOptions options;
    options.max_connections = 32;
    pool_ = std::make_unique<inv::ConnectionPool>(*endpoint, options);
    ASSERT_TRUE(inv::ApplyMigrations(*pool_, inv::EmbeddedMigrations()).ok());
    store_ = std::make_unique<inv::MysqlInvitationStore>(*pool_);
  }

  // One number from `sql`, or -1.
  int64_t Count(const std::string& sql) {
    absl::StatusOr<std::string> out = SharedMariaDb().Query(database_, sql);
    int64_t n = -1;
    if (!out.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &n)) return -1;
    return n;
  }

  // Invitations of `email`, their CREATED events and queued emails, as "rows/events/emails".
  std::string Written(const std::string& email) {
    return absl::StrCat(
        Count(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE email = '", email, "'")), "/",
        Count(absl::StrCat("SELECT COUNT(*) FROM invitation_events WHERE email = '", email,
                           "' AND type = 'CREATED'")),
        "/",
        Count(absl::StrCat("SELECT COUNT(*) FROM email_outbox o JOIN invitations i ON "
                           "o.invitation_id = i.id WHERE i.email = '", email, "'")));
  }

  static inline int counter_ = 0;
  std::string database_;
  std::unique_ptr<inv::ConnectionPool> pool_;
  std::unique_ptr<inv::MysqlInvitationStore> store_;
};

const absl::Time kNow = absl::FromUnixSeconds(1'900'000'000);

inv::NewInvitation Row(const std::string& email, const std::string& request_id = "",
                       const std::string& tenant = "acme", absl::Duration ttl = absl::Hours(72),
                       absl::Time now = kNow) {
  inv::NewInvitation row;
  inv::Invitation& i = row.invitation;
  i.id = inv::NewUuid();
  i.email = email;
  i.role = inv::Role::kVpnUser;
  i.tenant_id = tenant;
  i.state = inv::InvitationState::kPending;
  i.create_time = now;
  i.update_time = now;
  i.expire_time = now + ttl;
  i.send_count = 1;
  i.email_delivery_state = inv::EmailDeliveryState::kQueued;
  i.created_by = "admin";
  i.request_id = request_id;
  i.locale = "en";
  row.token_hash = inv::HashRegistrationToken(inv::NewRegistrationToken());
  row.sealed_token = absl::StrCat("sealed:", i.id);
  row.event = inv::AuditEvent{inv::AuditEventType::kCreated, "admin", ""};
  row.email_message_id = absl::StrCat("<", i.id, "@invitations.test>");
  return row;
}

std::string Metadata(const absl::Status& status, const std::string& key) {
  for (const auto& [k, v] : inv::GetErrorDetails(status).metadata) {
    if (k == key) return v;
  }
  return "";
}

// A created row's result is the row as a later read finds it.
void ExpectAsStored(inv::InvitationStore& store, const inv::Invitation& returned) {
  absl::StatusOr<inv::Invitation> stored = store.Get(returned.id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(returned.email, stored->email);
  EXPECT_EQ(returned.role, stored->role);
  EXPECT_EQ(returned.tenant_id, stored->tenant_id);
  EXPECT_EQ(returned.state, stored->state);
  EXPECT_EQ(returned.create_time, stored->create_time);
  EXPECT_EQ(returned.update_time, stored->update_time);
  EXPECT_EQ(returned.expire_time, stored->expire_time);
  EXPECT_EQ(returned.last_send_time, stored->last_send_time);
  EXPECT_EQ(returned.send_count, stored->send_count);
  EXPECT_EQ(returned.created_by, stored->created_by);
  EXPECT_EQ(returned.request_id, stored->request_id);
  EXPECT_EQ(returned.email_delivery_state, stored->email_delivery_state);
  EXPECT_EQ(returned.token_hash_hex, stored->token_hash_hex);
  EXPECT_EQ(returned.locale, stored->locale);
}

TEST_F(GroupCommitStoreTest, TwoRowsForOneAddressInABatchCreateOneTheOtherNamesIt) {
  // Times with nanoseconds, as the clock gives them: the stored row keeps microseconds.
  const absl::Time now = kNow + absl::Nanoseconds(123456789);
  const std::vector<inv::NewInvitation> rows = {
      Row("dup@example.com", "", "acme", absl::Hours(72), now),
      Row("dup@example.com", "", "acme", absl::Hours(72), now),
      Row("other@example.com", "req-other", "acme", absl::Hours(72), now)};
  auto results = store_->InsertEach(rows, now);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[0]->invitation.id, rows[0].invitation.id);
  EXPECT_FALSE(results[0]->replayed);
  EXPECT_EQ(results[0]->sealed_token, rows[0].sealed_token);
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(inv::ReasonOf(results[1].status()), inv::kReasonActiveInvitationExists);
  EXPECT_EQ(Metadata(results[1].status(), "invitation_id"), rows[0].invitation.id);
  ASSERT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_EQ(results[2]->invitation.state, inv::InvitationState::kPending);
  EXPECT_EQ(results[2]->invitation.email, "other@example.com");
  ExpectAsStored(*store_, results[0]->invitation);
  ExpectAsStored(*store_, results[2]->invitation);
  EXPECT_EQ(Written("dup@example.com"), "1/1/1");
  EXPECT_EQ(Written("other@example.com"), "1/1/1");
}

TEST_F(GroupCommitStoreTest, ARequestIdRepeatedInOrAcrossBatchesIsAnsweredAsItsFirstRow) {
  const std::vector<inv::NewInvitation> first = {Row("x@example.com", "req-x"),
                                                 Row("y@example.com", "req-y"),
                                                 Row("y@example.com", "req-y")};
  auto results = store_->InsertEach(first, kNow);
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(results[1]->replayed);
  EXPECT_TRUE(results[2]->replayed);
  EXPECT_EQ(results[2]->invitation.id, first[1].invitation.id);
  EXPECT_EQ(results[2]->sealed_token, first[1].sealed_token);

  const std::vector<inv::NewInvitation> second = {Row("x@example.com", "req-x"),
                                                  Row("z@example.com", "req-z")};
  results = store_->InsertEach(second, kNow + absl::Seconds(1));
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_TRUE(results[0]->replayed);
  EXPECT_EQ(results[0]->invitation.id, first[0].invitation.id);
  EXPECT_EQ(results[0]->sealed_token, first[0].sealed_token);
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_FALSE(results[1]->replayed);
  EXPECT_EQ(Written("x@example.com"), "1/1/1");
  EXPECT_EQ(Written("y@example.com"), "1/1/1");
  EXPECT_EQ(Written("z@example.com"), "1/1/1");
}

TEST_F(GroupCommitStoreTest, ALiveHolderRefusesItsRowAndAStaleOneIsExpiredFirst) {
  ASSERT_TRUE(store_->Insert(Row("live@example.com"), kNow).ok());
  const inv::NewInvitation stale = Row("stale@example.com", "", "acme", absl::Seconds(1));
  ASSERT_TRUE(store_->Insert(stale, kNow).ok());
  const absl::Time later = kNow + absl::Seconds(2);
  const std::vector<inv::NewInvitation> rows = {
      Row("live@example.com", "", "acme", absl::Hours(1), later),
      Row("stale@example.com", "", "acme", absl::Hours(1), later),
      Row("new@example.com", "", "acme", absl::Hours(1), later)};
  auto results = store_->InsertEach(rows, later);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  ASSERT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE id = '",
                               stale.invitation.id, "' AND state = 'EXPIRED'")),
            1);
  EXPECT_EQ(Count(absl::StrCat("SELECT COUNT(*) FROM invitation_events WHERE invitation_id = '",
                               stale.invitation.id, "' AND type = 'EXPIRED'")),
            1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM invitations WHERE email = 'stale@example.com' AND "
                  "state = 'PENDING'"),
            1);
}

TEST_F(GroupCommitStoreTest, RowsPastTheirTenantsQuotaAreRefusedAndTheirNeighboursWritten) {
  inv::MysqlTenantPolicyStore policies(*pool_);
  inv::TenantPolicy policy;
  policy.tenant_id = "capped";
  policy.max_pending_invitations = 2;
  ASSERT_TRUE(policies.Put(policy, std::nullopt, "admin", "", kNow).ok());
  const std::vector<inv::NewInvitation> rows = {
      Row("c1@example.com", "", "capped"), Row("free@example.com", "", "open"),
      Row("c2@example.com", "", "capped"), Row("c3@example.com", "", "capped")};
  auto results = store_->InsertEach(rows, kNow);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_EQ(results[3].status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(inv::ReasonOf(results[3].status()), "TENANT_PENDING_LIMIT_REACHED");
  EXPECT_EQ(Count("SELECT COUNT(*) FROM invitations WHERE tenant_id = 'capped'"), 2);
  EXPECT_EQ(Count("SELECT pending FROM tenant_pending_counts WHERE tenant_id = 'capped'"), 2);
  EXPECT_EQ(Written("free@example.com"), "1/1/1");
  EXPECT_EQ(Written("c3@example.com"), "0/0/0");
}

TEST_F(GroupCommitStoreTest, ARowDecidedUnderAnOlderPolicyIsRefusedAloneAndWritesNothing) {
  inv::MysqlTenantPolicyStore policies(*pool_);
  inv::TenantPolicy policy;
  policy.tenant_id = "versioned";
  policy.allowed_email_domains = {"example.com"};
  absl::StatusOr<inv::TenantPolicy> stored = policies.Put(policy, std::nullopt, "admin", "", kNow);
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto decided_under = [](inv::NewInvitation row, std::optional<int64_t> version) {
    row.policy_version = version;
    return row;
  };
  const std::vector<inv::NewInvitation> rows = {
      decided_under(Row("current@example.com", "", "versioned"), stored->version),
      decided_under(Row("older@example.com", "", "versioned"), stored->version - 1),
      decided_under(Row("none@example.com", "", "no-policy"), 0),
      decided_under(Row("unchecked@example.com", "", "versioned"), std::nullopt)};
  auto results = store_->InsertEach(rows, kNow);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(inv::ReasonOf(results[1].status()), inv::kReasonTenantPolicyChanged);
  EXPECT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_TRUE(results[3].ok()) << results[3].status();
  EXPECT_EQ(Written("older@example.com"), "0/0/0");

  // A lone row takes Insert's path, with the same check.
  absl::StatusOr<inv::InsertResult> alone =
      store_->Insert(decided_under(Row("alone@example.com", "", "no-policy"), 1), kNow);
  EXPECT_EQ(inv::ReasonOf(alone.status()), inv::kReasonTenantPolicyChanged);
  EXPECT_EQ(Written("alone@example.com"), "0/0/0");
}

// Another transaction holds b@'s holder and then asks for a@'s, which the batch holds while it
// waits for b@'s: InnoDB rolls back the lighter side, the batch. The other transaction revokes
// a@ and commits; the batch, decided again whole, now creates a@ and still refuses b@.
TEST_F(GroupCommitStoreTest, ABatchThatLosesADeadlockIsDecidedAgainWhole) {
  const inv::NewInvitation held_a = Row("a@example.com");
  const inv::NewInvitation held_b = Row("b@example.com");
  ASSERT_TRUE(store_->Insert(held_a, kNow).ok());
  ASSERT_TRUE(store_->Insert(held_b, kNow).ok());
  const int64_t deadlocks_before = Count(
      "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
      "WHERE VARIABLE_NAME = 'INNODB_DEADLOCKS'");
  ASSERT_GE(deadlocks_before, 0);

  absl::StatusOr<inv::ConnectionPool::Lease> other = pool_->Acquire();
  ASSERT_TRUE(other.ok()) << other.status();
  std::unique_ptr<sql::Statement> sql(other->connection().createStatement());
  sql->execute("CREATE TABLE ballast (n INT PRIMARY KEY)");
  sql->execute("START TRANSACTION");
  // Weight: InnoDB rolls back the transaction that changed fewer rows.
  std::string ballast = "INSERT INTO ballast VALUES (0)";
  for (int i = 1; i < 200; ++i) absl::StrAppend(&ballast, ",(", i, ")");
  sql->execute(ballast);
  std::unique_ptr<sql::ResultSet>(sql->executeQuery(absl::StrCat(
      "SELECT id FROM invitations WHERE id = '", held_b.invitation.id, "' FOR UPDATE")));

  const std::vector<inv::NewInvitation> rows = {Row("a@example.com"), Row("b@example.com"),
                                                Row("c@example.com")};
  std::vector<absl::StatusOr<inv::InsertResult>> results;
  std::thread batch([&] { results = store_->InsertEach(rows, kNow); });
  const bool batch_waits = WaitFor([&] {
    return Count("SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                 "WHERE trx_state = 'LOCK WAIT'") == 1;
  });
  EXPECT_TRUE(batch_waits) << "the batch never waited for the other transaction's lock";
  try {
    if (batch_waits) {
      // The deadlock; the batch is its victim.
      std::unique_ptr<sql::ResultSet>(sql->executeQuery(absl::StrCat(
          "SELECT id FROM invitations WHERE id = '", held_a.invitation.id, "' FOR UPDATE")));
      sql->execute(absl::StrCat(
          "UPDATE invitations SET state = 'REVOKED', active_email = NULL WHERE id = '",
          held_a.invitation.id, "'"));
    }
    sql->execute("COMMIT");
  } catch (const sql::SQLException& e) {
    ADD_FAILURE() << "the other transaction failed (was it the deadlock's victim?): " << e.what();
    sql->execute("ROLLBACK");
  }
  batch.join();

  EXPECT_GT(Count("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                  "WHERE VARIABLE_NAME = 'INNODB_DEADLOCKS'"),
            deadlocks_before);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[0]->invitation.id, rows[0].invitation.id);
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_EQ(Count("SELECT COUNT(*) FROM invitations WHERE email = 'a@example.com' AND "
                  "state = 'PENDING'"),
            1);
  EXPECT_EQ(Written("c@example.com"), "1/1/1");
}

// Eight callers through the group commit, each address attempted by two of them at once:
// exactly one invitation per address, with its one event and one email; every other attempt
// is ALREADY_EXISTS naming it.
TEST_F(GroupCommitStoreTest, ConcurrentCallersThroughTheBatcherGetOneInvitationPerAddress) {
  inv::GroupCommitInvitationStore batcher(*store_, {.max_batch = 16, .max_batches_in_flight = 2});
  constexpr int kThreads = 8, kAddresses = 60;
  std::vector<std::vector<absl::StatusOr<inv::InsertResult>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Threads 2k and 2k+1 walk the same addresses.
      for (int i = 0; i < kAddresses; ++i) {
        results[t].push_back(batcher.Insert(
            Row(absl::StrCat("racer", i, ".", t / 2, "@example.com")), absl::Now()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int pair = 0; pair < kThreads / 2; ++pair) {
    for (int i = 0; i < kAddresses; ++i) {
      const auto& a = results[2 * pair][i];
      const auto& b = results[2 * pair + 1][i];
      ASSERT_NE(a.ok(), b.ok()) << a.status() << " / " << b.status();
      const auto& loser = a.ok() ? b : a;
      const auto& winner = a.ok() ? a : b;
      EXPECT_EQ(loser.status().code(), absl::StatusCode::kAlreadyExists) << loser.status();
      EXPECT_EQ(Metadata(loser.status(), "invitation_id"), winner->invitation.id);
    }
  }
  const int64_t expected = kAddresses * kThreads / 2;
  EXPECT_EQ(Count("SELECT COUNT(*) FROM invitations"), expected);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM invitation_events WHERE type = 'CREATED'"), expected);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM email_outbox"), expected);
}

}  // namespace
}  // namespace securelink::testing
