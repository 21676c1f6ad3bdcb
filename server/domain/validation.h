// Input rules for invitation requests (SPEC §2, §9): email normalisation, tenant ids, ttls,
// field lengths. Each check returns a description of the problem, never a gRPC type.
#ifndef SECURELINK_SERVER_DOMAIN_VALIDATION_H_
#define SECURELINK_SERVER_DOMAIN_VALIDATION_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"

namespace securelink::invitations {

inline constexpr size_t kMaxEmailLength = 254;      // RFC 5321 path limit less the brackets
inline constexpr size_t kMaxEmailLocalLength = 64;  // RFC 5321 §4.5.3.1.1
inline constexpr size_t kMaxDomainLabelLength = 63;
inline constexpr size_t kMaxTenantIdLength = 64;
inline constexpr size_t kMaxRequestIdLength = 128;
inline constexpr size_t kMaxNameLength = 100;
inline constexpr size_t kMaxRevokeReasonLength = 512;

// Trims surrounding whitespace and lower-cases `raw`, then checks it with a practical rule:
// one '@', a non-empty local part of at most 64 octets, a domain with a dot made of labels
// (letters, digits, hyphens or non-ASCII, no empty label, no leading/trailing hyphen, at most 63
// octets, a non-numeric last label), no whitespace or control characters, at most 254 octets.
// Returns the normalised address, or a description of the problem.
absl::StatusOr<std::string> NormalizeEmail(absl::string_view raw);

// Nullopt when `tenant_id` is acceptable (at most 64 of letters, digits, '-', '_', '.'),
// else what is wrong. The empty string is acceptable here; whether a tenant is required is
// RoleRequiresTenant's business.
std::optional<std::string> TenantIdProblem(absl::string_view tenant_id);

// Bounds for a per-request link lifetime.
struct TtlPolicy {
  absl::Duration default_ttl = absl::Hours(168);
  absl::Duration min_ttl = absl::Hours(1);
  absl::Duration max_ttl = absl::Hours(720);
};

// The ttl to use: `requested` when given and within the policy's bounds, else the default.
// A requested ttl outside [min, max] is an error describing the bounds.
absl::StatusOr<absl::Duration> ResolveTtl(std::optional<absl::Duration> requested,
                                          const TtlPolicy& policy);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_VALIDATION_H_
