// The per-client token bucket of the token RPCs (SPEC §9).
#include "server/rate_limiter.h"

#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

TEST(RateLimiter, AllowsABurstThenRefusesUntilTokensRefill) {
  ManualClock clock(absl::FromUnixSeconds(1'800'000'000));
  RateLimiter limiter(clock, /*rate_per_second=*/2, /*burst=*/3);
  EXPECT_TRUE(limiter.Allow("10.0.0.1"));
  EXPECT_TRUE(limiter.Allow("10.0.0.1"));
  EXPECT_TRUE(limiter.Allow("10.0.0.1"));
  EXPECT_FALSE(limiter.Allow("10.0.0.1"));
  clock.Advance(absl::Milliseconds(500));  // one token at 2/s
  EXPECT_TRUE(limiter.Allow("10.0.0.1"));
  EXPECT_FALSE(limiter.Allow("10.0.0.1"));
}

TEST(RateLimiter, ClientsHaveTheirOwnBuckets) {
  ManualClock clock(absl::FromUnixSeconds(1'800'000'000));
  RateLimiter limiter(clock, 1, 1);
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_FALSE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("b"));
}

TEST(RateLimiter, TrackedClientsAreBoundedAndIdleOnesForgottenFirst) {
  ManualClock clock(absl::FromUnixSeconds(1'800'000'000));
  RateLimiter limiter(clock, 1, 1, /*max_keys=*/2);
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("b"));
  EXPECT_FALSE(limiter.Allow("c"));  // both tracked clients are still throttled: shed
  clock.Advance(absl::Seconds(2));   // their buckets refilled: they can be forgotten
  EXPECT_TRUE(limiter.Allow("c"));
}

TEST(PeerHost, DropsThePort) {
  EXPECT_EQ(PeerHost("ipv4:127.0.0.1:5678"), "127.0.0.1");
  EXPECT_EQ(PeerHost("ipv6:[::1]:5678"), "[::1]");
  EXPECT_EQ(PeerHost("unix:/tmp/sock"), "/tmp/sock");
}

}  // namespace
}  // namespace securelink::invitations
