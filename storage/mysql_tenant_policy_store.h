// TenantPolicyStore on MySQL/MariaDB (tenant_policies, migration 0008).
#ifndef SECURELINK_STORAGE_MYSQL_TENANT_POLICY_STORE_H_
#define SECURELINK_STORAGE_MYSQL_TENANT_POLICY_STORE_H_

#include "storage/connection_pool.h"
#include "storage/tenant_policy_store.h"

namespace securelink::invitations {

class MysqlTenantPolicyStore final : public TenantPolicyStore {
 public:
  // `pool` must outlive the store and point at a migrated schema.
  explicit MysqlTenantPolicyStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<std::optional<TenantPolicy>> Get(absl::string_view tenant_id) override;
  absl::StatusOr<TenantPolicy> Put(const TenantPolicy& policy,
                                   std::optional<int64_t> expected_version,
                                   absl::string_view actor,
                                   absl::string_view request_id, absl::Time now) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_TENANT_POLICY_STORE_H_
