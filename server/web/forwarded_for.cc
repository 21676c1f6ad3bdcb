#include "server/web/forwarded_for.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace securelink::invitations::web {
namespace {

constexpr size_t kMaxUnparsedClientBytes = 64;

// An X-Forwarded-For entry: an address, optionally with a port ("a.b.c.d:port", "[v6]:port",
// "[v6]"), as some proxies write it.
std::optional<IpAddress> ParseForwardedEntry(absl::string_view entry) {
  if (std::optional<IpAddress> plain = IpAddress::Parse(entry)) return plain;
  if (absl::ConsumePrefix(&entry, "[")) {
    const size_t close = entry.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    absl::string_view rest = entry.substr(close + 1);
    int port = 0;
    if (!rest.empty() && !(absl::ConsumePrefix(&rest, ":") && absl::SimpleAtoi(rest, &port))) {
      return std::nullopt;
    }
    std::optional<IpAddress> v6 = IpAddress::Parse(entry.substr(0, close));
    if (!v6.has_value() || !v6->is_v6()) return std::nullopt;
    return v6;
  }
  // Only IPv4 may carry a bare ":port" (in IPv6 the colon is part of the address).
  const size_t colon = entry.find(':');
  int port = 0;
  if (colon == absl::string_view::npos || entry.find(':', colon + 1) != absl::string_view::npos ||
      !absl::SimpleAtoi(entry.substr(colon + 1), &port)) {
    return std::nullopt;
  }
  std::optional<IpAddress> v4 = IpAddress::Parse(entry.substr(0, colon));
  if (!v4.has_value() || v4->is_v6()) return std::nullopt;
  return v4;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(absl::string_view text) {
  // inet_pton needs a terminated string; anything longer than an IPv6 text is not an address.
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress address;
  if (inet_pton(AF_INET, buffer, address.bytes_.data()) == 1) return address;
  if (inet_pton(AF_INET6, buffer, address.bytes_.data()) != 1) return std::nullopt;
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.bytes_.data(), kMappedPrefix, sizeof kMappedPrefix) == 0) {
    std::memmove(address.bytes_.data(), address.bytes_.data() + 12, 4);
    std::memset(address.bytes_.data() + 4, 0, 12);
    return address;
  }
  address.v6_ = true;
  return address;
}

std::string IpAddress::ToString() const {
  char buffer[INET6_ADDRSTRLEN];
  if (inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buffer, sizeof buffer) == nullptr) {
    return "";
  }
  return buffer;
}

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(absl::string_view list) {
  TrustedProxies trusted;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) continue;
    const size_t slash = item.find('/');
    std::optional<IpAddress> base = IpAddress::Parse(item.substr(0, slash));
    if (!base.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", item, "' is not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)"));
    }
    const int max_bits = base->is_v6() ? 128 : 32;
    int bits = max_bits;
    if (slash != absl::string_view::npos &&
        (!absl::SimpleAtoi(item.substr(slash + 1), &bits) || bits < 0 || bits > max_bits)) {
      return absl::InvalidArgumentError(absl::StrCat("'", item, "': the prefix length must be 0..",
                                                     max_bits));
    }
    for (int i = 0; i < 16; ++i) {
      const int keep = std::max(0, std::min(8, bits - 8 * i));
      base->bytes_[i] &= static_cast<uint8_t>(0xff00 >> keep);
    }
    trusted.networks_.push_back({*base, bits});
  }
  return trusted;
}

bool TrustedProxies::Contains(const IpAddress& address) const {
  for (const Network& network : networks_) {
    if (network.base.v6_ != address.v6_) continue;
    const int whole = network.prefix_bits / 8;
    const int rest = network.prefix_bits % 8;
    if (std::memcmp(network.base.bytes_.data(), address.bytes_.data(), whole) != 0) continue;
    if (rest != 0) {
      const uint8_t mask = static_cast<uint8_t>(0xff00 >> rest);
      if ((address.bytes_[whole] & mask) != network.base.bytes_[whole]) continue;
    }
    return true;
  }
  return false;
}

std::string ClientAddress(absl::string_view peer, absl::string_view forwarded_for,
                          const TrustedProxies& trusted) {
  std::optional<IpAddress> hop = IpAddress::Parse(peer);
  if (!hop.has_value()) return std::string(peer);
  if (!trusted.Contains(*hop)) return hop->ToString();
  std::vector<absl::string_view> entries = absl::StrSplit(forwarded_for, ',');
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const absl::string_view entry = absl::StripAsciiWhitespace(*it);
    if (entry.empty()) continue;  // empty list items are ignored (RFC 9110 §5.6.1)
    std::optional<IpAddress> address = ParseForwardedEntry(entry);
    if (!address.has_value()) return std::string(entry.substr(0, kMaxUnparsedClientBytes));
    hop = address;
    if (!trusted.Contains(*hop)) break;
  }
  return hop->ToString();
}

}  // namespace securelink::invitations::web
