// The tenant policy's rules (SPEC §11): domain normalisation and matching, language tags and
// their fallbacks, update masks, etags.
#include "server/domain/tenant_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain/errors.h"

namespace securelink::invitations {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string FieldsOf(const absl::Status& status) {
  std::string out;
  for (const FieldViolation& v : GetErrorDetails(status).field_violations) {
    out += v.field + ";";
  }
  return out;
}

TEST(NormalizeDomain, TrimsLowerCasesAndDropsTheTrailingDot) {
  EXPECT_EQ(*NormalizeDomain("  Example.COM. "), "example.com");
}

TEST(NormalizeDomain, InternationalNamesMeetTheirALabels) {
  EXPECT_EQ(*NormalizeDomain("bücher.de"), "xn--bcher-kva.de");
  EXPECT_EQ(*NormalizeDomain("BÜCHER.de"), "xn--bcher-kva.de");
  EXPECT_EQ(*NormalizeDomain("xn--bcher-kva.de"), "xn--bcher-kva.de");
}

TEST(NormalizeDomain, RefusesWhatIsNoDomainSayingWhy) {
  EXPECT_THAT(NormalizeDomain("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(NormalizeDomain("localhost").status().message(), HasSubstr("two labels"));
  EXPECT_THAT(NormalizeDomain("a..com").status().message(), HasSubstr("empty label"));
  EXPECT_THAT(NormalizeDomain("-a.com").status().message(), HasSubstr("'-'"));
  EXPECT_THAT(NormalizeDomain("a_b.com").status().message(), HasSubstr("'_'"));
  EXPECT_THAT(NormalizeDomain("a b.com").status().message(), HasSubstr("whitespace"));
  EXPECT_FALSE(NormalizeDomain(std::string(64, 'a') + ".com").ok());
}

TEST(EmailDomainAllowed, AnEmptyListAdmitsEveryone) {
  EXPECT_TRUE(EmailDomainAllowed("a@anything.org", {}));
}

TEST(EmailDomainAllowed, ADomainAdmitsItselfAndItsSubdomainsOnly) {
  const std::vector<std::string> allowed = {"example.com"};
  EXPECT_TRUE(EmailDomainAllowed("a@example.com", allowed));
  EXPECT_TRUE(EmailDomainAllowed("a@eu.mail.example.com", allowed));
  EXPECT_FALSE(EmailDomainAllowed("a@badexample.com", allowed));
  EXPECT_FALSE(EmailDomainAllowed("a@example.com.evil.org", allowed));
  EXPECT_FALSE(EmailDomainAllowed("a@example.org", allowed));
}

TEST(EmailDomainAllowed, AnAddressInUnicodeMatchesAPolicyInALabels) {
  EXPECT_TRUE(EmailDomainAllowed("anna@bücher.de", {"xn--bcher-kva.de"}));
  EXPECT_FALSE(EmailDomainAllowed("anna@bucher.de", {"xn--bcher-kva.de"}));
}

TEST(CanonicalLocale, PutsEachSubtagInItsCase) {
  EXPECT_EQ(*CanonicalLocale("DE"), "de");
  EXPECT_EQ(*CanonicalLocale("fr-ca"), "fr-CA");
  EXPECT_EQ(*CanonicalLocale("zh-hant-tw"), "zh-Hant-TW");
  EXPECT_EQ(*CanonicalLocale("es-419"), "es-419");
  EXPECT_EQ(*CanonicalLocale("de-AT-1996"), "de-AT-1996");
  EXPECT_EQ(*CanonicalLocale(""), "");
}

TEST(CanonicalLocale, RefusesMalformedTags) {
  EXPECT_THAT(CanonicalLocale("de_AT").status().message(), HasSubstr("'-'"));
  EXPECT_FALSE(CanonicalLocale("d").ok());
  EXPECT_FALSE(CanonicalLocale("deutsch").ok());
  EXPECT_FALSE(CanonicalLocale("de-").ok());
  EXPECT_FALSE(CanonicalLocale("de-A").ok());
  EXPECT_FALSE(CanonicalLocale("12").ok());
  EXPECT_FALSE(CanonicalLocale(std::string(36, 'a')).ok());
}

TEST(ResolveLocale, FallsBackBySubtagThenToTheTenantThenToEnglish) {
  const std::vector<std::string> available = {"en", "de", "fr"};
  EXPECT_EQ(ResolveLocale("de-AT", "fr", available), "de");
  EXPECT_EQ(ResolveLocale("it", "fr-CA", available), "fr");
  EXPECT_EQ(ResolveLocale("it", "", available), "en");
  EXPECT_EQ(ResolveLocale("", "", available), "en");
  EXPECT_THAT(LocaleFallbacks("de-AT-1996"), ElementsAre("de-AT-1996", "de-AT", "de"));
}

TEST(ApplyPolicyUpdate, ChangesOnlyTheNamedFieldsAndNormalisesThem) {
  TenantPolicy current;
  current.tenant_id = "acme";
  current.max_pending_invitations = 10;
  current.default_locale = "fr";
  TenantPolicy update;
  update.allowed_email_domains = {"Example.COM", "example.com.", "bücher.de"};
  update.max_pending_invitations = 99;  // not in the mask: stays 10
  update.default_locale = "de-at";
  absl::StatusOr<TenantPolicy> next = ApplyPolicyUpdate(
      current, update, {"allowed_email_domains", "default_locale"}, TtlPolicy{});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_THAT(next->allowed_email_domains, ElementsAre("example.com", "xn--bcher-kva.de"));
  EXPECT_EQ(next->default_locale, "de-AT");
  EXPECT_EQ(next->max_pending_invitations, 10);
  EXPECT_EQ(next->tenant_id, "acme");
}

TEST(ApplyPolicyUpdate, NamesEveryBadFieldAtOnce) {
  TenantPolicy update;
  update.allowed_email_domains = {"ok.com", "not a domain"};
  update.max_pending_invitations = -1;
  update.default_ttl = absl::Minutes(1);
  update.reminder_before_expiry = absl::Hours(-1);
  update.default_locale = "de_AT";
  absl::StatusOr<TenantPolicy> next = ApplyPolicyUpdate(
      TenantPolicy{}, update,
      {"allowed_email_domains", "max_pending_invitations", "default_ttl",
       "reminder_before_expiry", "default_locale", "tenant_id"},
      TtlPolicy{});
  ASSERT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FieldsOf(next.status()),
            "policy.allowed_email_domains[1];policy.max_pending_invitations;policy.default_ttl;"
            "policy.reminder_before_expiry;policy.default_locale;update_mask;");
}

TEST(ApplyPolicyUpdate, RefusesAnEmptyOrRepeatedMask) {
  EXPECT_EQ(FieldsOf(ApplyPolicyUpdate({}, {}, {}, TtlPolicy{}).status()), "update_mask;");
  EXPECT_EQ(FieldsOf(ApplyPolicyUpdate({}, {}, {"default_locale", "default_locale"}, TtlPolicy{})
                         .status()),
            "update_mask;");
}

TEST(ApplyPolicyUpdate, AZeroReminderMeansNone) {
  TenantPolicy current;
  current.reminder_before_expiry = absl::Hours(24);
  TenantPolicy update;
  update.reminder_before_expiry = absl::ZeroDuration();
  absl::StatusOr<TenantPolicy> next =
      ApplyPolicyUpdate(current, update, {"reminder_before_expiry"}, TtlPolicy{});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->reminder_before_expiry.has_value());
}

TEST(PolicyEtag, RoundTripsAndRefusesForeignValues) {
  EXPECT_EQ(PolicyEtag(0), "");
  EXPECT_EQ(PolicyEtag(7), "\"7\"");
  EXPECT_EQ(*PolicyVersionFromEtag("\"7\""), 7);
  EXPECT_EQ(FieldsOf(PolicyVersionFromEtag("7").status()), "policy.etag;");
  EXPECT_EQ(FieldsOf(PolicyVersionFromEtag("\"-3\"").status()), "policy.etag;");
  EXPECT_EQ(FieldsOf(PolicyVersionFromEtag("W/\"7\"").status()), "policy.etag;");
}

}  // namespace
}  // namespace securelink::invitations
