// JwtVerifier: RS256 bearer tokens as Keycloak issues them are accepted and their claims read;
// every forged, tampered, misdirected or stale token is UNAUTHENTICATED without echoing it.
#include "server/auth/jwt_verifier.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/base64url.h"
#include "server/domain/clock.h"
#include "server/domain/errors.h"
#include "tests/auth/jwt_test_keys.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations {
namespace {

using ::securelink::testing::B64;
using ::securelink::testing::B64Json;
using ::securelink::testing::IsOk;
using ::securelink::testing::Json;
using ::securelink::testing::KeycloakClaims;
using ::securelink::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Keys by kid, as a JWKS would hold them; lookups never fetch.
class FixedKeySource : public KeySource {
 public:
  explicit FixedKeySource(std::map<std::string, std::shared_ptr<EVP_PKEY>> keys)
      : keys_(std::move(keys)) {}
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFor(absl::string_view kid) override {
    auto it = keys_.find(std::string(kid));
    if (it == keys_.end()) return absl::NotFoundError("unknown kid");
    return it->second;
  }

 private:
  std::map<std::string, std::shared_ptr<EVP_PKEY>> keys_;
};

class UnavailableKeySource : public KeySource {
 public:
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFor(absl::string_view) override {
    return absl::UnavailableError("JWKS http://idp.test/certs: connection refused");
  }
};

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new std::shared_ptr<EVP_PKEY>(testing::GenerateRsaKey());
    other_key_ = new std::shared_ptr<EVP_PKEY>(testing::GenerateRsaKey());
  }
  static void TearDownTestSuite() {
    delete key_;
    delete other_key_;
  }

  JwtVerifierTest()
      : clock_(absl::FromUnixSeconds(1'700'000'000)),
        verifier_(std::make_shared<FixedKeySource>(
                      std::map<std::string, std::shared_ptr<EVP_PKEY>>{{"k1", *key_}}),
                  JwtOptions{testing::kIssuer, testing::kAudience, absl::Seconds(30)}, clock_) {}

  static EVP_PKEY* key() { return key_->get(); }
  static EVP_PKEY* other_key() { return other_key_->get(); }
  static Json Header(absl::string_view kid = "k1") {
    return Json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", std::string(kid)}};
  }
  Json Claims() const { return KeycloakClaims(clock_.Now()); }
  std::string Sign(const Json& claims) const { return testing::SignRs256(Header(), claims, key()); }

  // Asserts UNAUTHENTICATED whose message mentions `why` and repeats no part of `token`.
  void ExpectRejected(const std::string& token, absl::string_view why,
                      absl::string_view reason = kReasonAuthTokenInvalid) const {
    absl::StatusOr<VerifiedToken> result = verifier_.Verify(token);
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(std::string(why)));
    EXPECT_EQ(ReasonOf(result.status()), reason);
    ExpectNoPartOfTokenIn(result.status(), token);
  }

  static void ExpectNoPartOfTokenIn(const absl::Status& status, const std::string& token) {
    std::string message(status.message());
    if (token.size() >= 8) {
      EXPECT_THAT(message, Not(HasSubstr(token)));
    }
    for (absl::string_view part : absl::StrSplit(token, '.')) {
      if (part.size() >= 8) {
        EXPECT_THAT(message, Not(HasSubstr(std::string(part))));
      }
    }
  }

  static std::shared_ptr<EVP_PKEY>* key_;
  static std::shared_ptr<EVP_PKEY>* other_key_;
  ManualClock clock_;
  JwtVerifier verifier_;
};

std::shared_ptr<EVP_PKEY>* JwtVerifierTest::key_ = nullptr;
std::shared_ptr<EVP_PKEY>* JwtVerifierTest::other_key_ = nullptr;

TEST_F(JwtVerifierTest, ValidKeycloakTokenYieldsItsClaims) {
  absl::StatusOr<VerifiedToken> token = verifier_.Verify(Sign(Claims()));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->subject, "0b8e6f4c-2f0e-4a8e-9d56-1d5b2c3f4a5e");
  EXPECT_EQ(token->preferred_username, "alice");
  EXPECT_THAT(token->realm_roles, ElementsAre("offline_access", "securelink-super-admin"));
  EXPECT_EQ(token->tenant_id, "acme");
  EXPECT_EQ(token->expires, clock_.Now() + absl::Seconds(300));
}

