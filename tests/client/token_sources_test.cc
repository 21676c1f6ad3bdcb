// ClientCredentialsToken against the Keycloak stand-in's token endpoint (Keycloak's paths,
// bodies and status codes, with the realm deploy/keycloak ships): a token is fetched once and
// reused, fetched again ahead of its expiry, and a refused or unreachable endpoint is a clear
// error that never carries the secret.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/token_sources.h"
#include "tests/keycloak/keycloak_standin.h"
#include "tests/support/wait.h"

namespace securelink::invitations::client {
namespace {

using ::securelink::testing::KeycloakStandin;
using ::securelink::testing::KeycloakStandinOptions;
using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<KeycloakStandin> StartStandin(int token_lifetime_seconds) {
  KeycloakStandinOptions options;
  options.token_lifetime_seconds = token_lifetime_seconds;
  absl::StatusOr<std::unique_ptr<KeycloakStandin>> standin = KeycloakStandin::Start(options);
  EXPECT_TRUE(standin.ok()) << standin.status();
  return standin.ok() ? *std::move(standin) : nullptr;
}

ClientCredentialsOptions CredentialsFor(const KeycloakStandin& keycloak) {
  ClientCredentialsOptions options;
  options.token_url = absl::StrCat(keycloak.base_url(), "/realms/", keycloak.options().realm,
                                   "/protocol/openid-connect/token");
  options.client_id = keycloak.options().client_id;
  options.client_secret = keycloak.options().client_secret;
  return options;
}

TEST(ClientCredentialsToken, OneTokenServesEveryCallUntilItIsDueForRefresh) {
  std::unique_ptr<KeycloakStandin> keycloak = StartStandin(300);
  ASSERT_NE(keycloak, nullptr);
  TokenSource source = ClientCredentialsToken(CredentialsFor(*keycloak));
  absl::StatusOr<std::string> first = source();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->empty());
  absl::StatusOr<std::string> second = source();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first);
}

TEST(ClientCredentialsToken, ATokenIsReplacedAheadOfItsExpiry) {
  // 2 s tokens and a 30 s margin: the first token serves the calls of its first second (half
  // its life, however long the margin), then a new one is fetched.
  std::unique_ptr<KeycloakStandin> keycloak = StartStandin(2);
  ASSERT_NE(keycloak, nullptr);
  ClientCredentialsOptions options = CredentialsFor(*keycloak);
  options.refresh_before_expiry = absl::Seconds(30);
  TokenSource source = ClientCredentialsToken(options);
  const absl::Time fetched = absl::Now();
  absl::StatusOr<std::string> first = source();
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> next = source();
  ASSERT_TRUE(next.ok()) << next.status();
  if (absl::Now() - fetched < absl::Seconds(1)) EXPECT_EQ(*next, *first);
  ASSERT_TRUE(::securelink::testing::WaitFor(
      [&] {
        next = source();
        return next.ok() && *next != *first;
      },
      absl::Seconds(10)));
}

TEST(ClientCredentialsToken, AWrongSecretIsUnauthenticatedAndTheSecretIsNeverShown) {
  std::unique_ptr<KeycloakStandin> keycloak = StartStandin(300);
  ASSERT_NE(keycloak, nullptr);
  ClientCredentialsOptions options = CredentialsFor(*keycloak);
  options.client_secret = "wrong-secret-d0f1c2";
  const absl::Status status = ClientCredentialsToken(options)().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(options.token_url));
  EXPECT_THAT(std::string(status.message()), HasSubstr("401"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("wrong-secret-d0f1c2")));
}

TEST(ClientCredentialsToken, AnUnreachableEndpointIsUnavailable) {
  ClientCredentialsOptions options;
  options.token_url = "http://127.0.0.1:1/realms/securelink/protocol/openid-connect/token";
  options.client_id = "securelink-invitations";
  options.client_secret = "s3cret-never-shown";
  const absl::Status status = ClientCredentialsToken(options)().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("s3cret-never-shown")));
}

}  // namespace
}  // namespace securelink::invitations::client
