#include "server/domain/validation.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace securelink::invitations {
namespace {

bool IsAsciiAlnum(unsigned char c) { return absl::ascii_isalnum(c); }

// Characters RFC 5322 only allows quoted; a practical validator refuses them outright.
bool IsForbiddenInLocalPart(unsigned char c) {
  switch (c) {
    case '(': case ')': case '<': case '>': case '[': case ']': case ',': case ';':
    case ':': case '\\': case '"':
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::string> NormalizeEmail(absl::string_view raw) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(raw);
  if (trimmed.empty()) return absl::InvalidArgumentError("is required");
  if (trimmed.size() > kMaxEmailLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("is ", trimmed.size(), " characters long; at most ", kMaxEmailLength,
                     " are allowed"));
  }
  for (unsigned char c : trimmed) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("contains a control character");
    }
    if (c == ' ' || c == '\t') return absl::InvalidArgumentError("contains whitespace");
  }
  std::string email = absl::AsciiStrToLower(trimmed);
  size_t at = email.find('@');
  if (at == std::string::npos) return absl::InvalidArgumentError("is missing an '@'");
  if (email.find('@', at + 1) != std::string::npos) {
    return absl::InvalidArgumentError("contains more than one '@'");
  }
  absl::string_view local(email.data(), at);
  absl::string_view domain(email.data() + at + 1, email.size() - at - 1);
  if (local.empty()) return absl::InvalidArgumentError("has an empty part before the '@'");
  if (local.size() > kMaxEmailLocalLength) {
    return absl::InvalidArgumentError(absl::StrCat("has a part before the '@' longer than ",
                                                   kMaxEmailLocalLength, " characters"));
  }
  if (local.front() == '.' || local.back() == '.' ||
      local.find("..") != absl::string_view::npos) {
    return absl::InvalidArgumentError("has a misplaced '.' before the '@'");
  }
  for (unsigned char c : local) {
    if (IsForbiddenInLocalPart(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("contains the character '", std::string(1, c), "' before the '@'"));
    }
  }
  if (domain.empty()) return absl::InvalidArgumentError("has no domain after the '@'");
  if (domain.find('.') == absl::string_view::npos) {
    return absl::InvalidArgumentError("has a domain without a dot");
  }
  std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  for (absl::string_view label : labels) {
    if (label.empty()) return absl::InvalidArgumentError("has an empty label in its domain");
    if (label.size() > kMaxDomainLabelLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("has a domain label longer than ", kMaxDomainLabelLength, " characters"));
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError("has a domain label starting or ending with '-'");
    }
    for (unsigned char c : label) {
      if (!(IsAsciiAlnum(c) || c == '-' || c >= 0x80)) {
        return absl::InvalidArgumentError(
            absl::StrCat("contains the character '", std::string(1, c), "' in its domain"));
      }
    }
  }
  bool last_all_digits = true;
  for (unsigned char c : labels.back()) last_all_digits &= absl::ascii_isdigit(c) != 0;
  if (last_all_digits) return absl::InvalidArgumentError("has a numeric top-level domain");
  return email;
}

std::optional<std::string> TenantIdProblem(absl::string_view tenant_id) {
  if (tenant_id.size() > kMaxTenantIdLength) {
    return absl::StrCat("is ", tenant_id.size(), " characters long; at most ",
                        kMaxTenantIdLength, " are allowed");
  }
  for (unsigned char c : tenant_id) {
    if (!(IsAsciiAlnum(c) || c == '-' || c == '_' || c == '.')) {
      return "may contain only letters, digits, '-', '_' and '.'";
    }
  }
  return std::nullopt;
}

absl::StatusOr<absl::Duration> ResolveTtl(std::optional<absl::Duration> requested,
                                          const TtlPolicy& policy) {
  if (!requested.has_value()) return policy.default_ttl;
  if (*requested < policy.min_ttl || *requested > policy.max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be between ", absl::FormatDuration(policy.min_ttl), " and ",
                     absl::FormatDuration(policy.max_ttl), ", got ",
                     absl::FormatDuration(*requested)));
  }
  return *requested;
}

}  // namespace securelink::invitations
