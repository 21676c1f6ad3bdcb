// What a tenant allows (SPEC §11): email domains, a cap on pending invitations, a default link
// lifetime, a reminder before expiry and a default language. Plain rules, no gRPC or SQL.
#ifndef SECURELINK_SERVER_DOMAIN_TENANT_POLICY_H_
#define SECURELINK_SERVER_DOMAIN_TENANT_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/validation.h"

namespace securelink::invitations {

inline constexpr absl::string_view kReasonEmailDomainNotAllowed = "EMAIL_DOMAIN_NOT_ALLOWED";
// A Create decided under a tenant policy that changed before it was written (the service
// decides it again under the new one; a caller sees it only when the policy keeps changing).
inline constexpr absl::string_view kReasonTenantPolicyChanged = "TENANT_POLICY_CHANGED";
inline constexpr absl::string_view kReasonTenantPendingLimitReached =
    "TENANT_PENDING_LIMIT_REACHED";
inline constexpr absl::string_view kReasonPolicyEtagMismatch = "POLICY_ETAG_MISMATCH";

inline constexpr size_t kMaxAllowedDomains = 100;
inline constexpr size_t kMaxLocaleLength = 35;  // RFC 5646 §4.4.1's recommended minimum
inline constexpr int32_t kMaxPendingInvitationsLimit = 1000000;

// A tenant's policy as stored. The defaults are a tenant without one: anything goes.
struct TenantPolicy {
  std::string tenant_id;
  std::vector<std::string> allowed_email_domains;  // normalised; empty: any domain
  int32_t max_pending_invitations = 0;             // 0: no limit
  std::optional<absl::Duration> default_ttl;       // unset: the server's default
  std::optional<absl::Duration> reminder_before_expiry;  // unset: no reminder
  std::string default_locale;                      // BCP 47, canonical case; empty: "en"
  absl::Time update_time = absl::InfinitePast();   // InfinitePast: never stored
  std::string updated_by;
  int64_t version = 0;                             // 0: never stored; the etag's source
};

// The settable fields, as update_mask paths name them.
inline constexpr absl::string_view kPolicyAllowedEmailDomains = "allowed_email_domains";
inline constexpr absl::string_view kPolicyMaxPendingInvitations = "max_pending_invitations";
inline constexpr absl::string_view kPolicyDefaultTtl = "default_ttl";
inline constexpr absl::string_view kPolicyReminderBeforeExpiry = "reminder_before_expiry";
inline constexpr absl::string_view kPolicyDefaultLocale = "default_locale";

// "example.com" for " Example.COM. ": trimmed, no trailing dot, internationalised labels
// converted to their A-labels ("bücher.de" → "xn--bcher-kva.de", IDNA2008 with the UTS #46
// mapping, so case and width variants meet in one form), then checked as a DNS name of at least
// two labels. Else a description of what is wrong.
absl::StatusOr<std::string> NormalizeDomain(absl::string_view raw);

// Whether `normalized_email` (as NormalizeEmail returns it) may be invited under `allowed`
// (normalised domains): always when `allowed` is empty; else when its domain, normalised the
// same way, is one of them or a subdomain of one ("a.example.com" under "example.com", never
// "badexample.com").
bool EmailDomainAllowed(absl::string_view normalized_email,
                        const std::vector<std::string>& allowed);

// "de", "fr-CA", "zh-Hant-TW" in canonical case (language lower, script title, region upper), or a
// description of what is wrong: a well-formed BCP 47 tag of a 2-3 letter language, an optional
// 4-letter script, an optional 2-letter or 3-digit region and optional variants, at most 35
// characters. "" stays "" (no preference).
absl::StatusOr<std::string> CanonicalLocale(absl::string_view raw);

// The tag's fallbacks, most specific first: "de-AT-1996" → {"de-AT-1996", "de-AT", "de"}.
std::vector<std::string> LocaleFallbacks(absl::string_view canonical_locale);

// The language to use among `available` (canonical tags, e.g. the template directories): the
// first fallback of `requested` that is available, else of `tenant_default`, else "en".
std::string ResolveLocale(absl::string_view requested, absl::string_view tenant_default,
                          const std::vector<std::string>& available);

// `current` with the fields named in `paths` taken from `update`, each checked and normalised
// (domains, locale, quota ≥ 0, ttl within `ttl_bounds`, reminder > 0 and shorter than the
// longest ttl). INVALID_ARGUMENT naming every bad field ("update_mask" for an unknown or repeated
// path; an empty mask is refused too, since it would change nothing). tenant_id, update_time,
// updated_by and version are the caller's business.
absl::StatusOr<TenantPolicy> ApplyPolicyUpdate(const TenantPolicy& current,
                                               const TenantPolicy& update,
                                               const std::vector<std::string>& paths,
                                               const TtlPolicy& ttl_bounds);

// The etag of a stored version: quoted, like an HTTP entity tag ("\"7\""); "" for version 0.
std::string PolicyEtag(int64_t version);

// The version an etag names; INVALID_ARGUMENT on "etag" when it is not one this service made.
absl::StatusOr<int64_t> PolicyVersionFromEtag(absl::string_view etag);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_TENANT_POLICY_H_
