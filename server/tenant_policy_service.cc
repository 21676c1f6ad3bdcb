#include "server/tenant_policy_service.h"

#include <optional>

#include "server/domain/errors.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

absl::Status CheckTenantId(absl::string_view tenant_id, absl::string_view field) {
  if (tenant_id.empty()) return InvalidField(field, "is required");
  if (std::optional<std::string> problem = TenantIdProblem(tenant_id)) {
    return InvalidField(field, *problem);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TenantPolicy> TenantPolicyService::Get(const Principal& caller,
                                                      absl::string_view tenant_id) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(CheckTenantId(tenant_id, "tenant_id"));
  RETURN_IF_ERROR(CanReadTenantPolicy(caller, tenant_id));
  ASSIGN_OR_RETURN(std::optional<TenantPolicy> stored, store_.Get(tenant_id));
  if (stored.has_value()) return *std::move(stored);
  TenantPolicy defaults;
  defaults.tenant_id = std::string(tenant_id);
  return defaults;
}

absl::StatusOr<TenantPolicy> TenantPolicyService::Update(const Principal& caller,
                                                         const TenantPolicy& update,
                                                         const std::vector<std::string>& paths,
                                                         absl::string_view etag) {
  RETURN_IF_ERROR(RequireAdmin(caller));
  RETURN_IF_ERROR(CheckTenantId(update.tenant_id, "policy.tenant_id"));
  RETURN_IF_ERROR(CanWriteTenantPolicy(caller, update.tenant_id));
  std::optional<int64_t> etag_version;
  if (!etag.empty()) {
    ASSIGN_OR_RETURN(etag_version, PolicyVersionFromEtag(etag));
  }
  // Read, apply the mask, write only over the version read. With the caller's etag a change in
  // between is theirs to resolve; without one it is retried on the newer policy.
  constexpr int kAttempts = 3;
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<TenantPolicy> stored, store_.Get(update.tenant_id));
    TenantPolicy current = stored.value_or(TenantPolicy{});
    current.tenant_id = update.tenant_id;
    const int64_t read_version = current.version;
    if (etag_version.has_value() && *etag_version != read_version) {
      return ReasonedError(absl::StatusCode::kAborted,
                           "the policy changed since it was read; read it again and reapply",
                           kReasonPolicyEtagMismatch, {{"tenant_id", update.tenant_id}});
    }
    ASSIGN_OR_RETURN(TenantPolicy next, ApplyPolicyUpdate(current, update, paths, ttl_bounds_));
    absl::StatusOr<TenantPolicy> stored_now =
        store_.Put(next, read_version, caller.subject, caller.request_id, clock_.Now());
    if (stored_now.ok() || etag_version.has_value() ||
        ReasonOf(stored_now.status()) != kReasonPolicyEtagMismatch) {
      return stored_now;
    }
    last = stored_now.status();
  }
  return last;
}

}  // namespace securelink::invitations
