#include "storage/mysql_event_store.h"

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"
#include "storage/mysql_rows.h"

namespace securelink::invitations {
namespace {

using mysql::Rows;
using mysql::Statement;

AuditEventType ParseEventType(const std::string& name) {
  for (AuditEventType type :
       {AuditEventType::kCreated, AuditEventType::kResent, AuditEventType::kRevoked,
        AuditEventType::kExpired, AuditEventType::kAccepted, AuditEventType::kEmailSent,
        AuditEventType::kEmailFailed, AuditEventType::kReminderSent,
        AuditEventType::kPolicyUpdated}) {
    if (AuditEventTypeName(type) == name) return type;
  }
  return AuditEventType::kCreated;  // unreachable: the column only ever holds the names above
}

// The newest position handed out; every position up to it is visible to this statement's
// snapshot because each sequencing batch commits whole and after the previous one.
int64_t NewestPosition(SqlSession& c) {
  Statement s(c.Prepare("SELECT last_seq FROM event_feed_sequence WHERE id = 1"));
  Rows rs(s->executeQuery());
  return rs->next() ? rs->getInt64(1) : 0;
}

}  // namespace

absl::StatusOr<int> MysqlEventStore::SequenceCommittedEvents(int limit, bool wait) {
  int sequenced = 0;
  RETURN_IF_ERROR(RunTransaction(pool_, "sequencing events", [&](SqlSession& c) {
    sequenced = 0;
    // SKIP LOCKED: another replica is sequencing right now; its batch covers ours.
    Statement lock(c.Prepare(absl::StrCat(
        "SELECT last_seq FROM event_feed_sequence WHERE id = 1 FOR UPDATE",
        wait ? "" : " SKIP LOCKED")));
    Rows locked(lock->executeQuery());
    if (!locked->next()) return absl::OkStatus();
    const int64_t last = locked->getInt64(1);
    // A plain (consistent) read sees committed rows only; rows of transactions still open are
    // picked up by a later batch, after everything sequenced now.
    Statement pending(c.Prepare(
        "SELECT id FROM invitation_events WHERE seq IS NULL ORDER BY id LIMIT ?"));
    pending->setInt(1, limit);
    Rows rs(pending->executeQuery());
    std::vector<int64_t> ids;
    while (rs->next()) ids.push_back(rs->getInt64(1));
    if (ids.empty()) return absl::OkStatus();
    std::string cases;
    for (size_t i = 0; i < ids.size(); ++i) {
      absl::StrAppend(&cases, " WHEN ", ids[i], " THEN ", last + 1 + static_cast<int64_t>(i));
    }
    std::string in;
    for (size_t i = 0; i < ids.size(); ++i) absl::StrAppend(&in, i ? "," : "", ids[i]);
    // Plain text, not prepared: the ids make every batch's statement unique, so preparing it
    // would cost a round trip and a cache entry for one use.
    std::unique_ptr<sql::Statement> assign(c.connection().createStatement());
    assign->executeUpdate(absl::StrCat("UPDATE invitation_events SET seq = CASE id", cases,
                                       " END WHERE id IN (", in, ")"));
    Statement advance(
        c.Prepare("UPDATE event_feed_sequence SET last_seq = ? WHERE id = 1"));
    advance->setInt64(1, last + static_cast<int64_t>(ids.size()));
    advance->executeUpdate();
    sequenced = static_cast<int>(ids.size());
    return absl::OkStatus();
  }));
  return sequenced;
}

absl::StatusOr<FeedBounds> MysqlEventStore::Bounds() {
  FeedBounds bounds;
  RETURN_IF_ERROR(RunReadOnly(pool_, "reading event feed bounds", [&](SqlSession& c) {
    bounds.newest = NewestPosition(c);
    Statement s(c.Prepare(
        "SELECT MIN(seq) FROM invitation_events WHERE seq IS NOT NULL"));
    Rows rs(s->executeQuery());
    // No rows at all: everything handed out so far was removed (or nothing ever was).
    bounds.oldest = rs->next() && !rs->isNull(1) ? rs->getInt64(1) : bounds.newest + 1;
    if (bounds.newest == 0) bounds.oldest = 0;
    return absl::OkStatus();
  }));
  return bounds;
}

absl::StatusOr<FeedPage> MysqlEventStore::ReadAfter(int64_t after,
                                                   std::optional<std::string> tenant_id,
                                                   int limit, std::optional<int64_t> through) {
  FeedPage page;
  RETURN_IF_ERROR(RunReadOnly(pool_, "reading events", [&](SqlSession& c) {
    page.events.clear();
    // The bound is read first: positions at or below it are all visible to the next statement.
    int64_t upper = NewestPosition(c);
    if (through.has_value()) upper = std::min(upper, *through);
    page.scanned_through = std::max(after, upper);
    if (upper <= after) return absl::OkStatus();
    Statement s(c.Prepare(absl::StrCat(
        "SELECT seq, invitation_id, type, actor, tenant_id, email, reason, event_time, "
        "request_id FROM invitation_events WHERE seq > ? AND seq <= ?",
        tenant_id.has_value() ? " AND tenant_id = ?" : "", " ORDER BY seq LIMIT ?")));
    int p = 1;
    s->setInt64(p++, after);
    s->setInt64(p++, upper);
    if (tenant_id.has_value()) s->setString(p++, *tenant_id);
    s->setInt(p++, limit);
    Rows rs(s->executeQuery());
    while (rs->next()) {
      FeedEvent& e = page.events.emplace_back();
      e.seq = rs->getInt64(1);
      e.invitation_id = rs->getString(2);
      e.type = ParseEventType(rs->getString(3));
      e.actor = rs->getString(4);
      e.tenant_id = rs->getString(5);
      e.email = rs->getString(6);
      if (!rs->isNull(7)) e.reason = rs->getString(7);
      e.event_time = mysql::ParseSqlTime(rs->getString(8));
      if (!rs->isNull(9)) e.request_id = rs->getString(9);
    }
    // A full page stops at its last event; a short one has seen everything up to `upper`.
    if (static_cast<int>(page.events.size()) == limit) {
      page.scanned_through = page.events.back().seq;
    }
    return absl::OkStatus();
  }));
  return page;
}

}  // namespace securelink::invitations
