// invitectl run in-process against the fake server: what each command prints and its exit code.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "fake_invitation_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace securelink::invitations::invitectl {
namespace {

using ::securelink::invitations::testing::FakeInvitationService;
using ::securelink::invitations::testing::FakeServer;
using ::testing::HasSubstr;
using ::testing::Not;

class InvitectlTest : public ::testing::Test {
 protected:
  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  // Runs invitectl with INVITATIONS_ADDRESS pointing at the fake server.
  Result Invitectl(std::vector<std::string> argv) {
    Environment env;
    env.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    env.read_file = [this](const std::string& path) -> absl::StatusOr<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return absl::NotFoundError("cannot read " + path);
      return it->second;
    };
    env.stderr_is_tty = stderr_is_tty_;
    env.stdout_is_tty = stderr_is_tty_;
    std::ostringstream out, err;
    const int code = invitectl::Run(argv, env, out, err);
    return {code, out.str(), err.str()};
  }

  void CreateSome(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(Invitectl({"create", "--email", "user" + std::to_string(i) + "@example.com",
                           "--role", "vpn-user", "--tenant", "acme"})
                    .code,
                0);
    }
  }

  FakeInvitationService service_;
  FakeServer server_{&service_};
  std::map<std::string, std::string> env_{{"INVITATIONS_ADDRESS", server_.address()}};
  std::map<std::string, std::string> files_;
  bool stderr_is_tty_ = false;
};

TEST_F(InvitectlTest, CreatePrintsTheInvitationAndItsUrlWithTheEnvironmentsToken) {
  env_["INVITATIONS_TOKEN"] = "tok-from-env";
  const Result r = Invitectl(
      {"create", "--email", "ada@example.com", "--role", "tenant-admin", "--tenant", "acme"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("email:       ada@example.com\n"));
  EXPECT_THAT(r.out, HasSubstr("role:        tenant-admin\n"));
  EXPECT_THAT(r.out, HasSubstr("registration_url: https://register.example/?token=tok-inv-1\n"));
  EXPECT_EQ(service_.LastAuthorization(), "Bearer tok-from-env");
}

TEST_F(InvitectlTest, TokenFlagOverridesTheEnvironment) {
  env_["INVITATIONS_TOKEN"] = "tok-from-env";
  ASSERT_EQ(Invitectl({"get", "inv-1", "--token", "tok-flag"}).code, kExitOk);
  EXPECT_EQ(service_.LastAuthorization(), "Bearer tok-flag");
}

TEST_F(InvitectlTest, TokenFileIsReadForEachCallAndAfterItChanges) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/invitectl-token-", absl::ToUnixNanos(absl::Now()));
  std::ofstream(path) << "tok-from-file\n";
  ASSERT_EQ(Invitectl({"get", "inv-1", "--token-file", path}).code, kExitOk);
  EXPECT_EQ(service_.LastAuthorization(), "Bearer tok-from-file");
  std::ofstream(path, std::ios::trunc) << "tok-refreshed-by-a-sidecar\n";
  env_["INVITATIONS_TOKEN_FILE"] = path;  // the environment's way to name it
  ASSERT_EQ(Invitectl({"get", "inv-1"}).code, kExitOk);
  EXPECT_EQ(service_.LastAuthorization(), "Bearer tok-refreshed-by-a-sidecar");
  std::remove(path.c_str());
  const Result missing = Invitectl({"get", "inv-1", "--token-file", path});
  EXPECT_EQ(missing.code, kExitRpcError);
  EXPECT_THAT(missing.err, HasSubstr(path));
}

TEST_F(InvitectlTest, TokenSourcesExcludeEachOtherAndTheSecretNeverGoesOnTheCommandLine) {
  EXPECT_EQ(Invitectl({"get", "inv-1", "--token", "t", "--token-file", "/x"}).code, kExitUsage);
  EXPECT_EQ(Invitectl({"get", "inv-1", "--client-id", "c"}).code, kExitUsage);
  const Result no_secret = Invitectl({"get", "inv-1", "--token-url",
                                      "http://127.0.0.1:1/token", "--client-id", "svc"});
  EXPECT_EQ(no_secret.code, kExitUsage);
  EXPECT_THAT(no_secret.err, HasSubstr("INVITATIONS_CLIENT_SECRET"));
  EXPECT_EQ(service_.Calls("GetInvitation"), 0);
  // With a secret but an endpoint that is down: the call is not sent, and may pass later.
  env_["INVITATIONS_CLIENT_SECRET"] = "svc-secret-7f3a";
  const Result down = Invitectl({"get", "inv-1", "--token-url", "http://127.0.0.1:1/token",
                                 "--client-id", "svc"});
  EXPECT_EQ(down.code, kExitRetryLater);
  EXPECT_THAT(down.err, Not(HasSubstr("svc-secret-7f3a")));
  EXPECT_EQ(service_.Calls("GetInvitation"), 0);
}

