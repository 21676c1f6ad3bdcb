// Who the client is when the registration page sits behind proxies: X-Forwarded-For is believed
// only as far as the proxies an operator names (--web_trusted_proxies) vouch for it.
#ifndef SECURELINK_SERVER_WEB_FORWARDED_FOR_H_
#define SECURELINK_SERVER_WEB_FORWARDED_FOR_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations::web {

// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack socket
// reports for an IPv4 peer) are held as IPv4, so one client has one form.
class IpAddress {
 public:
  // The address written as `text` (dotted quad or RFC 4291 text, no brackets, port or zone);
  // nullopt when it is not one.
  static std::optional<IpAddress> Parse(absl::string_view text);

  bool is_v6() const { return v6_; }
  // Canonical text (inet_ntop): "192.0.2.1", "2001:db8::1".
  std::string ToString() const;

 private:
  friend class TrustedProxies;
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};  // IPv4: the first 4
};

// The networks whose X-Forwarded-For is believed. Default: none (the TCP peer is the client).
class TrustedProxies {
 public:
  TrustedProxies() = default;

  // A comma-separated list of CIDRs ("10.0.0.0/8, 2001:db8::/32"); a bare address is a single
  // host; host bits below the prefix are ignored; empty items are skipped. INVALID_ARGUMENT
  // naming the first entry that is not a CIDR.
  static absl::StatusOr<TrustedProxies> Parse(absl::string_view list);

  bool Contains(const IpAddress& address) const;
  bool empty() const { return networks_.empty(); }
  // How many networks the list holds (for the start-up log).
  size_t size() const { return networks_.size(); }

 private:
  struct Network {
    IpAddress base;  // host bits cleared
    int prefix_bits;
  };
  std::vector<Network> networks_;
};

// The client address of a request that arrived from `peer` (the TCP peer's address) carrying
// `forwarded_for` (every X-Forwarded-For header's value, joined with commas; "" when absent).
// Walking [forwarded_for entries..., peer] from the right, the client is the first address not in
// `trusted`; when every one is trusted, the leftmost. With the peer itself not trusted,
// X-Forwarded-For is ignored entirely. An entry may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:443"), which is dropped; an entry that is not an address at all is taken as the
// client (what a trusted proxy vouched for cannot be looked past), cut to 64 bytes. Addresses come
// back in canonical form, so one client is one rate-limit key however a proxy spelled it.
std::string ClientAddress(absl::string_view peer, absl::string_view forwarded_for,
                          const TrustedProxies& trusted);

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_FORWARDED_FOR_H_
