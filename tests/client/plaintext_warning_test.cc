// The client's warning that a bearer token is about to cross the network in plaintext: through
// the sink a caller installs, once per client, never carrying the token; and silent for loopback
// targets (which the fake server on 127.0.0.1 proves reachable), TLS, or no token at all.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fake_invitation_service.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "securelink/invitations/client.h"

namespace securelink::invitations::client {
namespace {

using ::securelink::invitations::testing::FakeInvitationService;
using ::securelink::invitations::testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kToken[] = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl";
// TEST-NET-1 (RFC 5737): never a real host, so nothing here sends the token anywhere.
constexpr char kRemoteTarget[] = "ipv4:192.0.2.1:50051";

class PlaintextTokenWarningTest : public ::testing::Test {
 protected:
  ClientOptions Options(std::string target) {
    ClientOptions options;
    options.target = std::move(target);
    options.bearer_token = kToken;
    options.deadline = absl::Milliseconds(200);
    options.retry.max_attempts = 1;
    options.warning_sink = [this](absl::string_view warning) { warnings_.emplace_back(warning); };
    return options;
  }

  std::vector<std::string> warnings_;
};

TEST_F(PlaintextTokenWarningTest, WarnsOnceWhenATokenWouldTravelInPlaintextToARemoteTarget) {
  InvitationClient client(Options(kRemoteTarget));
  // Calls add no second warning (they fail: nothing answers there).
  (void)client.GetInvitation({});
  (void)client.GetInvitation({});
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr(absl::StrCat("\"", kRemoteTarget, "\"")));
  EXPECT_THAT(warnings_[0], HasSubstr("without TLS"));
  EXPECT_THAT(warnings_[0], Not(HasSubstr(kToken)));
}

TEST_F(PlaintextTokenWarningTest, EachClientWarnsForItself) {
  InvitationClient first(Options(kRemoteTarget));
  InvitationClient second(Options("dns:///invitations.internal:50051"));
  ASSERT_EQ(warnings_.size(), 2u);
  EXPECT_THAT(warnings_[1], HasSubstr("dns:///invitations.internal:50051"));
}

TEST_F(PlaintextTokenWarningTest, LoopbackTargetsAreServedWithoutAWarning) {
  FakeInvitationService service;
  FakeServer server(&service);
  const std::string port = std::to_string(server.port());
  for (const std::string& target :
       {server.address(), absl::StrCat("ipv4:127.0.0.1:", port),
        absl::StrCat("dns:///127.0.0.1:", port)}) {
    InvitationClient client(Options(target));
    const absl::StatusOr<v1::GetInvitationResponse> response = client.GetInvitation({});
    EXPECT_TRUE(response.ok()) << target << ": " << response.status();
    EXPECT_EQ(service.LastAuthorization(), absl::StrCat("Bearer ", kToken)) << target;
  }
  // Decided when the client is made, before any lookup: no call needed (and c-ares, which would
  // resolve "localhost", keeps an allocation LeakSanitizer reports).
  for (const char* target : {"localhost:50051", "[::1]:50051", "unix:/run/invitations.sock"}) {
    InvitationClient client(Options(target));
  }
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(PlaintextTokenWarningTest, NoWarningWithoutAToken) {
  ClientOptions options = Options(kRemoteTarget);
  options.bearer_token.clear();
  InvitationClient client(options);
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(PlaintextTokenWarningTest, NoWarningWithTlsCredentials) {
  ClientOptions options = Options(kRemoteTarget);
  options.credentials = grpc::SslCredentials(grpc::SslCredentialsOptions());
  InvitationClient client(options);
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(PlaintextTokenWarningTest, NoWarningForAChannelTheCallerBuilt) {
  // The client cannot see how a ready-made channel is secured; its maker chose.
  ClientOptions options = Options(kRemoteTarget);
  options.channel = grpc::CreateChannel(kRemoteTarget, grpc::InsecureChannelCredentials());
  InvitationClient client(options);
  EXPECT_THAT(warnings_, IsEmpty());
}

TEST_F(PlaintextTokenWarningTest, ANullSinkSilencesTheWarning) {
  ClientOptions options = Options(kRemoteTarget);
  options.warning_sink = nullptr;
  ::testing::internal::CaptureStderr();
  { InvitationClient client(options); }
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              Not(HasSubstr("securelink-invitations-client")));
}

TEST_F(PlaintextTokenWarningTest, TheDefaultSinkWritesOneLineToStderr) {
  ClientOptions options = Options(kRemoteTarget);
  options.warning_sink = ClientOptions().warning_sink;
  ::testing::internal::CaptureStderr();
  { InvitationClient client(options); }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(printed, ::testing::StartsWith("securelink-invitations-client: warning: "));
  EXPECT_THAT(printed, ::testing::EndsWith("\n"));
  EXPECT_EQ(printed.find('\n'), printed.size() - 1) << printed;
  EXPECT_THAT(printed, HasSubstr(kRemoteTarget));
  EXPECT_THAT(printed, Not(HasSubstr(kToken)));
}

}  // namespace
}  // namespace securelink::invitations::client