TEST_F(JwtVerifierTest, OptionalClaimsMayBeAbsent) {
  Json claims = Claims();
  claims.erase("preferred_username");
  claims.erase("realm_access");
  claims.erase("tenant_id");
  claims.erase("typ");
  absl::StatusOr<VerifiedToken> token = verifier_.Verify(Sign(claims));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->preferred_username, "");
  EXPECT_TRUE(token->realm_roles.empty());
  EXPECT_EQ(token->tenant_id, "");
}

TEST_F(JwtVerifierTest, AudienceMayBeAnArrayContainingOurs) {
  Json claims = Claims();
  claims["aud"] = {"account", testing::kAudience};
  EXPECT_THAT(verifier_.Verify(Sign(claims)), IsOk());
}

TEST_F(JwtVerifierTest, AudienceArrayWithoutOursIsRejected) {
  Json claims = Claims();
  claims["aud"] = {"account", "another-service"};
  ExpectRejected(Sign(claims), "aud");
}

TEST_F(JwtVerifierTest, AudienceStringOfAnotherServiceIsRejected) {
  Json claims = Claims();
  claims["aud"] = "account";
  ExpectRejected(Sign(claims), "aud");
}

TEST_F(JwtVerifierTest, MissingAudienceIsRejected) {
  Json claims = Claims();
  claims.erase("aud");
  ExpectRejected(Sign(claims), "aud");
}

TEST_F(JwtVerifierTest, WrongIssuerIsRejected) {
  Json claims = Claims();
  claims["iss"] = "https://idp.test/realms/other";
  ExpectRejected(Sign(claims), "issuer");
  claims["iss"] = std::string(testing::kIssuer) + "/";
  ExpectRejected(Sign(claims), "issuer");
  claims.erase("iss");
  ExpectRejected(Sign(claims), "issuer");
}

TEST_F(JwtVerifierTest, AlgNoneIsRejected) {
  Json header = {{"alg", "none"}, {"typ", "JWT"}, {"kid", "k1"}};
  std::string unsigned_token = B64Json(header) + "." + B64Json(Claims()) + ".";
  ExpectRejected(unsigned_token, "algorithm");
  // Even carrying a signature that is valid for the same payload under RS256.
  std::string valid = Sign(Claims());
  std::string none_with_sig =
      B64Json(header) + "." + B64Json(Claims()) + valid.substr(valid.rfind('.'));
  ExpectRejected(none_with_sig, "algorithm");
  for (const char* spelling : {"None", "NONE", "nOnE"}) {
    header["alg"] = spelling;
    ExpectRejected(B64Json(header) + "." + B64Json(Claims()) + valid.substr(valid.rfind('.')),
                   "algorithm");
  }
}

TEST_F(JwtVerifierTest, Hs256SignedWithThePublicKeyIsRejected) {
  // The classic key-confusion attack: HMAC keyed with the (public) RSA key a naive verifier
  // would feed to its HS256 path.
  Json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "k1"}};
  ExpectRejected(testing::SignHs256(header, Claims(), testing::PublicKeyPem(key())), "algorithm");
  ExpectRejected(testing::SignHs256(header, Claims(), testing::PublicKeyDer(key())), "algorithm");
}

TEST_F(JwtVerifierTest, OtherAlgorithmsAreRejectedEvenWithAValidRs256Signature) {
  for (const char* alg : {"RS384", "RS512", "PS256", "ES256", "rs256", "RS256 ", ""}) {
    Json header = Header();
    header["alg"] = alg;
    std::string input = B64Json(header) + "." + B64Json(Claims());
    std::string token = input + "." + B64(testing::RawRs256Signature(input, key()));
    SCOPED_TRACE(alg);
    ExpectRejected(token, "algorithm");
  }
  Json header = Header();
  header.erase("alg");
  ExpectRejected(testing::SignRs256(header, Claims(), key()), "algorithm");
  header["alg"] = Json::array({"RS256"});
  ExpectRejected(testing::SignRs256(header, Claims(), key()), "algorithm");
}

TEST_F(JwtVerifierTest, TamperedPayloadIsRejected) {
  std::string valid = Sign(Claims());
  std::vector<std::string> parts = absl::StrSplit(valid, '.');
  Json forged = Claims();
  forged["tenant_id"] = "globex";
  std::string token = parts[0] + "." + B64Json(forged) + "." + parts[2];
  ExpectRejected(token, "signature");
}

