// Where tenant policies (SPEC §11) are kept. The rules about their content live in
// server/domain/tenant_policy.h; this interface only reads and writes them.
#ifndef SECURELINK_STORAGE_TENANT_POLICY_STORE_H_
#define SECURELINK_STORAGE_TENANT_POLICY_STORE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/tenant_policy.h"

namespace securelink::invitations {

class TenantPolicyStore {
 public:
  virtual ~TenantPolicyStore() = default;

  // The stored policy of `tenant_id`, or nullopt when it never had one.
  virtual absl::StatusOr<std::optional<TenantPolicy>> Get(absl::string_view tenant_id) = 0;

  // Stores `policy` (its tenant_id names the row) as changed by `actor` at `now`, with a
  // POLICY_UPDATED event carrying `request_id` in the same transaction, and returns it as stored (version + 1,
  // update_time, updated_by). With `expected_version`, only if the stored version is that one
  // (0: only if none is stored); otherwise ABORTED reason POLICY_ETAG_MISMATCH, nothing written.
  virtual absl::StatusOr<TenantPolicy> Put(const TenantPolicy& policy,
                                           std::optional<int64_t> expected_version,
                                           absl::string_view actor,
                                           absl::string_view request_id, absl::Time now) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_TENANT_POLICY_STORE_H_
