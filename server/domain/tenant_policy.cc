#include "server/domain/tenant_policy.h"

#include <idn2.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/domain/errors.h"

namespace securelink::invitations {
namespace {

constexpr size_t kMaxDomainLength = 253;

bool IsAsciiAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) != 0; }

// The A-label form of a UTF-8 domain, or nullopt when IDNA refuses it.
std::optional<std::string> ToAscii(const std::string& domain) {
  char* out = nullptr;
  const int rc = idn2_to_ascii_8z(domain.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK || out == nullptr) {
    idn2_free(out);
    return std::nullopt;
  }
  std::string ascii(out);
  idn2_free(out);
  return absl::AsciiStrToLower(ascii);
}

std::optional<std::string> DnsNameProblem(absl::string_view domain) {
  if (domain.size() > kMaxDomainLength) {
    return absl::StrCat("is longer than ", kMaxDomainLength, " characters");
  }
  std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  if (labels.size() < 2) return "needs at least two labels (\"example.com\")";
  for (absl::string_view label : labels) {
    if (label.empty()) return "has an empty label";
    if (label.size() > kMaxDomainLabelLength) {
      return absl::StrCat("has a label longer than ", kMaxDomainLabelLength, " characters");
    }
    if (label.front() == '-' || label.back() == '-') return "has a label starting or ending with '-'";
    for (char c : label) {
      if (!IsAsciiAlnum(c) && c != '-') {
        return absl::StrCat("contains the character '", std::string(1, c), "'");
      }
    }
  }
  return std::nullopt;
}

bool IsAlpha(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)); });
}
bool IsDigits(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}
bool IsAlnum(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAsciiAlnum(c); });
}

}  // namespace

absl::StatusOr<std::string> NormalizeDomain(absl::string_view raw) {
  std::string domain(absl::StripAsciiWhitespace(raw));
  if (domain.empty()) return absl::InvalidArgumentError("is empty");
  if (absl::EndsWith(domain, ".")) domain.pop_back();
  for (unsigned char c : domain) {
    if (c < 0x20 || c == 0x7f || c == ' ') {
      return absl::InvalidArgumentError("contains whitespace or a control character");
    }
  }
  const bool has_unicode =
      std::any_of(domain.begin(), domain.end(), [](unsigned char c) { return c >= 0x80; });
  // An ASCII name is judged by the DNS rules below, which say what is wrong more precisely.
  std::optional<std::string> ascii =
      has_unicode ? ToAscii(domain) : std::optional<std::string>(absl::AsciiStrToLower(domain));
  if (!ascii.has_value()) {
    return absl::InvalidArgumentError("is not a valid internationalised domain name");
  }
  if (std::optional<std::string> problem = DnsNameProblem(*ascii)) {
    return absl::InvalidArgumentError(*problem);
  }
  return *ascii;
}

