// Tenant policies as stored in MariaDB (SPEC §11): a round trip keeps every field, each write
// bumps the version and records POLICY_UPDATED in the same transaction, and a writer holding a
// stale version changes nothing, also when many write at once.
#include "storage/mysql_tenant_policy_store.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain/errors.h"
#include "storage/migrations.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace inv = ::securelink::invitations;
using ::testing::ElementsAre;

class TenantPolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = absl::StrCat("policy_", getpid(), "_", counter_++);
    ASSERT_TRUE(SharedMariaDb().CreateDatabase(database_).ok());
    absl::StatusOr<inv::MysqlEndpoint> endpoint =
        inv::ParseMysqlUri(SharedMariaDb().Uri(database_));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    pool_ = std::make_unique<inv::ConnectionPool>(*endpoint, inv::ConnectionPoolOptions{});
    ASSERT_TRUE(inv::ApplyMigrations(*pool_, inv::EmbeddedMigrations()).ok());
    store_ = std::make_unique<inv::MysqlTenantPolicyStore>(*pool_);
  }

  std::string Query(const std::string& sql) {
    absl::StatusOr<std::string> out = SharedMariaDb().Query(database_, sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripAsciiWhitespace(*out)) : "";
  }

  static inline int counter_ = 0;
  std::string database_;
  std::unique_ptr<inv::ConnectionPool> pool_;
  std::unique_ptr<inv::MysqlTenantPolicyStore> store_;
};

inv::TenantPolicy Full(const std::string& tenant) {
  inv::TenantPolicy p;
  p.tenant_id = tenant;
  p.allowed_email_domains = {"example.com", "xn--bcher-kva.de"};
  p.max_pending_invitations = 25;
  p.default_ttl = absl::Hours(48);
  p.reminder_before_expiry = absl::Hours(12);
  p.default_locale = "de-AT";
  return p;
}

TEST_F(TenantPolicyStoreTest, ATenantWithoutAPolicyHasNone) {
  absl::StatusOr<std::optional<inv::TenantPolicy>> got = store_->Get("acme");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
}

TEST_F(TenantPolicyStoreTest, ARoundTripKeepsEveryFieldAndRecordsTheChange) {
  const absl::Time now = absl::FromUnixMicros(1'800'000'000'123'456);
  absl::StatusOr<inv::TenantPolicy> put = store_->Put(Full("acme"), 0, "admin-1", "", now);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->version, 1);
  absl::StatusOr<std::optional<inv::TenantPolicy>> got = store_->Get("acme");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  const inv::TenantPolicy& p = **got;
  EXPECT_THAT(p.allowed_email_domains, ElementsAre("example.com", "xn--bcher-kva.de"));
  EXPECT_EQ(p.max_pending_invitations, 25);
  EXPECT_EQ(p.default_ttl, absl::Hours(48));
  EXPECT_EQ(p.reminder_before_expiry, absl::Hours(12));
  EXPECT_EQ(p.default_locale, "de-AT");
  EXPECT_EQ(p.version, 1);
  EXPECT_EQ(p.update_time, now);
  EXPECT_EQ(p.updated_by, "admin-1");
  EXPECT_EQ(Query("SELECT type, actor, tenant_id, invitation_id = '' FROM invitation_events"),
            "POLICY_UPDATED\tadmin-1\tacme\t1");

  inv::TenantPolicy cleared = p;
  cleared.allowed_email_domains.clear();
  cleared.default_ttl.reset();
  cleared.reminder_before_expiry.reset();
  ASSERT_TRUE(store_->Put(cleared, 1, "admin-2", "", now + absl::Seconds(1)).ok());
  got = store_->Get("acme");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_TRUE((*got)->allowed_email_domains.empty());
  EXPECT_FALSE((*got)->default_ttl.has_value());
  EXPECT_FALSE((*got)->reminder_before_expiry.has_value());
  EXPECT_EQ((*got)->version, 2);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM invitation_events WHERE type = 'POLICY_UPDATED'"), "2");
}

TEST_F(TenantPolicyStoreTest, AStaleVersionIsAbortedAndWritesNothing) {
  ASSERT_TRUE(store_->Put(Full("acme"), 0, "a", "", absl::Now()).ok());
  ASSERT_TRUE(store_->Put(Full("acme"), 1, "b", "", absl::Now()).ok());
  absl::StatusOr<inv::TenantPolicy> stale = store_->Put(Full("acme"), 1, "c", "", absl::Now());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << stale.status();
  EXPECT_EQ(inv::ReasonOf(stale.status()), "POLICY_ETAG_MISMATCH");
  absl::StatusOr<inv::TenantPolicy> first_again = store_->Put(Full("acme"), 0, "d", "", absl::Now());
  EXPECT_EQ(first_again.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Query("SELECT version, updated_by FROM tenant_policies"), "2\tb");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM invitation_events"), "2");
  // Without a version the write goes through whatever is stored.
  ASSERT_TRUE(store_->Put(Full("acme"), std::nullopt, "e", "", absl::Now()).ok());
  EXPECT_EQ(Query("SELECT version, updated_by FROM tenant_policies"), "3\te");
}

// Eight writers who all read version 1 race: exactly one wins, the others are told, none is lost
// silently.
TEST_F(TenantPolicyStoreTest, OfWritersRacingFromOneVersionExactlyOneWins) {
  ASSERT_TRUE(store_->Put(Full("acme"), 0, "seed", "", absl::Now()).ok());
  constexpr int kWriters = 8;
  std::atomic<int> won{0}, stale{0}, other{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      inv::TenantPolicy p = Full("acme");
      p.max_pending_invitations = 100 + i;
      absl::StatusOr<inv::TenantPolicy> r = store_->Put(p, 1, absl::StrCat("w", i), "", absl::Now());
      if (r.ok()) {
        ++won;
      } else if (inv::ReasonOf(r.status()) == "POLICY_ETAG_MISMATCH") {
        ++stale;
      } else {
        ++other;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(stale.load(), kWriters - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Query("SELECT version FROM tenant_policies"), "2");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM invitation_events"), "2");
}

}  // namespace
}  // namespace securelink::testing
