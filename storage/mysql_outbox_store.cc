#include "storage/mysql_outbox_store.h"

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/domain/token.h"
#include "server/util/status_macros.h"
#include "storage/mysql_rows.h"

namespace securelink::invitations {
namespace {

using mysql::Placeholders;
using mysql::Rows;
using mysql::SqlTime;
using mysql::Statement;

constexpr size_t kMaxErrorLength = 1000;

std::string Truncated(absl::string_view error) {
  return std::string(error.substr(0, kMaxErrorLength));
}

// Moves the message out of the owner's lease into `state`. Returns false when the lease was lost
// (another dispatcher reclaimed the row after our lease expired): then nothing is recorded.
bool SettleMessage(SqlSession& c, const ClaimedEmail& email, absl::string_view owner,
                   const char* state, absl::string_view error, absl::Time now, bool sent) {
  Statement s(c.Prepare(absl::StrCat(
      "UPDATE email_outbox SET state = ?, last_error = ?, update_time = ?, lease_owner = NULL, "
      "lease_expire_time = NULL", sent ? ", sent_time = ?" : "",
      " WHERE id = ? AND lease_owner = ? AND state = 'PENDING'")));
  int p = 1;
  s->setString(p++, state);
  mysql::SetNullableString(*s, p++, Truncated(error));
  s->setString(p++, SqlTime(now));
  if (sent) s->setString(p++, SqlTime(now));
  s->setInt64(p++, email.outbox_id);
  s->setString(p++, std::string(owner));
  return s->executeUpdate() == 1;
}

// The invitation's delivery status follows the message that carries its current link. A
// reminder that went out delivered that link too (SENT, last_send_time); one that failed leaves
// the status of the first mail alone and is only recorded on the feed.
void RecordOnInvitation(SqlSession& c, const ClaimedEmail& email, bool sent,
                        absl::string_view error, absl::Time now) {
  if (!email.link_current) return;
  if (email.reminder && !sent) {
    mysql::InsertEvent(c, email.invitation,
                       AuditEvent{AuditEventType::kEmailFailed, mysql::kSystemActor,
                                  Truncated(absl::StrCat("reminder: ", error)), email.request_id},
                       now);
    return;
  }
  Statement s(c.Prepare(absl::StrCat(
      "UPDATE invitations SET email_delivery_state = ?, email_last_error = ?, update_time = ?",
      sent ? ", last_send_time = ?" : "", " WHERE id = ?")));
  int p = 1;
  s->setString(p++, sent ? "SENT" : "FAILED");
  mysql::SetNullableString(*s, p++, Truncated(error));
  s->setString(p++, SqlTime(now));
  if (sent) s->setString(p++, SqlTime(now));
  s->setString(p++, email.invitation.id);
  s->execute();
  mysql::InsertEvent(c, email.invitation,
                     AuditEvent{!sent          ? AuditEventType::kEmailFailed
                                : email.reminder ? AuditEventType::kReminderSent
                                                 : AuditEventType::kEmailSent,
                                mysql::kSystemActor, Truncated(error), email.request_id},
                     now);
}

}  // namespace

absl::StatusOr<std::vector<ClaimedEmail>> MysqlOutboxStore::Claim(absl::string_view owner,
                                                                 int limit, absl::Time now,
                                                                 absl::Duration lease) {
  std::vector<ClaimedEmail> claimed;
  RETURN_IF_ERROR(RunTransaction(pool_, "claiming outbox messages", [&](SqlSession& c) {
    claimed.clear();
    const std::string t = SqlTime(now);
    Statement due(c.Prepare(
        "SELECT id, invitation_id, message_id, token_hash, attempts, create_time, kind, "
        "request_id FROM email_outbox WHERE state = 'PENDING' AND next_attempt_time <= ? "
        "AND (lease_expire_time IS NULL OR lease_expire_time <= ?) "
        "ORDER BY next_attempt_time LIMIT ? FOR UPDATE SKIP LOCKED"));
    due->setString(1, t);
    due->setString(2, t);
    due->setInt(3, limit);
    Rows rs(due->executeQuery());
    absl::flat_hash_map<std::string, std::vector<size_t>> by_invitation;
    std::vector<std::string> token_hashes;
    while (rs->next()) {
      ClaimedEmail e;
      e.outbox_id = static_cast<int64_t>(rs->getUInt64("id"));
      e.invitation.id = rs->getString("invitation_id");
      e.message_id = rs->getString("message_id");
      e.attempts = rs->getInt("attempts") + 1;
      e.queued_time = mysql::ParseSqlTime(rs->getString("create_time"));
      e.reminder = rs->getString("kind") == "REMINDER";
      if (!rs->isNull("request_id")) e.request_id = rs->getString("request_id");
      token_hashes.push_back(rs->getString("token_hash"));
      by_invitation[e.invitation.id].push_back(claimed.size());
      claimed.push_back(std::move(e));
    }
    if (claimed.empty()) return absl::OkStatus();

    Statement take(c.Prepare(absl::StrCat(
        "UPDATE email_outbox SET lease_owner = ?, lease_expire_time = ?, attempts = attempts + 1, "
        "update_time = ? WHERE id IN (", Placeholders(claimed.size()), ")")));
    take->setString(1, std::string(owner));
    take->setString(2, SqlTime(now + lease));
    take->setString(3, t);
    for (size_t i = 0; i < claimed.size(); ++i) take->setInt64(i + 4, claimed[i].outbox_id);
    take->execute();

    Statement invitations(c.Prepare(absl::StrCat(
        "SELECT ", mysql::kInvitationColumns, " FROM invitations WHERE id IN (",
        Placeholders(by_invitation.size()), ")")));
    int p = 1;
    for (const auto& [id, unused] : by_invitation) invitations->setString(p++, id);
    Rows inv(invitations->executeQuery());
    while (inv->next()) {
      std::string sealed;
      Invitation invitation = mysql::ReadInvitation(*inv, &sealed);
      const std::string current_hash = invitation.token_hash_hex;
      for (size_t i : by_invitation[invitation.id]) {
        claimed[i].invitation = invitation;
        claimed[i].link_current = token_hashes[i] == current_hash;
        absl::StatusOr<std::string> raw = Base64UrlDecode(sealed);
        claimed[i].sealed_token = raw.ok() ? *raw : "";
      }
    }
    return absl::OkStatus();
  }));
  return claimed;
}

absl::StatusOr<SendCheck> MysqlOutboxStore::RecheckBeforeSend(const ClaimedEmail& email,
                                                               absl::string_view owner) {
  SendCheck check;
  RETURN_IF_ERROR(RunReadOnly(pool_, "re-checking an email's link", [&](SqlSession& c) {
    check = SendCheck{};
    // Primary key, then uq_invitations_id: two point lookups. A plain (non-locking) read: a
    // Resend or Revoke committed before it is seen, and holding a lock across the SMTP
    // conversation would stall them for as long as the relay takes.
    Statement s(c.Prepare(
        "SELECT o.state, o.lease_owner, i.token_hash = o.token_hash AS link_current, "
        "i.state AS invitation_state, i.expire_time "
        "FROM email_outbox o LEFT JOIN invitations i ON i.id = o.invitation_id WHERE o.id = ?"));
    s->setInt64(1, email.outbox_id);
    Rows rs(s->executeQuery());
    if (!rs->next()) return absl::OkStatus();  // gone: certainly not ours to send
    check.still_claimed = rs->getString("state") == "PENDING" && !rs->isNull("lease_owner") &&
                          rs->getString("lease_owner") == std::string(owner);
    if (rs->isNull("invitation_state")) return absl::OkStatus();
    check.link_current = rs->getBoolean("link_current");
    check.state = StateFromName(std::string(rs->getString("invitation_state")));
    check.expire_time = mysql::ParseSqlTime(rs->getString("expire_time"));
    return absl::OkStatus();
  }));
  return check;
}

absl::Status MysqlOutboxStore::MarkSent(const ClaimedEmail& email, absl::string_view owner,
                                        absl::Time now) {
  return RunTransaction(pool_, "recording a sent email", [&](SqlSession& c) {
    if (SettleMessage(c, email, owner, "SENT", "", now, /*sent=*/true)) {
      RecordOnInvitation(c, email, /*sent=*/true, "", now);
    }
    return absl::OkStatus();
  });
}

absl::Status MysqlOutboxStore::MarkRetry(const ClaimedEmail& email, absl::string_view owner,
                                         absl::Time retry_at, absl::string_view error,
                                         absl::Time now) {
  return RunTransaction(pool_, "scheduling an email retry", [&](SqlSession& c) {
    Statement s(c.Prepare(
        "UPDATE email_outbox SET next_attempt_time = ?, last_error = ?, update_time = ?, "
        "lease_owner = NULL, lease_expire_time = NULL "
        "WHERE id = ? AND lease_owner = ? AND state = 'PENDING'"));
    s->setString(1, SqlTime(retry_at));
    s->setString(2, Truncated(error));
    s->setString(3, SqlTime(now));
    s->setInt64(4, email.outbox_id);
    s->setString(5, std::string(owner));
    s->execute();
    return absl::OkStatus();
  });
}

absl::Status MysqlOutboxStore::MarkFailed(const ClaimedEmail& email, absl::string_view owner,
                                          absl::string_view error, absl::Time now) {
  return RunTransaction(pool_, "recording a failed email", [&](SqlSession& c) {
    if (SettleMessage(c, email, owner, "FAILED", error, now, /*sent=*/false)) {
      RecordOnInvitation(c, email, /*sent=*/false, error, now);
    }
    return absl::OkStatus();
  });
}

absl::Status MysqlOutboxStore::MarkSuperseded(const ClaimedEmail& email, absl::string_view owner,
                                              absl::Time now) {
  return RunTransaction(pool_, "superseding an email", [&](SqlSession& c) {
    SettleMessage(c, email, owner, "SUPERSEDED", "", now, /*sent=*/false);
    return absl::OkStatus();
  });
}

absl::StatusOr<OutboxStats> MysqlOutboxStore::Stats(absl::Time now) {
  OutboxStats stats;
  RETURN_IF_ERROR(RunReadOnly(pool_, "reading outbox depth", [&](SqlSession& c) {
    Statement s(c.Prepare(
        "SELECT COUNT(*), MIN(next_attempt_time) FROM email_outbox "
        "WHERE state = 'PENDING' AND next_attempt_time <= ?"));
    s->setString(1, SqlTime(now));
    Rows rs(s->executeQuery());
    if (rs->next()) {
      stats.due = rs->getInt64(1);
      if (!rs->isNull(2)) stats.oldest_due_age = now - mysql::ParseSqlTime(rs->getString(2));
    }
    return absl::OkStatus();
  }));
  return stats;
}

}  // namespace securelink::invitations
