// Row mapping and statement helpers shared by the MySQL stores. Internal to storage/.
#ifndef SECURELINK_STORAGE_MYSQL_ROWS_H_
#define SECURELINK_STORAGE_MYSQL_ROWS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"
#include "storage/connection_pool.h"
#include "storage/invitation_store.h"

namespace sql {
class PreparedStatement;
class ResultSet;
}  // namespace sql

namespace securelink::invitations::mysql {

using Statement = sql::PreparedStatement*;  // owned by the SqlSession that prepared it
using Rows = std::unique_ptr<sql::ResultSet>;

// The invitations columns ReadInvitation expects, in a SELECT list.
extern const char kInvitationColumns[];
// The audit actor for changes the service makes on its own (expiry, delivery).
extern const char kSystemActor[];

// DATETIME(6) text in UTC (the session time zone is pinned to +00:00) and back.
std::string SqlTime(absl::Time t);
absl::Time ParseSqlTime(const std::string& text);
std::string Hex(absl::string_view bytes);

// One invitations row (selected with kInvitationColumns); `sealed_token` receives its sealed
// token (base64url text) when non-null.
Invitation ReadInvitation(sql::ResultSet& rs, std::string* sealed_token = nullptr);

void SetNullableString(sql::PreparedStatement& s, int index, const std::string& value);
void SetNullableTime(sql::PreparedStatement& s, int index, const std::optional<absl::Time>& t);

// The row with `column` = `value`, or nullopt. `lock` appends FOR UPDATE.
std::optional<Invitation> FindOne(SqlSession& c, const char* column, const std::string& value,
                                  bool lock, std::string* sealed_token = nullptr);

void InsertEvent(SqlSession& c, const Invitation& inv, const AuditEvent& event,
                 absl::Time now);

struct PendingEvent {
  std::string invitation_id;
  std::string tenant_id;
  std::string email;
  AuditEvent event;
};
void InsertEvents(SqlSession& c, const std::vector<PendingEvent>& events, absl::Time now);

// "?,?,…" with `n` placeholders.
std::string Placeholders(size_t n);

}  // namespace securelink::invitations::mysql

#endif  // SECURELINK_STORAGE_MYSQL_ROWS_H_
