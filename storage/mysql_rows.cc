// Row mapping and statement helpers shared by the MySQL stores.
#include "storage/mysql_rows.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace securelink::invitations::mysql {


const char kInvitationColumns[] =
    "seq, id, email, role, tenant_id, state, create_time, update_time, expire_time, "
    "accept_time, revoke_time, last_send_time, send_count, created_by, user_id, revoke_reason, "
    "request_id, email_delivery_state, email_last_error, sealed_token, accept_user_id, token_hash, "
    "accept_attempt_id, accept_lease_expire_time, accept_link_hash, locale";

const char kSystemActor[] = "system";

// DATETIME(6) columns hold UTC wall time; the session time zone is pinned to +00:00.
std::string SqlTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone());
}

absl::Time ParseSqlTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S", text, absl::UTCTimeZone(), &t, &err)) {
    return absl::InfinitePast();
  }
  return t;
}

std::optional<absl::Time> OptionalTime(sql::ResultSet& rs, const char* column) {
  if (rs.isNull(column)) return std::nullopt;
  return ParseSqlTime(rs.getString(column));
}

std::string OptionalString(sql::ResultSet& rs, const char* column) {
  return rs.isNull(column) ? std::string() : std::string(rs.getString(column));
}

Invitation ReadInvitation(sql::ResultSet& rs, std::string* sealed_token) {
  Invitation inv;
  inv.seq = static_cast<int64_t>(rs.getUInt64("seq"));
  inv.id = rs.getString("id");
  inv.email = rs.getString("email");
  inv.role = RoleFromName(std::string(rs.getString("role")));
  inv.tenant_id = rs.getString("tenant_id");
  inv.state = StateFromName(std::string(rs.getString("state")));
  inv.create_time = ParseSqlTime(rs.getString("create_time"));
  inv.update_time = ParseSqlTime(rs.getString("update_time"));
  inv.expire_time = ParseSqlTime(rs.getString("expire_time"));
  inv.accept_time = OptionalTime(rs, "accept_time");
  inv.revoke_time = OptionalTime(rs, "revoke_time");
  inv.last_send_time = OptionalTime(rs, "last_send_time");
  inv.send_count = rs.getInt("send_count");
  inv.created_by = rs.getString("created_by");
  inv.user_id = OptionalString(rs, "user_id");
  inv.revoke_reason = OptionalString(rs, "revoke_reason");
  inv.request_id = OptionalString(rs, "request_id");
  inv.email_delivery_state =
      DeliveryStateFromName(std::string(rs.getString("email_delivery_state")));
  inv.email_last_error = OptionalString(rs, "email_last_error");
  inv.accept_user_id = OptionalString(rs, "accept_user_id");
  inv.token_hash_hex = rs.getString("token_hash");
  inv.accept_attempt_id = OptionalString(rs, "accept_attempt_id");
  inv.accept_lease_expire_time = OptionalTime(rs, "accept_lease_expire_time");
  inv.accept_link_hash = OptionalString(rs, "accept_link_hash");
  inv.locale = rs.getString("locale");
  if (sealed_token != nullptr) *sealed_token = OptionalString(rs, "sealed_token");
  return inv;
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

void SetNullableString(sql::PreparedStatement& s, int index, const std::string& value) {
  if (value.empty()) {
    s.setNull(index, sql::DataType::VARCHAR);
  } else {
    s.setString(index, value);
  }
}

void SetNullableTime(sql::PreparedStatement& s, int index, const std::optional<absl::Time>& t) {
  if (t.has_value()) {
    s.setString(index, SqlTime(*t));
  } else {
    s.setNull(index, sql::DataType::TIMESTAMP);
  }
}

// The row with `column` = `value`, or nullopt. `lock` appends FOR UPDATE.
std::optional<Invitation> FindOne(SqlSession& c, const char* column, const std::string& value,
                                  bool lock, std::string* sealed_token) {
  Statement s(c.Prepare(absl::StrCat("SELECT ", kInvitationColumns, " FROM invitations WHERE ",
                                              column, " = ?", lock ? " FOR UPDATE" : "")));
  s->setString(1, value);
  Rows rs(s->executeQuery());
  if (!rs->next()) return std::nullopt;
  return ReadInvitation(*rs, sealed_token);
}

void InsertEvent(SqlSession& c, const Invitation& inv, const AuditEvent& event,
                 absl::Time now) {
  Statement s(c.Prepare(
      "INSERT INTO invitation_events (invitation_id, type, actor, tenant_id, email, reason, "
      "event_time, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  s->setString(1, inv.id);
  s->setString(2, std::string(AuditEventTypeName(event.type)));
  s->setString(3, event.actor);
  s->setString(4, inv.tenant_id);
  s->setString(5, inv.email);
  SetNullableString(*s, 6, event.reason);
  s->setString(7, SqlTime(now));
  SetNullableString(*s, 8, event.request_id);
  s->execute();
}

// One multi-row INSERT for many events (BulkInvite writes a chunk's events at once).
void InsertEvents(SqlSession& c, const std::vector<PendingEvent>& events, absl::Time now) {
  if (events.empty()) return;
  std::string sql =
      "INSERT INTO invitation_events (invitation_id, type, actor, tenant_id, email, reason, "
      "event_time, request_id) VALUES ";
  for (size_t i = 0; i < events.size(); ++i) {
    absl::StrAppend(&sql, i ? "," : "", "(?,?,?,?,?,?,?,?)");
  }
  Statement s(c.Prepare(sql));
  int p = 1;
  const std::string time = SqlTime(now);
  for (const PendingEvent& e : events) {
    s->setString(p++, e.invitation_id);
    s->setString(p++, std::string(AuditEventTypeName(e.event.type)));
    s->setString(p++, e.event.actor);
    s->setString(p++, e.tenant_id);
    s->setString(p++, e.email);
    SetNullableString(*s, p++, e.event.reason);
    s->setString(p++, time);
    SetNullableString(*s, p++, e.event.request_id);
  }
  s->execute();
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) absl::StrAppend(&out, i ? ",?" : "?");
  return out;
}

}  // namespace securelink::invitations::mysql
