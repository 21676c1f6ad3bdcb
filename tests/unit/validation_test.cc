// Email normalisation, tenant ids and ttl bounds (SPEC §2 "emails", §9 "field lengths").
#include "server/domain/validation.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

TEST(NormalizeEmail, TrimsAndLowerCases) {
  absl::StatusOr<std::string> email = NormalizeEmail("  Alice.Smith@Example.COM \t\n");
  ASSERT_TRUE(email.ok()) << email.status();
  EXPECT_EQ(*email, "alice.smith@example.com");
}

TEST(NormalizeEmail, AcceptsPracticalAddresses) {
  for (const char* ok : {"a@b.co", "first.last+tag@sub.example.org", "x_y-z@my-host.example",
                         "o'brien@example.ie", "user@xn--bcher-kva.example",
                         "пользователь@пример.рф"}) {
    EXPECT_TRUE(NormalizeEmail(ok).ok()) << ok;
  }
}

struct BadEmail {
  std::string input;
  std::string problem;  // a word the description must contain
};

class NormalizeEmailRejects : public ::testing::TestWithParam<BadEmail> {};

TEST_P(NormalizeEmailRejects, WithADescriptionOfTheProblem) {
  absl::StatusOr<std::string> email = NormalizeEmail(GetParam().input);
  ASSERT_FALSE(email.ok()) << GetParam().input;
  EXPECT_THAT(std::string(email.status().message()), ::testing::HasSubstr(GetParam().problem));
}

INSTANTIATE_TEST_SUITE_P(
    Practical, NormalizeEmailRejects,
    ::testing::Values(BadEmail{"", "required"}, BadEmail{"   ", "required"},
                      BadEmail{"no-at-sign.example.com", "'@'"},
                      BadEmail{"two@@example.com", "more than one"},
                      BadEmail{"a@b@example.com", "more than one"},
                      BadEmail{"@example.com", "empty part"},
                      BadEmail{"user@", "no domain"}, BadEmail{"user@localhost", "without a dot"},
                      BadEmail{"us er@example.com", "whitespace"},
                      BadEmail{std::string("user\x01@example.com"), "control"},
                      BadEmail{"user@exa mple.com", "whitespace"},
                      BadEmail{"user@example..com", "empty label"},
                      BadEmail{"user@.example.com", "empty label"},
                      BadEmail{"user@-example.com", "'-'"},
                      BadEmail{"user@example.123", "numeric"},
                      BadEmail{".user@example.com", "'.'"},
                      BadEmail{"us..er@example.com", "'.'"},
                      BadEmail{"<user>@example.com", "'<'"},
                      BadEmail{"user@exam_ple.com", "'_'"},
                      BadEmail{std::string(65, 'a') + "@example.com", "longer than 64"},
                      BadEmail{"a@" + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                                   std::string(63, 'd') + "." + std::string(63, 'e') + ".com",
                               "at most 254"},
                      BadEmail{"a@" + std::string(64, 'b') + ".com", "longer than 63"}));

TEST(TenantIdProblem, AcceptsLettersDigitsAndSeparators) {
  EXPECT_EQ(TenantIdProblem(""), std::nullopt);
  EXPECT_EQ(TenantIdProblem("acme-corp_01.eu"), std::nullopt);
  EXPECT_EQ(TenantIdProblem(std::string(64, 't')), std::nullopt);
}

TEST(TenantIdProblem, RefusesOtherCharactersAndOverlongIds) {
  EXPECT_NE(TenantIdProblem("acme corp"), std::nullopt);
  EXPECT_NE(TenantIdProblem("acme/corp"), std::nullopt);
  EXPECT_NE(TenantIdProblem("<script>"), std::nullopt);
  EXPECT_NE(TenantIdProblem(std::string(65, 't')), std::nullopt);
}

TEST(ResolveTtl, UsesTheDefaultWhenNoneIsRequested) {
  TtlPolicy policy;
  EXPECT_EQ(*ResolveTtl(std::nullopt, policy), absl::Hours(168));
}

TEST(ResolveTtl, AcceptsTheBoundsThemselves) {
  TtlPolicy policy;
  EXPECT_EQ(*ResolveTtl(absl::Hours(1), policy), absl::Hours(1));
  EXPECT_EQ(*ResolveTtl(absl::Hours(720), policy), absl::Hours(720));
}

TEST(ResolveTtl, RefusesTtlsOutsideTheBounds) {
  TtlPolicy policy;
  EXPECT_FALSE(ResolveTtl(absl::Minutes(59), policy).ok());
  EXPECT_FALSE(ResolveTtl(absl::Hours(721), policy).ok());
  EXPECT_FALSE(ResolveTtl(absl::ZeroDuration(), policy).ok());
  EXPECT_FALSE(ResolveTtl(-absl::Hours(2), policy).ok());
}

}  // namespace
}  // namespace securelink::invitations