TEST_F(JwtVerifierTest, TamperedSignatureIsRejected) {
  std::string valid = Sign(Claims());
  std::vector<std::string> parts = absl::StrSplit(valid, '.');
  absl::StatusOr<std::string> sig = Base64UrlDecodeStrict(parts[2]);
  ASSERT_THAT(sig, IsOk());
  std::string flipped = *sig;
  flipped[flipped.size() / 2] ^= 0x01;
  ExpectRejected(parts[0] + "." + parts[1] + "." + B64(flipped), "signature");
  // A truncated or extended signature is refused before any RSA arithmetic.
  ExpectRejected(parts[0] + "." + parts[1] + "." + B64(sig->substr(1)), "signature");
  ExpectRejected(parts[0] + "." + parts[1] + "." + B64(std::string(1, '\0') + *sig), "signature");
}

TEST_F(JwtVerifierTest, TokenSignedByAnUnrelatedKeyIsRejected) {
  ExpectRejected(testing::SignRs256(Header("k1"), Claims(), other_key()), "signature");
}

TEST_F(JwtVerifierTest, UnknownKidIsRejected) {
  ExpectRejected(testing::SignRs256(Header("k2"), Claims(), key()), "unknown key");
  Json no_kid = Header();
  no_kid.erase("kid");
  ExpectRejected(testing::SignRs256(no_kid, Claims(), key()), "unknown key");
}

TEST_F(JwtVerifierTest, NonStringKidIsRejected) {
  Json header = Header();
  header["kid"] = 1;
  ExpectRejected(testing::SignRs256(header, Claims(), key()), "kid");
}

TEST_F(JwtVerifierTest, CriticalHeaderExtensionsAreRejected) {
  Json header = Header();
  header["crit"] = Json::array({"exp"});
  header["exp"] = 1;
  ExpectRejected(testing::SignRs256(header, Claims(), key()), "critical");
}

TEST_F(JwtVerifierTest, MalformedTokensAreRejected) {
  std::string valid = Sign(Claims());
  std::vector<std::string> parts = absl::StrSplit(valid, '.');
  std::string array_header = B64("[\"RS256\"]") + "." + parts[1] + "." + parts[2];
  std::string text_header = B64("RS256") + "." + parts[1] + "." + parts[2];
  std::vector<std::string> tokens = {
      "",
      "abc",
      parts[0] + "." + parts[1],
      valid + "." + parts[2],
      "." + parts[1] + "." + parts[2],
      parts[0] + ".." + parts[2],
      parts[0] + "=." + parts[1] + "." + parts[2],  // padding is not JWS base64url
      parts[0] + "." + parts[1] + "." + parts[2] + "==",
      parts[0] + "." + parts[1] + "." + parts[2].substr(0, parts[2].size() - 1) + "+",
      " " + valid,
      valid + "\n",
      array_header,
      text_header,
      std::string(20000, 'a') + "." + parts[1] + "." + parts[2],
  };
  for (const std::string& token : tokens) {
    SCOPED_TRACE(token.substr(0, 80));
    absl::StatusOr<VerifiedToken> result = verifier_.Verify(token);
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnauthenticated));
    ExpectNoPartOfTokenIn(result.status(), token);
  }
}

TEST_F(JwtVerifierTest, NonCanonicalBase64IsRejected) {
  std::string valid = Sign(Claims());
  std::vector<std::string> parts = absl::StrSplit(valid, '.');
  // The signature of a 2048-bit key is 256 bytes: 342 characters with 4 unused trailing bits.
  // Setting one of them decodes to the same bytes in lenient decoders; it must not verify here.
  ASSERT_EQ(parts[2].size(), 342u);
  std::string last = parts[2].substr(341);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t value = alphabet.find(last[0]);
  ASSERT_EQ(value % 16, 0u);
  std::string sloppy = parts[2].substr(0, 341) + alphabet[value + 1];
  ExpectRejected(parts[0] + "." + parts[1] + "." + sloppy, "malformed");
}

TEST_F(JwtVerifierTest, PayloadThatIsNotAJsonObjectIsRejected) {
  for (const char* payload : {"[1,2]", "\"sub\"", "{\"sub\":", "not json"}) {
    std::string input = B64Json(Header()) + "." + B64(payload);
    std::string token = input + "." + B64(testing::RawRs256Signature(input, key()));
    SCOPED_TRACE(payload);
    ExpectRejected(token, "malformed");
  }
}

