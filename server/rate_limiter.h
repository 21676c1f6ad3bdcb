// A token bucket per key (the client address) for the unauthenticated token RPCs (SPEC §9):
// `rate` tokens per second, at most `burst` saved up.
#ifndef SECURELINK_SERVER_RATE_LIMITER_H_
#define SECURELINK_SERVER_RATE_LIMITER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/domain/clock.h"

namespace securelink::invitations {

// The limit of one client's calls of the token RPCs and the registration page (SPEC §9).
struct TokenBucketOptions {
  double per_second = 5;
  int burst = 20;
};

class RateLimiter {
 public:
  RateLimiter(const Clock& clock, const TokenBucketOptions& options)
      : RateLimiter(clock, options.per_second, options.burst) {}
  // Remembers at most `max_keys` clients; beyond that, clients whose buckets have refilled are
  // forgotten (they would be allowed anyway), so memory stays bounded under address floods.
  // `clock` must outlive the limiter.
  RateLimiter(const Clock& clock, double rate_per_second, int burst, size_t max_keys = 100000);

  // Takes one token from `key`'s bucket. False when the bucket is empty. Thread-safe.
  bool Allow(absl::string_view key);

  // How long an empty bucket takes to hold one token again.
  absl::Duration RefillInterval() const {
    return rate_ > 0 ? absl::Seconds(1.0 / rate_) : absl::Seconds(1);
  }

 private:
  struct Bucket {
    double tokens;
    absl::Time updated;
  };
  void ForgetFullBucketsLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const double rate_;
  const double burst_;
  const size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// The client address of a gRPC peer string ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678"), without
// the port: one bucket per host, not per connection.
std::string PeerHost(absl::string_view peer);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_RATE_LIMITER_H_