bool EmailDomainAllowed(absl::string_view normalized_email,
                        const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  const size_t at = normalized_email.rfind('@');
  if (at == absl::string_view::npos) return false;
  absl::StatusOr<std::string> domain = NormalizeDomain(normalized_email.substr(at + 1));
  if (!domain.ok()) return false;
  for (const std::string& rule : allowed) {
    if (*domain == rule) return true;
    if (domain->size() > rule.size() && absl::EndsWith(*domain, rule) &&
        (*domain)[domain->size() - rule.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> CanonicalLocale(absl::string_view raw) {
  const absl::string_view tag = absl::StripAsciiWhitespace(raw);
  if (tag.empty()) return std::string();
  if (tag.size() > kMaxLocaleLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("is longer than ", kMaxLocaleLength, " characters"));
  }
  // Underscores are what POSIX locales use ("de_AT"); BCP 47 wants hyphens, so say so.
  if (absl::StrContains(tag, '_')) {
    return absl::InvalidArgumentError("separates subtags with '_'; BCP 47 uses '-' (\"de-AT\")");
  }
  std::vector<std::string> parts = absl::StrSplit(tag, '-');
  const std::string bad = absl::StrCat("is not a BCP 47 language tag (\"de\", \"fr-CA\"): '",
                                       tag, "'");
  if (parts[0].size() < 2 || parts[0].size() > 3 || !IsAlpha(parts[0])) {
    return absl::InvalidArgumentError(bad);
  }
  parts[0] = absl::AsciiStrToLower(parts[0]);
  size_t i = 1;
  if (i < parts.size() && parts[i].size() == 4 && IsAlpha(parts[i])) {  // script: "Hant"
    parts[i] = absl::AsciiStrToLower(parts[i]);
    parts[i][0] = absl::ascii_toupper(static_cast<unsigned char>(parts[i][0]));
    ++i;
  }
  if (i < parts.size() && ((parts[i].size() == 2 && IsAlpha(parts[i])) ||
                           (parts[i].size() == 3 && IsDigits(parts[i])))) {  // region
    parts[i] = absl::AsciiStrToUpper(parts[i]);
    ++i;
  }
  for (; i < parts.size(); ++i) {  // variants: 5-8 alphanumerics, or a digit and 3 more
    const std::string& v = parts[i];
    const bool variant = IsAlnum(v) && ((v.size() >= 5 && v.size() <= 8) ||
                                        (v.size() == 4 && absl::ascii_isdigit(
                                                              static_cast<unsigned char>(v[0]))));
    if (!variant) return absl::InvalidArgumentError(bad);
    parts[i] = absl::AsciiStrToLower(v);
  }
  return absl::StrJoin(parts, "-");
}

std::vector<std::string> LocaleFallbacks(absl::string_view canonical_locale) {
  std::vector<std::string> out;
  std::string tag(canonical_locale);
  while (!tag.empty()) {
    out.push_back(tag);
    const size_t dash = tag.rfind('-');
    if (dash == std::string::npos) break;
    tag.resize(dash);
  }
  return out;
}

std::string ResolveLocale(absl::string_view requested, absl::string_view tenant_default,
                          const std::vector<std::string>& available) {
  for (absl::string_view preference : {requested, tenant_default}) {
    for (const std::string& tag : LocaleFallbacks(preference)) {
      if (std::find(available.begin(), available.end(), tag) != available.end()) return tag;
    }
  }
  return "en";
}

absl::StatusOr<TenantPolicy> ApplyPolicyUpdate(const TenantPolicy& current,
                                               const TenantPolicy& update,
                                               const std::vector<std::string>& paths,
                                               const TtlPolicy& ttl_bounds) {
  std::vector<FieldViolation> violations;
  auto violate = [&](std::string field, std::string description) {
    violations.push_back({std::move(field), std::move(description)});
  };
  if (paths.empty()) {
    violate("update_mask", "names no field; list the fields to change");
  }
  TenantPolicy next = current;
  std::set<std::string> seen;
  for (const std::string& path : paths) {
    if (!seen.insert(path).second) {
      violate("update_mask", absl::StrCat("names '", path, "' twice"));
      continue;
    }
    const std::string field = absl::StrCat("policy.", path);
    if (path == kPolicyAllowedEmailDomains) {
      if (update.allowed_email_domains.size() > kMaxAllowedDomains) {
        violate(field, absl::StrCat("lists ", update.allowed_email_domains.size(),
                                    " domains; at most ", kMaxAllowedDomains, " are allowed"));
        continue;
      }
      std::vector<std::string> domains;
      for (size_t i = 0; i < update.allowed_email_domains.size(); ++i) {
        absl::StatusOr<std::string> d = NormalizeDomain(update.allowed_email_domains[i]);
        if (!d.ok()) {
          violate(absl::StrCat(field, "[", i, "]"), std::string(d.status().message()));
        } else if (std::find(domains.begin(), domains.end(), *d) == domains.end()) {
          domains.push_back(*d);
        }
      }
      next.allowed_email_domains = std::move(domains);
    } else if (path == kPolicyMaxPendingInvitations) {
      if (update.max_pending_invitations < 0 ||
          update.max_pending_invitations > kMaxPendingInvitationsLimit) {
        violate(field, absl::StrCat("must be between 0 (no limit) and ",
                                    kMaxPendingInvitationsLimit));
      }
      next.max_pending_invitations = update.max_pending_invitations;
    } else if (path == kPolicyDefaultTtl) {
      if (update.default_ttl.has_value() &&
          (*update.default_ttl < ttl_bounds.min_ttl || *update.default_ttl > ttl_bounds.max_ttl)) {
        violate(field, absl::StrCat("must be between ", absl::FormatDuration(ttl_bounds.min_ttl),
                                    " and ", absl::FormatDuration(ttl_bounds.max_ttl)));
      }
      next.default_ttl = update.default_ttl;
    } else if (path == kPolicyReminderBeforeExpiry) {
      std::optional<absl::Duration> reminder = update.reminder_before_expiry;
      if (reminder.has_value() && *reminder == absl::ZeroDuration()) reminder.reset();
      if (reminder.has_value() &&
          (*reminder < absl::ZeroDuration() || *reminder >= ttl_bounds.max_ttl)) {
        violate(field, absl::StrCat("must be positive and shorter than the longest ttl (",
                                    absl::FormatDuration(ttl_bounds.max_ttl), "), or 0 for none"));
      }
      next.reminder_before_expiry = reminder;
    } else if (path == kPolicyDefaultLocale) {
      absl::StatusOr<std::string> locale = CanonicalLocale(update.default_locale);
      if (!locale.ok()) {
        violate(field, std::string(locale.status().message()));
      } else {
        next.default_locale = *locale;
      }
    } else {
      violate("update_mask",
              absl::StrCat("names '", path, "', which is not a settable field (",
                           absl::StrJoin({kPolicyAllowedEmailDomains, kPolicyMaxPendingInvitations,
                                          kPolicyDefaultTtl, kPolicyReminderBeforeExpiry,
                                          kPolicyDefaultLocale},
                                         ", "),
                           ")"));
    }
  }
  if (!violations.empty()) return InvalidFields(std::move(violations));
  return next;
}

std::string PolicyEtag(int64_t version) {
  if (version <= 0) return "";
  return absl::StrCat("\"", version, "\"");
}

absl::StatusOr<int64_t> PolicyVersionFromEtag(absl::string_view etag) {
  int64_t version = 0;
  absl::string_view inner = etag;
  if (!absl::ConsumePrefix(&inner, "\"") || !absl::ConsumeSuffix(&inner, "\"") ||
      !absl::SimpleAtoi(inner, &version) || version <= 0) {
    return InvalidField("policy.etag", "is not an etag this service returned; read the policy "
                                       "again and send its etag");
  }
  return version;
}

}  // namespace securelink::invitations
