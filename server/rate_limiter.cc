#include "server/rate_limiter.h"

#include <algorithm>

namespace securelink::invitations {

RateLimiter::RateLimiter(const Clock& clock, double rate_per_second, int burst, size_t max_keys)
    : clock_(clock), rate_(rate_per_second), burst_(std::max(1, burst)), max_keys_(max_keys) {}

bool RateLimiter::Allow(absl::string_view key) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) ForgetFullBucketsLocked(now);
    if (buckets_.size() >= max_keys_) return false;  // every tracked client is busy: shed
    it = buckets_.emplace(std::string(key), Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + rate_ * absl::ToDoubleSeconds(now - b.updated));
  b.updated = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::ForgetFullBucketsLocked(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const Bucket& b = it->second;
    if (b.tokens + rate_ * absl::ToDoubleSeconds(now - b.updated) >= burst_) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

std::string PeerHost(absl::string_view peer) {
  if (size_t colon = peer.find(':'); colon != absl::string_view::npos) {
    absl::string_view rest = peer.substr(colon + 1);  // after "ipv4:" / "ipv6:"
    if (!rest.empty() && rest.front() == '[') {
      size_t close = rest.find(']');
      return std::string(close == absl::string_view::npos ? rest : rest.substr(0, close + 1));
    }
    size_t port = rest.rfind(':');
    return std::string(port == absl::string_view::npos ? rest : rest.substr(0, port));
  }
  return std::string(peer);
}

}  // namespace securelink::invitations