TEST_F(JwtVerifierTest, ExpiredWithinLeewayIsStillAccepted) {
  std::string token = Sign(Claims());  // exp = now + 300 s
  clock_.Advance(absl::Seconds(300 + 29));
  EXPECT_THAT(verifier_.Verify(token), IsOk());
}

TEST_F(JwtVerifierTest, ExpiredBeyondLeewayIsRejected) {
  std::string token = Sign(Claims());
  clock_.Advance(absl::Seconds(300 + 30));  // exactly exp + leeway: no longer valid
  ExpectRejected(token, "expired", kReasonAuthTokenExpired);
  clock_.Advance(absl::Hours(24));
  ExpectRejected(token, "expired", kReasonAuthTokenExpired);
}

TEST_F(JwtVerifierTest, ATokenSaysWhenItStopsBeingAcceptedLeewayIncluded) {
  std::string token = Sign(Claims());  // exp = now + 300 s, leeway 30 s
  absl::StatusOr<VerifiedToken> verified = verifier_.Verify(token);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->accepted_until, clock_.Now() + absl::Seconds(300 + 30));
  // The very moment Verify starts refusing it.
  clock_.Set(verified->accepted_until - absl::Nanoseconds(1));
  EXPECT_THAT(verifier_.Verify(token), IsOk());
  clock_.Set(verified->accepted_until);
  ExpectRejected(token, "expired", kReasonAuthTokenExpired);
}

TEST_F(JwtVerifierTest, MissingOrMalformedExpIsRejected) {
  Json claims = Claims();
  claims.erase("exp");
  ExpectRejected(Sign(claims), "expiry");
  claims["exp"] = "1700000300";
  ExpectRejected(Sign(claims), "exp");
  claims["exp"] = 1e300;
  ExpectRejected(Sign(claims), "exp");
  claims["exp"] = 18446744073709551615ull;
  ExpectRejected(Sign(claims), "exp");
}

TEST_F(JwtVerifierTest, FractionalNumericDatesAreAccepted) {
  Json claims = Claims();
  claims["exp"] = absl::ToUnixSeconds(clock_.Now()) + 10.5;
  claims["nbf"] = absl::ToUnixSeconds(clock_.Now()) - 0.25;
  absl::StatusOr<VerifiedToken> token = verifier_.Verify(Sign(claims));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->expires, clock_.Now() + absl::Milliseconds(10500));
}

TEST_F(JwtVerifierTest, NotBeforeWithinLeewayIsAccepted) {
  Json claims = Claims();
  claims["nbf"] = absl::ToUnixSeconds(clock_.Now()) + 30;
  EXPECT_THAT(verifier_.Verify(Sign(claims)), IsOk());
}

TEST_F(JwtVerifierTest, NotBeforeBeyondLeewayIsRejected) {
  Json claims = Claims();
  claims["nbf"] = absl::ToUnixSeconds(clock_.Now()) + 31;
  std::string token = Sign(claims);
  ExpectRejected(token, "not valid yet", kReasonAuthTokenNotYetValid);
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(verifier_.Verify(token), IsOk());
}

TEST_F(JwtVerifierTest, MissingOrEmptySubjectIsRejected) {
  Json claims = Claims();
  claims.erase("sub");
  ExpectRejected(Sign(claims), "sub");
  claims["sub"] = "";
  ExpectRejected(Sign(claims), "sub");
  claims["sub"] = 42;
  ExpectRejected(Sign(claims), "sub");
}

TEST_F(JwtVerifierTest, KeycloakIdAndRefreshTokensAreNotAccessTokens) {
  Json claims = Claims();
  for (const char* typ : {"ID", "Refresh", "Logout"}) {
    claims["typ"] = typ;
    SCOPED_TRACE(typ);
    ExpectRejected(Sign(claims), "access token");
  }
  claims["typ"] = "bearer";
  EXPECT_THAT(verifier_.Verify(Sign(claims)), IsOk());
}

TEST_F(JwtVerifierTest, TenantClaimMayBeASingleElementArray) {
  Json claims = Claims();
  claims["tenant_id"] = Json::array({"acme"});
  EXPECT_EQ(verifier_.Verify(Sign(claims))->tenant_id, "acme");
}