TEST_F(InvitectlTest, AddressFlagOverridesTheEnvironment) {
  env_["INVITATIONS_ADDRESS"] = "127.0.0.1:1";
  EXPECT_EQ(Invitectl({"get", "inv-1"}).code, kExitRetryLater);
  EXPECT_EQ(Invitectl({"get", "inv-1", "--address", server_.address()}).code, kExitOk);
}

TEST_F(InvitectlTest, RpcErrorsPrintCodeReasonAndViolationsAndExitOne) {
  Result r = Invitectl(
      {"create", "--email", "taken@example.com", "--role", "vpn-user", "--tenant", "acme"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_EQ(r.err,
            "error: ALREADY_EXISTS: an active invitation exists for taken@example.com\n"
            "  reason: ACTIVE_INVITATION_EXISTS (invitation_id=inv-taken)\n");
  EXPECT_EQ(r.out, "");

  r = Invitectl({"create", "--email", "nope", "--role", "vpn-user", "--tenant", "acme"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_EQ(r.err,
            "error: INVALID_ARGUMENT: email \"nope\" is not an email address\n"
            "  field email: must contain exactly one '@'\n");
}

// A script tells "try again later" (4) from "refused" (1) by the exit code alone.
TEST_F(InvitectlTest, FailuresThatMayPassLaterExitFourRefusalsExitOne) {
  const std::vector<std::pair<grpc::StatusCode, int>> cases = {
      {grpc::StatusCode::UNAVAILABLE, kExitRetryLater},
      {grpc::StatusCode::DEADLINE_EXCEEDED, kExitRetryLater},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, kExitRetryLater},
      {grpc::StatusCode::ABORTED, kExitRpcError},  // a stale etag: read again first
      {grpc::StatusCode::NOT_FOUND, kExitRpcError},
      {grpc::StatusCode::PERMISSION_DENIED, kExitRpcError},
      {grpc::StatusCode::FAILED_PRECONDITION, kExitRpcError},
      {grpc::StatusCode::UNAUTHENTICATED, kExitRpcError},
  };
  for (const auto& [code, exit_code] : cases) {
    // More failures than the client's attempts, so the last one is what invitectl sees.
    service_.FailNext("GetInvitation", 10, grpc::Status(code, "as the test says"));
    const Result r = Invitectl({"get", "inv-1"});
    EXPECT_EQ(r.code, exit_code) << code << ": " << r.err;
    service_.FailNext("GetInvitation", 0, grpc::Status::OK);
  }
}

TEST_F(InvitectlTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Invitectl({}).code, kExitUsage);
  EXPECT_EQ(Invitectl({"create", "--role", "vpn-user"}).code, kExitUsage);
  const Result r = Invitectl({"revoke"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: `revoke` needs ID (see `invitectl revoke --help`)\n");
  EXPECT_EQ(service_.Calls("RevokeInvitation"), 0);
}

TEST_F(InvitectlTest, HelpPrintsUsageAndExitsZero) {
  Result r = Invitectl({"help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("usage: invitectl COMMAND"));
  r = Invitectl({"bulk", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("--validate-only"));
  r = Invitectl({"help", "accept"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("--password-file FILE"));
}

TEST_F(InvitectlTest, ListPrintsATableNewestFirst) {
  CreateSome(3);
  const Result r = Invitectl({"list"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  std::istringstream lines(r.out);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(header.substr(0, 5), "STATE");
  EXPECT_THAT(header, HasSubstr("EMAIL"));
  EXPECT_THAT(header, HasSubstr("EXPIRES"));
  EXPECT_THAT(first, HasSubstr("pending  user2@example.com  vpn-user  acme"));
  EXPECT_THAT(first, HasSubstr("inv-3"));
  EXPECT_EQ(r.err, "3 of 3 invitations\n");
}

TEST_F(InvitectlTest, ListPagesAndAllFollowsTokens) {
  CreateSome(5);
  Result r = Invitectl({"list", "--page-size", "2"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.err, "2 of 5 invitations; next page: --page-token o2 (or --all)\n");
  r = Invitectl({"list", "--page-size", "2", "--page-token", "o4"});
  EXPECT_EQ(r.err, "1 of 5 invitations\n");
  r = Invitectl({"list", "--page-size", "2", "--all"});
  EXPECT_EQ(r.err, "5 of 5 invitations\n");
  EXPECT_EQ(service_.Calls("ListInvitations"), 5);
}

TEST_F(InvitectlTest, ListJsonIsProtobufJson) {
  CreateSome(2);
  const Result r = Invitectl({"list", "--json", "--state", "pending"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"invitations\": ["));
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"INVITATION_STATE_PENDING\""));
  EXPECT_THAT(r.out, HasSubstr("\"totalSize\": 2"));
}

TEST_F(InvitectlTest, GetResendRevoke) {
  CreateSome(1);
  Result r = Invitectl({"resend", "inv-1", "--ttl", "48h"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("registration_url: https://register.example/?token=tok2-inv-1"));
  r = Invitectl({"revoke", "inv-1", "--reason", "left the company"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state:         revoked\n"));
  EXPECT_THAT(r.out, HasSubstr("revoke_reason: left the company\n"));
  r = Invitectl({"get", "inv-1", "--json"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("\"state\": \"INVITATION_STATE_REVOKED\""));
  r = Invitectl({"get", "missing"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("error: NOT_FOUND: no invitation missing\n"));
}

TEST_F(InvitectlTest, ValidateShowsTheInvitationOrWhyTheLinkIsDead) {
  Result r = Invitectl({"validate", "good-token"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.out, HasSubstr("email: someone@example.com\n"));
  r = Invitectl({"validate", "expired"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_EQ(r.err,
            "error: FAILED_PRECONDITION: this invitation has expired\n"
            "  reason: INVITATION_EXPIRED (invitation_id=inv-old)\n");
}

TEST_F(InvitectlTest, AcceptReadsThePasswordFromAFile) {
  files_["pw.txt"] = "correct horse battery staple\n";
  const Result r = Invitectl({"accept", "tok", "--password-file", "pw.txt", "--first-name", "Ada",
                              "--last-name", "Lovelace"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("account_user_id: kc-user-1\n"));
  EXPECT_EQ(service_.LastAccept().password(), "correct horse battery staple");
  EXPECT_EQ(service_.LastAccept().first_name(), "Ada");
}

TEST_F(InvitectlTest, BulkStreamsResultsThenTheSummary) {
  files_["list.txt"] = "a@x.io\nb@x.io; c@x.io\n";
  const Result r = Invitectl({"bulk", "--text", "list.txt", "--role", "vpn-user", "--tenant", "t"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "     1  created            a@x.io  inv-b1\n"
            "     2  created            b@x.io  inv-b2\n"
            "     3  created            c@x.io  inv-b3\n"
            "total 3: created 3, skipped 0, invalid 0, failed 0\n");
  EXPECT_EQ(r.err, "");  // no progress bar off a terminal
}

TEST_F(InvitectlTest, BulkWithInvalidOrFailedAddressesExitsThree) {
  Result r =
      Invitectl({"bulk", "--emails", "a@x.io,nope,a@x.io", "--role", "vpn-user", "--tenant", "t"});
  EXPECT_EQ(r.code, kExitBulkIncomplete);
  EXPECT_THAT(r.out, HasSubstr("invalid-email"));
  EXPECT_THAT(r.out, HasSubstr("skipped-duplicate"));
  EXPECT_THAT(r.out, HasSubstr("total 3: created 1, skipped 1, invalid 1, failed 0\n"));
  r = Invitectl({"bulk", "--emails", "fail@x.io", "--role", "vpn-user", "--tenant", "t"});
  EXPECT_EQ(r.code, kExitBulkIncomplete);
  // Skipped addresses alone are not a failure.
  r = Invitectl({"bulk", "--emails", "a@x.io,a@x.io", "--role", "vpn-user", "--tenant", "t"});
  EXPECT_EQ(r.code, kExitOk);
}

TEST_F(InvitectlTest, BulkDrawsAProgressBarOnATerminal) {
  stderr_is_tty_ = true;
  const Result r =
      Invitectl({"bulk", "--emails", "a@x.io,b@x.io", "--role", "vpn-user", "--tenant", "t"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_THAT(r.err, HasSubstr("\r[##############################] 2/2 100%  created 2"));
  // The bar is erased before the summary.
  EXPECT_EQ(r.err.substr(r.err.size() - 4), "\r\033[K");
}

TEST_F(InvitectlTest, BulkJsonIsOneResponsePerLine) {
  const Result r =
      Invitectl({"bulk", "--emails", "a@x.io", "--role", "vpn-user", "--tenant", "t", "--json"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out,
            "{\"result\":{\"input\":\"a@x.io\",\"email\":\"a@x.io\",\"line\":1,"
            "\"outcome\":\"BULK_INVITE_OUTCOME_CREATED\",\"invitationId\":\"inv-b1\"}}\n"
            "{\"summary\":{\"total\":1,\"created\":1}}\n");
}

TEST_F(InvitectlTest, BulkRequestErrorExitsOne) {
  const Result r =
      Invitectl({"bulk", "--emails", "a@x.io,b@x.io", "--role", "vpn-user", "--tenant", "boom"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("1 results received before the error\n"));
  EXPECT_THAT(r.err, HasSubstr("error: INTERNAL: database went away\n"));
}

TEST_F(InvitectlTest, ServicesListsWhatReflectionReports) {
  const Result r = Invitectl({"services"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "grpc.reflection.v1alpha.ServerReflection\n"
            "securelink.invitations.v1.InvitationService\n");
}

// --- a bearer token over plaintext ----------------------------------------------------------

// TEST-NET-1 (RFC 5737): no host answers there, so the token goes nowhere.
constexpr char kRemoteAddress[] = "ipv4:192.0.2.1:50051";
constexpr char kSecretToken[] = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl";

TEST_F(InvitectlTest, WarnsOnStderrWhenTheTokenWouldTravelInPlaintextToARemoteAddress) {
  env_["INVITATIONS_TOKEN"] = kSecretToken;
  const Result r =
      Invitectl({"get", "inv-1", "--json", "--address", kRemoteAddress, "--deadline", "200ms"});
  EXPECT_EQ(r.code, kExitRetryLater);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, ::testing::StartsWith(
                         "warning: the bearer token is sent without TLS to "
                         "\"ipv4:192.0.2.1:50051\", which is not a loopback address"));
  EXPECT_THAT(r.err, HasSubstr("(--tls or --ca-file)\n"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr(kSecretToken)));
}

TEST_F(InvitectlTest, NoWarningForTheLocalServerAndStdoutCarriesOnlyTheResult) {
  env_["INVITATIONS_TOKEN"] = kSecretToken;
  const Result r = Invitectl({"get", "inv-1", "--json"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, ::testing::StartsWith("{"));
  EXPECT_EQ(service_.LastAuthorization(), absl::StrCat("Bearer ", kSecretToken));
}

TEST_F(InvitectlTest, NoWarningWithTlsOrWithoutAToken) {
  const Result tls = Invitectl({"get", "inv-1", "--address", kRemoteAddress, "--tls", "--token",
                                kSecretToken, "--deadline", "200ms"});
  EXPECT_EQ(tls.code, kExitRetryLater);
  EXPECT_THAT(tls.err, ::testing::Not(HasSubstr("warning")));
  const Result no_token =
      Invitectl({"get", "inv-1", "--address", kRemoteAddress, "--deadline", "200ms"});
  EXPECT_EQ(no_token.code, kExitRetryLater);
  EXPECT_THAT(no_token.err, ::testing::Not(HasSubstr("warning")));
}

TEST_F(InvitectlTest, TlsFlagsThatCannotWorkAreUsageErrors) {
  files_["client.pem"] = "-----BEGIN CERTIFICATE-----\n";
  Result r = Invitectl({"health", "--cert-file", "client.pem"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: --cert-file and --key-file go together\n");
  r = Invitectl({"health", "--tls-server-name", "invitation-server.securelink.svc"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: --tls-server-name needs TLS (--tls or --ca-file)\n");
  r = Invitectl({"health", "--ca-file", "missing.pem"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "error: --ca-file: cannot read missing.pem\n");
}

}  // namespace
}  // namespace securelink::invitations::invitectl
