#include "storage/mysql_reminder_store.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/domain/token.h"
#include "server/util/status_macros.h"
#include "storage/mysql_rows.h"

namespace securelink::invitations {
namespace {

using mysql::Hex;
using mysql::Placeholders;
using mysql::Rows;
using mysql::SqlTime;
using mysql::Statement;

// Tenants per SELECT: each is one range of ix_invitations_reminder_due; bounded so that a
// statement stays small however many tenants have a reminder policy.
constexpr size_t kTenantsPerQuery = 100;

struct ReminderWindow {
  std::string tenant_id;
  absl::Time due_before;  // expire_time at or before this: the reminder is due
};

struct DueReminder {
  std::string invitation_id;
  std::string token_hash_hex;
};

}  // namespace

std::string ReminderMessageId(absl::string_view invitation_id, absl::string_view token_hash_hex) {
  const std::string digest = Hex(Sha256(absl::StrCat("reminder:", invitation_id, ":",
                                                     token_hash_hex)));
  return absl::StrCat("<reminder.", digest.substr(0, 32), "@invitations.securelink>");
}

absl::StatusOr<int> MysqlReminderStore::QueueDueReminders(absl::Time now, int limit) {
  int queued = 0;
  RETURN_IF_ERROR(RunTransaction(pool_, "queueing reminder emails", [&](SqlSession& c) {
    queued = 0;
    const std::string t = SqlTime(now);
    // Not locked: a policy changed while this runs takes effect on the next pass.
    std::vector<ReminderWindow> windows;
    {
      Statement s(c.Prepare(
          "SELECT tenant_id, reminder_before_expiry_seconds FROM tenant_policies "
          "WHERE reminder_before_expiry_seconds > 0 ORDER BY tenant_id"));
      Rows rs(s->executeQuery());
      while (rs->next()) {
        windows.push_back(ReminderWindow{
            rs->getString("tenant_id"),
            now + absl::Seconds(rs->getInt64("reminder_before_expiry_seconds"))});
      }
    }
    std::vector<DueReminder> due;
    for (size_t first = 0; first < windows.size() && static_cast<int>(due.size()) < limit;
         first += kTenantsPerQuery) {
      const size_t n = std::min(kTenantsPerQuery, windows.size() - first);
      std::string ranges;
      for (size_t i = 0; i < n; ++i) {
        absl::StrAppend(&ranges, i ? " OR " : "",
                        "(tenant_id = ? AND state = 'PENDING' AND expire_time > ? "
                        "AND expire_time <= ?)");
      }
      // Suppressed: the caller hands the link over itself and asked for no mail from us.
      Statement s(c.Prepare(absl::StrCat(
          "SELECT id, token_hash FROM invitations WHERE (", ranges, ") "
          "AND email_delivery_state <> 'SUPPRESSED' "
          "AND (reminder_token_hash IS NULL OR reminder_token_hash <> token_hash) "
          "ORDER BY expire_time LIMIT ? FOR UPDATE SKIP LOCKED")));
      int p = 1;
      for (size_t i = 0; i < n; ++i) {
        s->setString(p++, windows[first + i].tenant_id);
        s->setString(p++, t);
        s->setString(p++, SqlTime(windows[first + i].due_before));
      }
      s->setInt(p, limit - static_cast<int>(due.size()));
      Rows rs(s->executeQuery());
      while (rs->next()) {
        due.push_back(DueReminder{rs->getString("id"), rs->getString("token_hash")});
      }
    }
    if (due.empty()) return absl::OkStatus();

    // The rows are locked by the SELECT above, so its conditions still hold; repeating them
    // costs nothing and keeps the update right even if that ever stopped being so.
    Statement mark(c.Prepare(absl::StrCat(
        "UPDATE invitations SET reminder_token_hash = token_hash, send_count = send_count + 1, "
        "update_time = ? WHERE state = 'PENDING' "
        "AND (reminder_token_hash IS NULL OR reminder_token_hash <> token_hash) AND id IN (",
        Placeholders(due.size()), ")")));
    mark->setString(1, t);
    for (size_t i = 0; i < due.size(); ++i) mark->setString(i + 2, due[i].invitation_id);
    if (mark->executeUpdate() != static_cast<int>(due.size())) {
      return absl::AbortedError("an invitation changed under the reminder pass; next pass");
    }

    std::string sql =
        "INSERT INTO email_outbox (invitation_id, message_id, token_hash, state, attempts, "
        "next_attempt_time, create_time, update_time, kind) VALUES ";
    for (size_t i = 0; i < due.size(); ++i) {
      absl::StrAppend(&sql, i ? "," : "", "(?,?,?,'PENDING',0,?,?,?,'REMINDER')");
    }
    Statement insert(c.Prepare(sql));
    int p = 1;
    for (const DueReminder& d : due) {
      insert->setString(p++, d.invitation_id);
      insert->setString(p++, ReminderMessageId(d.invitation_id, d.token_hash_hex));
      insert->setString(p++, d.token_hash_hex);
      insert->setString(p++, t);
      insert->setString(p++, t);
      insert->setString(p++, t);
    }
    try {
      insert->execute();
    } catch (const sql::SQLException& e) {
      // Only a pass that raced this one on another Galera node can have queued it (its commit
      // applied here mid-transaction): it is queued, once, which is the point.
      if (e.getErrorCode() == kErDupEntry &&
          absl::StrContains(e.what(), "uq_email_outbox_message_id")) {
        return absl::AbortedError("a concurrent pass queued these reminders");
      }
      throw;
    }
    queued = static_cast<int>(due.size());
    return absl::OkStatus();
  }));
  return queued;
}

}  // namespace securelink::invitations