TEST_F(JwtVerifierTest, AmbiguousOrNonStringTenantClaimReadsAsNoTenant) {
  Json claims = Claims();
  for (Json tenant : {Json{"acme", "globex"}, Json(7), Json::object(), Json::array()}) {
    claims["tenant_id"] = tenant;
    SCOPED_TRACE(tenant.dump());
    absl::StatusOr<VerifiedToken> token = verifier_.Verify(Sign(claims));
    ASSERT_THAT(token, IsOk());
    EXPECT_EQ(token->tenant_id, "");
  }
}

TEST_F(JwtVerifierTest, NonStringRolesAreIgnored) {
  Json claims = Claims();
  claims["realm_access"] = {{"roles", {"securelink-tenant-admin", 3, Json::object()}}};
  EXPECT_THAT(verifier_.Verify(Sign(claims))->realm_roles, ElementsAre("securelink-tenant-admin"));
  claims["realm_access"] = {{"roles", "securelink-super-admin"}};
  EXPECT_TRUE(verifier_.Verify(Sign(claims))->realm_roles.empty());
}

TEST_F(JwtVerifierTest, IncompleteOptionsRejectEveryToken) {
  EXPECT_THAT(ValidateJwtOptions(JwtOptions{testing::kIssuer, ""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateJwtOptions(JwtOptions{"", testing::kAudience}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateJwtOptions(JwtOptions{testing::kIssuer, testing::kAudience}), IsOk());
  JwtVerifier no_audience(std::make_shared<FixedKeySource>(
                              std::map<std::string, std::shared_ptr<EVP_PKEY>>{{"k1", *key_}}),
                          JwtOptions{testing::kIssuer, ""}, clock_);
  Json claims = Claims();
  claims["aud"] = "";
  EXPECT_THAT(no_audience.Verify(Sign(claims)), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(JwtVerifierTest, UnreachableKeysAreUnavailableNotUnauthenticated) {
  JwtVerifier verifier(std::make_shared<UnavailableKeySource>(),
                       JwtOptions{testing::kIssuer, testing::kAudience}, clock_);
  std::string token = Sign(Claims());
  absl::StatusOr<VerifiedToken> result = verifier.Verify(token);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(result.status()), kReasonAuthKeysUnavailable);
  // The key source's details (URLs) are for the server log, not for the caller.
  EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("idp.test")));
  ExpectNoPartOfTokenIn(result.status(), token);
}

TEST(BearerToken, ExtractsTheTokenWhateverTheSchemeCase) {
  EXPECT_EQ(*BearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(*BearerToken("bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(*BearerToken("BEARER   abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(*BearerToken("  Bearer abc.def.ghi \r\n"), "abc.def.ghi");
}

TEST(BearerToken, AnythingElseIsUnauthenticated) {
  for (const char* header : {"", "   ", "Bearer", "Bearer ", "Bearerabc", "Basic YWxhZGRpbjpvcGVu",
                             "Bearer a b", "Token abc", "abc.def.ghi"}) {
    SCOPED_TRACE(header);
    absl::StatusOr<absl::string_view> token = BearerToken(header);
    EXPECT_THAT(token, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_EQ(ReasonOf(token.status()), kReasonAuthTokenMissing);
    if (std::string(header).size() > 8) {
      EXPECT_THAT(std::string(token.status().message()), Not(HasSubstr("YWxhZGRpbjpvcGVu")));
    }
  }
}

TEST(Base64UrlDecodeStrict, AcceptsExactlyTheCanonicalUnpaddedForm) {
  EXPECT_EQ(*Base64UrlDecodeStrict(""), "");
  EXPECT_EQ(*Base64UrlDecodeStrict("Zg"), "f");
  EXPECT_EQ(*Base64UrlDecodeStrict("Zm8"), "fo");
  EXPECT_EQ(*Base64UrlDecodeStrict("Zm9v"), "foo");
  EXPECT_EQ(*Base64UrlDecodeStrict("-_8"), "\xfb\xff");
  for (const char* bad : {"Zg==", "Zh", "Zm9", "Z", "Zm9v\n", "Zm 9v", "+/8", "Zm9v="}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(Base64UrlDecodeStrict(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(*Base64UrlDecodeStrict("Zg==", /*allow_padding=*/true), "f");
  EXPECT_EQ(*Base64UrlDecodeStrict("Zm8=", /*allow_padding=*/true), "fo");
  EXPECT_THAT(Base64UrlDecodeStrict("Zm9v=", /*allow_padding=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace securelink::invitations
