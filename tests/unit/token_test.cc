// Registration tokens: 256-bit CSPRNG, URL-safe, hashed for storage, sealed for replays.
#include "server/domain/token.h"

#include <set>

#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

TEST(RegistrationToken, CarriesTwoHundredFiftySixRandomBitsUrlSafe) {
  std::string token = NewRegistrationToken();
  EXPECT_EQ(token.size(), kTokenTextLength);
  EXPECT_TRUE(LooksLikeRegistrationToken(token));
  absl::StatusOr<std::string> raw = Base64UrlDecode(token);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->size(), 32u);
}

TEST(RegistrationToken, IsFreshEveryTime) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(NewRegistrationToken());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RegistrationToken, MalformedShapesAreRecognised) {
  EXPECT_FALSE(LooksLikeRegistrationToken(""));
  EXPECT_FALSE(LooksLikeRegistrationToken(std::string(42, 'a')));
  EXPECT_FALSE(LooksLikeRegistrationToken(std::string(44, 'a')));
  EXPECT_FALSE(LooksLikeRegistrationToken(std::string(42, 'a') + "="));
  EXPECT_FALSE(LooksLikeRegistrationToken(std::string(42, 'a') + "/"));
}

TEST(RegistrationToken, HashIsSha256AndDoesNotContainTheToken) {
  std::string token = NewRegistrationToken();
  std::string hash = HashRegistrationToken(token);
  EXPECT_EQ(hash.size(), 32u);
  EXPECT_EQ(hash, HashRegistrationToken(token));
  EXPECT_NE(hash, HashRegistrationToken(NewRegistrationToken()));
  // SHA-256("abc"), FIPS 180-2 test vector.
  EXPECT_EQ(Base64UrlEncode(Sha256("abc")), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}

TEST(NewUuid, IsCanonicalVersionFour) {
  std::string id = NewUuid();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[8], '-');
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_NE(NewUuid(), id);
}

TEST(TokenSealer, OpensWhatItSealed) {
  TokenSealer sealer = TokenSealer::CreateEphemeral();
  std::string token = NewRegistrationToken();
  std::string sealed = sealer.Seal(token);
  EXPECT_EQ(sealed.find(token), std::string::npos);
  absl::StatusOr<std::string> opened = sealer.Open(sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, token);
}

TEST(TokenSealer, RefusesTamperedValuesAndOtherKeys) {
  TokenSealer sealer = TokenSealer::CreateEphemeral();
  std::string sealed = sealer.Seal("secret");
  std::string tampered = sealed;
  tampered[14] ^= 1;
  EXPECT_EQ(sealer.Open(tampered).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(TokenSealer::CreateEphemeral().Open(sealed).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(sealer.Open("short").status().code(), absl::StatusCode::kDataLoss);
}

TEST(TokenSealer, KeyMustBeThirtyTwoBytes) {
  EXPECT_FALSE(TokenSealer::Create("short").ok());
  EXPECT_TRUE(TokenSealer::Create(std::string(32, 'k')).ok());
}

}  // namespace
}  // namespace securelink::invitations
