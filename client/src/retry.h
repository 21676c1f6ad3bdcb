// Backoff arithmetic of the retry policy, apart from gRPC so it can be tested directly.
#ifndef SECURELINK_CLIENT_SRC_RETRY_H_
#define SECURELINK_CLIENT_SRC_RETRY_H_

#include "absl/time/time.h"
#include "securelink/invitations/client.h"

namespace securelink::invitations::client::internal {

// The delay before retry `retry` (1 for the first retry): see RetryPolicy. `unit_random` is a
// uniform sample in [0, 1) that picks the jitter factor; never negative, never above
// max_backoff * (1 + jitter).
absl::Duration BackoffDelay(const RetryPolicy& policy, int retry, double unit_random);

// A uniform sample in [0, 1) from a per-thread generator.
double UnitRandom();

}  // namespace securelink::invitations::client::internal

#endif  // SECURELINK_CLIENT_SRC_RETRY_H_
