// Outbox claims on a three-node MariaDB Galera cluster (SPEC §8): dispatchers on every node
// claiming one queue at once never both own a message. Row locks are node-local on the cluster,
// so this is what keeps each email sent once; the service test mails 60 addresses, this claims
// thousands of messages through six claimers in a few seconds.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/connection_pool.h"
#include "storage/migrations.h"
#include "storage/mysql_outbox_store.h"
#include "storage/mysql_uri.h"
#include "tests/support/galera_cluster.h"
#include "tests/support/status_matchers.h"

namespace securelink::testing {
namespace {

namespace inv = ::securelink::invitations;

TEST(GaleraOutbox, ClaimersOnEveryNodeNeverOwnTheSameMessage) {
  absl::StatusOr<std::unique_ptr<GaleraCluster>> cluster = GaleraCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string database = "outbox_claims";
  ASSERT_THAT((*cluster)->CreateDatabase(database), IsOk());

  std::vector<std::unique_ptr<inv::ConnectionPool>> pools;
  for (int node = 0; node < (*cluster)->size(); ++node) {
    absl::StatusOr<inv::MysqlEndpoint> endpoint =
        inv::ParseMysqlUri((*cluster)->Uri(node, database));
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    pools.push_back(std::make_unique<inv::ConnectionPool>(*endpoint, inv::ConnectionPoolOptions{}));
  }
  ASSERT_THAT(inv::ApplyMigrations(*pools[0], inv::EmbeddedMigrations()).status(), IsOk());

  // Due messages, all at once: every claimer races for the head of the same queue.
  constexpr int kMessages = 3000;
  ASSERT_THAT((*cluster)->Execute(0, database, absl::StrCat(
      "INSERT INTO email_outbox (invitation_id, message_id, token_hash, state, "
      "next_attempt_time, create_time, update_time) "
      "SELECT LPAD(seq, 36, '0'), CONCAT('<m', seq, '@test>'), REPEAT('0', 64), 'PENDING', "
      "NOW(6) - INTERVAL 1 MINUTE, NOW(6), NOW(6) FROM seq_1_to_", kMessages)),
              IsOk());

  constexpr int kClaimersPerNode = 2;
  absl::Mutex mu;
  std::map<int64_t, std::vector<std::string>> owners;  // message → every claimer that got it
  std::atomic<int> errors{0};
  std::vector<std::thread> claimers;
  for (int node = 0; node < (*cluster)->size(); ++node) {
    for (int k = 0; k < kClaimersPerNode; ++k) {
      claimers.emplace_back([&, node, k] {
        inv::MysqlOutboxStore outbox(*pools[node]);
        const std::string owner = absl::StrCat("node", node, "-claimer", k);
        // A lease far longer than the test: nothing is reclaimed, so every message should be
        // claimed exactly once.
        for (int empty_rounds = 0; empty_rounds < 3;) {
          absl::StatusOr<std::vector<inv::ClaimedEmail>> claimed =
              outbox.Claim(owner, /*limit=*/8, absl::Now(), absl::Hours(1));
          if (!claimed.ok()) {
            // Six claimers on one queue head conflict often, and a causal wait can outlast the
            // connection's read timeout: a dispatcher tries again next round, as this does.
            // Either way the claim did not happen, or happened unseen (a lost COMMIT reply);
            // the database check below covers the second.
            if (!absl::IsAborted(claimed.status()) && !absl::IsUnavailable(claimed.status())) {
              ++errors;
              ADD_FAILURE() << claimed.status();
            }
            continue;
          }
          empty_rounds = claimed->empty() ? empty_rounds + 1 : 0;
          absl::MutexLock lock(&mu);
          for (const inv::ClaimedEmail& email : *claimed) owners[email.outbox_id].push_back(owner);
        }
      });
    }
  }
  for (std::thread& t : claimers) t.join();

  EXPECT_EQ(errors.load(), 0);
  for (const auto& [id, claimed_by] : owners) {
    EXPECT_EQ(claimed_by.size(), 1u) << "message " << id << " claimed by "
                                     << absl::StrJoin(claimed_by, ", ");
  }
  // The database agrees: each message was leased once, to the claimer that got it. (A claim
  // whose COMMIT reply was lost leased its messages without the claimer knowing; they are
  // leased once all the same.)
  absl::StatusOr<std::string> leases = (*cluster)->Query(
      1, database, "SELECT id, attempts, IFNULL(lease_owner, '-') FROM email_outbox");
  ASSERT_TRUE(leases.ok()) << leases.status();
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(*leases, '\n', absl::SkipEmpty())) {
    ++rows;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    ASSERT_EQ(f.size(), 3u) << line;
    int64_t id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[0], &id)) << line;
    EXPECT_EQ(f[1], "1") << "message " << id << " was leased more than once (or never)";
    auto claimed = owners.find(id);
    if (claimed != owners.end()) EXPECT_EQ(f[2], claimed->second.front()) << "message " << id;
  }
  EXPECT_EQ(rows, kMessages);
}

}  // namespace
}  // namespace securelink::testing
