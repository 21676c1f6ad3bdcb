// Reading and changing tenant policies (SPEC §11): who may, what a change may contain, and the
// etag that makes a lost update impossible. The rules each field obeys are in
// server/domain/tenant_policy.h; enforcement on invitations is the invitation paths' business.
#ifndef SECURELINK_SERVER_TENANT_POLICY_SERVICE_H_
#define SECURELINK_SERVER_TENANT_POLICY_SERVICE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/authorization.h"
#include "server/domain/clock.h"
#include "server/domain/tenant_policy.h"
#include "server/domain/validation.h"
#include "storage/tenant_policy_store.h"

namespace securelink::invitations {

class TenantPolicyService {
 public:
  // `store` and `clock` must outlive the service. `ttl_bounds` bound a policy's default_ttl as
  // they bound a request's ttl.
  TenantPolicyService(TenantPolicyStore& store, const Clock& clock, TtlPolicy ttl_bounds)
      : store_(store), clock_(clock), ttl_bounds_(ttl_bounds) {}

  // `tenant_id`'s policy; the defaults (version 0, no etag) when it never had one.
  // INVALID_ARGUMENT for a missing or malformed tenant id; PERMISSION_DENIED per
  // CanReadTenantPolicy.
  absl::StatusOr<TenantPolicy> Get(const Principal& caller, absl::string_view tenant_id);

  // Sets the fields named in `paths` from `update` (its tenant_id names the policy) and returns
  // the policy as stored. With a non-empty `etag`, only if the policy is still the one read
  // (else ABORTED, POLICY_ETAG_MISMATCH). INVALID_ARGUMENT naming each bad field;
  // PERMISSION_DENIED per CanWriteTenantPolicy.
  absl::StatusOr<TenantPolicy> Update(const Principal& caller, const TenantPolicy& update,
                                      const std::vector<std::string>& paths,
                                      absl::string_view etag);

 private:
  TenantPolicyStore& store_;
  const Clock& clock_;
  const TtlPolicy ttl_bounds_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_TENANT_POLICY_SERVICE_H_
