#include "retry.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

namespace securelink::invitations::client {
namespace internal {

absl::Duration BackoffDelay(const RetryPolicy& policy, int retry, double unit_random) {
  const double multiplier = std::max(1.0, policy.multiplier);
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  const absl::Duration max_backoff = std::max(policy.max_backoff, absl::ZeroDuration());
  absl::Duration base = std::max(policy.initial_backoff, absl::ZeroDuration());
  for (int i = 1; i < retry && base < max_backoff; ++i) base *= multiplier;
  base = std::min(base, max_backoff);
  const double factor = 1.0 - jitter + 2.0 * jitter * std::clamp(unit_random, 0.0, 1.0);
  return base * factor;
}

double UnitRandom() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

}  // namespace internal

std::string NewRequestId() {
  // std::random_device reads the OS's CSPRNG (getrandom / /dev/urandom) on Linux.
  std::random_device device;
  std::array<uint8_t, 16> bytes;
  for (size_t i = 0; i < bytes.size(); i += 4) {
    const uint32_t word = device();
    for (size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<uint8_t>(word >> (8 * j));
  }
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0f]);
  }
  return out;
}

}  // namespace securelink::invitations::client
