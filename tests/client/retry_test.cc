// Backoff arithmetic and request ids.
#include "retry.h"

#include <regex>
#include <set>

#include "gtest/gtest.h"
#include "securelink/invitations/client.h"

namespace securelink::invitations::client {
namespace {

using internal::BackoffDelay;

TEST(BackoffDelayTest, DoublesFromInitialUpToTheCap) {
  RetryPolicy policy;  // 100 ms, x2, 2 s cap
  // unit_random 0.5 is the middle of the jitter range: factor exactly 1.
  EXPECT_EQ(BackoffDelay(policy, 1, 0.5), absl::Milliseconds(100));
  EXPECT_EQ(BackoffDelay(policy, 2, 0.5), absl::Milliseconds(200));
  EXPECT_EQ(BackoffDelay(policy, 3, 0.5), absl::Milliseconds(400));
  EXPECT_EQ(BackoffDelay(policy, 5, 0.5), absl::Milliseconds(1600));
  EXPECT_EQ(BackoffDelay(policy, 6, 0.5), absl::Seconds(2));
  EXPECT_EQ(BackoffDelay(policy, 60, 0.5), absl::Seconds(2));
}

TEST(BackoffDelayTest, JitterStaysWithinItsFraction) {
  RetryPolicy policy;
  policy.jitter = 0.2;
  EXPECT_EQ(BackoffDelay(policy, 1, 0.0), absl::Milliseconds(80));
  EXPECT_EQ(BackoffDelay(policy, 1, 1.0), absl::Milliseconds(120));
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration d = BackoffDelay(policy, 3, internal::UnitRandom());
    EXPECT_GE(d, absl::Milliseconds(320));
    EXPECT_LE(d, absl::Milliseconds(480));
  }
}

TEST(BackoffDelayTest, NonsensePoliciesStillGiveSaneDelays) {
  RetryPolicy policy;
  policy.multiplier = 0.1;  // treated as 1
  policy.jitter = 7;        // clamped to 1
  policy.initial_backoff = absl::Milliseconds(-5);
  EXPECT_GE(BackoffDelay(policy, 3, 0.0), absl::ZeroDuration());
  policy.initial_backoff = absl::Milliseconds(100);
  EXPECT_LE(BackoffDelay(policy, 3, 1.0), absl::Milliseconds(200));
}

TEST(NewRequestIdTest, IsARandomVersion4Uuid) {
  const std::regex uuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    EXPECT_TRUE(std::regex_match(id, uuid4)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace securelink::invitations::client
