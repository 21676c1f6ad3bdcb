// Who the client is behind proxies (SPEC §10): X-Forwarded-For is believed only as far as the
// trusted proxies vouch for it, counted from the right.
#include "server/web/forwarded_for.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace securelink::invitations::web {
namespace {

TrustedProxies Trust(absl::string_view list) {
  absl::StatusOr<TrustedProxies> trusted = TrustedProxies::Parse(list);
  EXPECT_TRUE(trusted.ok()) << trusted.status();
  return trusted.ok() ? *std::move(trusted) : TrustedProxies();
}

TEST(ClientAddress, WithoutTrustedProxiesThePeerIsTheClientWhateverTheHeaderSays) {
  const TrustedProxies none;
  EXPECT_EQ(ClientAddress("192.0.2.10", "", none), "192.0.2.10");
  EXPECT_EQ(ClientAddress("192.0.2.10", "203.0.113.5", none), "192.0.2.10");
}

TEST(ClientAddress, FromAnUntrustedPeerAForgedHeaderIsIgnored) {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  EXPECT_EQ(ClientAddress("192.0.2.10", "10.1.2.3, 203.0.113.5", trusted), "192.0.2.10");
}

TEST(ClientAddress, BehindATrustedProxyTheFirstUntrustedHopFromTheRightIsTheClient) {
  const TrustedProxies trusted = Trust("10.0.0.0/8, 172.16.0.0/12");
  // The client forged the leftmost entry; the edge proxy (172.16.0.4) appended the real
  // address, then the ingress (10.0.0.2) appended the edge proxy.
  EXPECT_EQ(ClientAddress("10.0.0.2", "198.51.100.66, 203.0.113.7, 172.16.0.4", trusted),
            "203.0.113.7");
  // A trusted peer with no header: the proxy itself (a health check) is the client.
  EXPECT_EQ(ClientAddress("10.0.0.2", "", trusted), "10.0.0.2");
  // Several header lines arrive joined by commas; empty items are skipped.
  EXPECT_EQ(ClientAddress("10.0.0.2", "203.0.113.7,, 10.9.9.9 ,", trusted), "203.0.113.7");
}

TEST(ClientAddress, WhenEveryHopIsTrustedTheLeftmostIsTheClient) {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  EXPECT_EQ(ClientAddress("10.0.0.2", "10.5.5.5, 10.0.0.3", trusted), "10.5.5.5");
}

TEST(ClientAddress, IPv6PeersNetworksAndEntries) {
  const TrustedProxies trusted = Trust("2001:db8:1::/48, 127.0.0.1");
  EXPECT_EQ(ClientAddress("2001:db8:1::5", "2001:DB8:FFFF:0:0:0:0:1", trusted),
            "2001:db8:ffff::1");  // canonical text: one client, one rate-limit key
  EXPECT_EQ(ClientAddress("2001:db8:2::5", "203.0.113.7", trusted), "2001:db8:2::5");
  // Ports and brackets, as some proxies write entries.
  EXPECT_EQ(ClientAddress("2001:db8:1::5", "[2001:db8:9::1]:443", trusted), "2001:db8:9::1");
  EXPECT_EQ(ClientAddress("2001:db8:1::5", "203.0.113.7:51234", trusted), "203.0.113.7");
  // A dual-stack listener reports an IPv4 peer as ::ffff:a.b.c.d; it is the IPv4 address.
  EXPECT_EQ(ClientAddress("::ffff:127.0.0.1", "203.0.113.7", trusted), "203.0.113.7");
  EXPECT_EQ(ClientAddress("::ffff:192.0.2.1", "203.0.113.7", trusted), "192.0.2.1");
}

TEST(ClientAddress, AMalformedEntryIsTakenAsTheClientAndTheWalkStops) {
  const TrustedProxies trusted = Trust("10.0.0.0/8");
  EXPECT_EQ(ClientAddress("10.0.0.2", "203.0.113.7, unknown, 10.0.0.9", trusted), "unknown");
  EXPECT_EQ(ClientAddress("10.0.0.2", "1.2.3.4.5", trusted), "1.2.3.4.5");
  EXPECT_EQ(ClientAddress("10.0.0.2", "[2001:db8::1", trusted), "[2001:db8::1");
  const std::string long_junk(500, 'x');
  EXPECT_EQ(ClientAddress("10.0.0.2", long_junk, trusted), std::string(64, 'x'));
}

TEST(TrustedProxies, ParsesCidrsAndBareAddresses) {
  const TrustedProxies trusted = Trust(" 10.0.0.0/8 ,192.0.2.1, fd00::/8,, 198.51.100.77/24 ");
  EXPECT_EQ(trusted.size(), 4u);
  auto contains = [&](absl::string_view text) {
    return trusted.Contains(*IpAddress::Parse(text));
  };
  EXPECT_TRUE(contains("10.255.0.1"));
  EXPECT_FALSE(contains("11.0.0.1"));
  EXPECT_TRUE(contains("192.0.2.1"));
  EXPECT_FALSE(contains("192.0.2.2"));
  EXPECT_TRUE(contains("fd12:3456::1"));
  EXPECT_FALSE(contains("fe80::1"));
  EXPECT_TRUE(contains("198.51.100.1"));  // host bits of 198.51.100.77/24 ignored
  EXPECT_TRUE(Trust("0.0.0.0/0").Contains(*IpAddress::Parse("203.0.113.1")));
  EXPECT_FALSE(Trust("0.0.0.0/0").Contains(*IpAddress::Parse("::1")));
  EXPECT_TRUE(Trust("").empty());
}

TEST(TrustedProxies, ABadEntryIsRefusedByName) {
  for (absl::string_view bad : {"10.0.0.0/33", "10.0.0/8", "2001:db8::/129", "proxy.local",
                                "10.0.0.0/x", "10.0.0.0/"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<TrustedProxies> trusted =
        TrustedProxies::Parse(absl::StrCat("10.1.0.0/16,", bad));
    ASSERT_FALSE(trusted.ok());
    EXPECT_EQ(trusted.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(trusted.status().message(), bad)) << trusted.status();
  }
}

}  // namespace
}  // namespace securelink::invitations::web
