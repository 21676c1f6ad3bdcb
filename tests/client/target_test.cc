// Which gRPC targets keep a bearer token on this machine, and when the client warns that one
// would not.
#include "target.h"

#include <string>

#include "gtest/gtest.h"
#include "grpcpp/security/credentials.h"

namespace securelink::invitations::client::internal {
namespace {

TEST(IsLoopbackTargetTest, LoopbackAddressesAndLocalSocketsInEveryTargetForm) {
  for (const char* target : {
           "127.0.0.1:50051", "127.1.2.3:1", "localhost:50051", "LocalHost:50051", "localhost",
           "127.0.0.1", "[::1]:50051", "[::1]", "::1", "[0:0:0:0:0:0:0:1]:50051",
           "[::ffff:127.0.0.1]:50051", "dns:///localhost:443", "dns:///127.0.0.1:50051",
           "dns:///[::1]:50051", "dns:localhost:50051", "dns://8.8.8.8/127.0.0.1:50051",
           "ipv4:127.0.0.1:50051", "ipv4:127.0.0.1:1,127.0.0.2:2", "ipv4:///127.0.0.1:50051",
           "ipv6:[::1]:50051", "ipv6:[::1]:1,[::ffff:127.0.0.9]:2", "unix:/run/invitations.sock",
           "unix:///run/invitations.sock", "unix:relative.sock", "unix-abstract:invitations",
       }) {
    EXPECT_TRUE(IsLoopbackTarget(target)) << target;
  }
}

TEST(IsLoopbackTargetTest, EverythingElseCountsAsRemote) {
  for (const char* target : {
           // Other hosts, by name or address.
           "dns:///host:443", "dns:///invitations.internal:443", "invitations.internal:50051",
           "ipv4:10.0.0.1:50051", "10.0.0.1:50051", "128.0.0.1:50051", "[::2]:50051",
           "ipv6:[fe80::1]:50051", "[::ffff:10.0.0.1]:50051", "0.0.0.0:50051",
           // Names that only look local.
           "localhost.example.com:50051", "mylocalhost:50051", "127.0.0.1.example.com:50051",
           "localhost.:50051",
           // One remote address in a list makes the list remote.
           "ipv4:127.0.0.1:1,10.0.0.1:2", "ipv6:[::1]:1,[2001:db8::1]:2",
           // "localhost" answered by a DNS server of the caller's choosing.
           "dns://8.8.8.8/localhost:443",
           // Schemes whose addresses come from elsewhere, and the wrong literal for a scheme.
           "xds:///invitations", "vsock:2:50051", "ipv4:[::1]:50051", "ipv6:127.0.0.1:50051",
           // Malformed: in doubt, remote.
           "", "dns:///", "ipv4:", "unix:", "127.0.0.1:", "127.0.0.1:http", "[::1]x",
           "[::1", "127.0.0.1x:50051", "ipv4:127.0.0.1:1,,", "DNS:///localhost:443",
       }) {
    EXPECT_FALSE(IsLoopbackTarget(target)) << target;
  }
}

constexpr char kToken[] = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl";

ClientOptions WithToken(std::string target) {
  ClientOptions options;
  options.target = std::move(target);
  options.bearer_token = kToken;
  return options;
}

TEST(PlaintextTokenWarningRuleTest, NamesTheTargetButNeverTheToken) {
  const std::optional<std::string> warning =
      PlaintextTokenWarning(WithToken("dns:///invitations.internal:50051"));
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("\"dns:///invitations.internal:50051\""), std::string::npos)
      << *warning;
  EXPECT_EQ(warning->find(kToken), std::string::npos) << *warning;
  EXPECT_EQ(warning->find('\n'), std::string::npos) << *warning;
}

TEST(PlaintextTokenWarningRuleTest, OnlyForATokenInPlaintextToARemoteTarget) {
  EXPECT_TRUE(PlaintextTokenWarning(WithToken("ipv4:10.0.0.1:50051")).has_value());
  EXPECT_FALSE(PlaintextTokenWarning(WithToken("127.0.0.1:50051")).has_value());

  ClientOptions no_token = WithToken("ipv4:10.0.0.1:50051");
  no_token.bearer_token.clear();
  EXPECT_FALSE(PlaintextTokenWarning(no_token).has_value());

  ClientOptions tls = WithToken("ipv4:10.0.0.1:50051");
  tls.credentials = grpc::SslCredentials(grpc::SslCredentialsOptions());
  EXPECT_FALSE(PlaintextTokenWarning(tls).has_value());
}

TEST(PlaintextTokenWarningRuleTest, ATargetWithLineBreaksStaysOneLine) {
  const std::optional<std::string> warning =
      PlaintextTokenWarning(WithToken("evil\nsecurelink-invitations-client: all clear"));
  ASSERT_TRUE(warning.has_value());
  EXPECT_EQ(warning->find('\n'), std::string::npos) << *warning;
}

}  // namespace
}  // namespace securelink::invitations::client::internal
