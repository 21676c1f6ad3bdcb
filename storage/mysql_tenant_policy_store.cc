#include "storage/mysql_tenant_policy_store.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/domain/errors.h"
#include "server/util/status_macros.h"
#include "storage/mysql_rows.h"

namespace securelink::invitations {
namespace {

using mysql::Rows;
using mysql::SqlTime;
using mysql::Statement;

std::optional<TenantPolicy> ReadPolicy(SqlSession& c, absl::string_view tenant_id, bool lock) {
  Statement s(c.Prepare(absl::StrCat(
      "SELECT tenant_id, allowed_email_domains, max_pending_invitations, default_ttl_seconds, "
      "reminder_before_expiry_seconds, default_locale, version, update_time, updated_by "
      "FROM tenant_policies WHERE tenant_id = ?", lock ? " FOR UPDATE" : "")));
  s->setString(1, std::string(tenant_id));
  Rows rs(s->executeQuery());
  if (!rs->next()) return std::nullopt;
  TenantPolicy p;
  p.tenant_id = rs->getString("tenant_id");
  p.allowed_email_domains =
      absl::StrSplit(std::string(rs->getString("allowed_email_domains")), '\n', absl::SkipEmpty());
  p.max_pending_invitations = rs->getInt("max_pending_invitations");
  if (!rs->isNull("default_ttl_seconds")) {
    p.default_ttl = absl::Seconds(rs->getInt64("default_ttl_seconds"));
  }
  if (!rs->isNull("reminder_before_expiry_seconds")) {
    p.reminder_before_expiry = absl::Seconds(rs->getInt64("reminder_before_expiry_seconds"));
  }
  p.default_locale = rs->getString("default_locale");
  p.version = rs->getInt64("version");
  p.update_time = mysql::ParseSqlTime(rs->getString("update_time"));
  p.updated_by = rs->getString("updated_by");
  return p;
}

void SetNullableSeconds(sql::PreparedStatement& s, int index,
                        const std::optional<absl::Duration>& d) {
  if (d.has_value()) {
    s.setInt64(index, absl::ToInt64Seconds(*d));
  } else {
    s.setNull(index, 0);
  }
}

absl::Status EtagMismatch(absl::string_view tenant_id) {
  return ReasonedError(absl::StatusCode::kAborted,
                       absl::StrCat("the policy of tenant '", tenant_id,
                                    "' changed since it was read; read it again and reapply"),
                       kReasonPolicyEtagMismatch, {{"tenant_id", std::string(tenant_id)}});
}

// Must match the slots the quota triggers use (migration 0009).
constexpr int kQuotaGuardSlots = 32;

// The tenant's counter of pending invitations made exact, inside the transaction that sets a
// limit (tenants without one are not counted). Every guard slot is written first: a write in
// flight that read "no limit" holds its slot until it commits, so the count below includes it (on
// a Galera node, one of the two fails certification and is retried); every later write waits for
// this transaction and then sees the limit.
void RecountPending(SqlSession& c, const std::string& tenant_id) {
  std::string guards = "INSERT INTO tenant_quota_guards (tenant_id, slot, writes) VALUES ";
  for (int slot = 0; slot < kQuotaGuardSlots; ++slot) {
    absl::StrAppend(&guards, slot ? "," : "", "(?, ", slot, ", 1)");
  }
  absl::StrAppend(&guards, " ON DUPLICATE KEY UPDATE writes = writes + 1");
  Statement g(c.Prepare(guards));
  for (int slot = 0; slot < kQuotaGuardSlots; ++slot) g->setString(slot + 1, tenant_id);
  g->execute();
  Statement row(c.Prepare(
      "INSERT INTO tenant_pending_counts (tenant_id, pending) VALUES (?, 0) "
      "ON DUPLICATE KEY UPDATE pending = pending"));
  row->setString(1, tenant_id);
  row->execute();
  Statement count(c.Prepare(
      "UPDATE tenant_pending_counts SET pending = (SELECT COUNT(*) FROM invitations "
      "WHERE tenant_id = ? AND state = 'PENDING' AND active_email IS NOT NULL) "
      "WHERE tenant_id = ?"));
  count->setString(1, tenant_id);
  count->setString(2, tenant_id);
  count->execute();
}

}  // namespace

absl::StatusOr<std::optional<TenantPolicy>> MysqlTenantPolicyStore::Get(
    absl::string_view tenant_id) {
  std::optional<TenantPolicy> policy;
  RETURN_IF_ERROR(RunReadOnly(pool_, "reading a tenant policy", [&](SqlSession& c) {
    policy = ReadPolicy(c, tenant_id, /*lock=*/false);
    return absl::OkStatus();
  }));
  return policy;
}

absl::StatusOr<TenantPolicy> MysqlTenantPolicyStore::Put(const TenantPolicy& policy,
                                                         std::optional<int64_t> expected_version,
                                                         absl::string_view actor,
                                                         absl::string_view request_id,
                                                         absl::Time now) {
  TenantPolicy stored;
  // Decided inside the transaction, answered outside it: RunTransaction retries ABORTED, and a
  // stale etag stays stale however often it is retried.
  bool stale = false;
  RETURN_IF_ERROR(RunTransaction(pool_, "updating a tenant policy", [&](SqlSession& c) {
    stale = false;
    std::optional<TenantPolicy> current = ReadPolicy(c, policy.tenant_id, /*lock=*/true);
    const int64_t current_version = current.has_value() ? current->version : 0;
    if (expected_version.has_value() && *expected_version != current_version) {
      stale = true;
      return absl::OkStatus();  // nothing written
    }
    stored = policy;
    stored.version = current_version + 1;
    stored.update_time = absl::FromUnixMicros(absl::ToUnixMicros(now));  // DATETIME(6) keeps µs
    stored.updated_by = std::string(actor);
    // The version in the WHERE clause (or the primary key, for a first write) is what refuses a
    // racing writer on another Galera node, whose row lock above was only local.
    Statement s(c.Prepare(
        current.has_value()
            ? "UPDATE tenant_policies SET allowed_email_domains = ?, max_pending_invitations = ?, "
              "default_ttl_seconds = ?, reminder_before_expiry_seconds = ?, default_locale = ?, "
              "version = ?, update_time = ?, updated_by = ? WHERE tenant_id = ? AND version = ?"
            : "INSERT INTO tenant_policies (allowed_email_domains, max_pending_invitations, "
              "default_ttl_seconds, reminder_before_expiry_seconds, default_locale, version, "
              "update_time, updated_by, tenant_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    s->setString(1, absl::StrJoin(stored.allowed_email_domains, "\n"));
    s->setInt(2, stored.max_pending_invitations);
    SetNullableSeconds(*s, 3, stored.default_ttl);
    SetNullableSeconds(*s, 4, stored.reminder_before_expiry);
    s->setString(5, stored.default_locale);
    s->setInt64(6, stored.version);
    s->setString(7, SqlTime(now));
    s->setString(8, stored.updated_by);
    s->setString(9, stored.tenant_id);
    if (current.has_value()) s->setInt64(10, current_version);
    try {
      if (s->executeUpdate() != 1) {
        return absl::AbortedError("the policy changed on another database node; retrying");
      }
    } catch (const sql::SQLException& e) {
      if (e.getErrorCode() != kErDupEntry) throw;
      return absl::AbortedError("the policy was created concurrently; retrying");
    }
    if (stored.max_pending_invitations > 0) RecountPending(c, stored.tenant_id);
    Invitation subject;  // the event's subject is the tenant, not an invitation
    subject.tenant_id = stored.tenant_id;
    mysql::InsertEvent(c, subject,
                       AuditEvent{AuditEventType::kPolicyUpdated, stored.updated_by,
                                  absl::StrCat("version ", stored.version),
                                  std::string(request_id)},
                       now);
    return absl::OkStatus();
  }));
  if (stale) return EtagMismatch(policy.tenant_id);
  return stored;
}

}  // namespace securelink::invitations
