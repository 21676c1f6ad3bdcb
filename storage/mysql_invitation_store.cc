#include "storage/mysql_invitation_store.h"

#include <algorithm>
#include <optional>

#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <mysql_connection.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "storage/mysql_rows.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/domain/errors.h"
#include "server/domain/tenant_policy.h"
#include "server/domain/token.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {

absl::string_view AuditEventTypeName(AuditEventType type) {
  switch (type) {
    case AuditEventType::kCreated: return "CREATED";
    case AuditEventType::kResent: return "RESENT";
    case AuditEventType::kRevoked: return "REVOKED";
    case AuditEventType::kExpired: return "EXPIRED";
    case AuditEventType::kAccepted: return "ACCEPTED";
    case AuditEventType::kEmailSent: return "EMAIL_SENT";
    case AuditEventType::kEmailFailed: return "EMAIL_FAILED";
    case AuditEventType::kReminderSent: return "REMINDER_SENT";
    case AuditEventType::kPolicyUpdated: return "POLICY_UPDATED";
  }
  return "UNKNOWN";
}

namespace {

using mysql::FindOne;
using mysql::Hex;
using mysql::InsertEvent;
using mysql::InsertEvents;
using mysql::kInvitationColumns;
using mysql::kSystemActor;
using mysql::ParseSqlTime;
using mysql::PendingEvent;
using mysql::Placeholders;
using mysql::ReadInvitation;
using mysql::Rows;
using mysql::SetNullableString;
using mysql::SetNullableTime;
using mysql::SqlTime;
using mysql::Statement;

// A time as a DATETIME(6) column keeps it (SqlTime writes whole microseconds).
absl::Time StoredTime(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

// Callers that predate languages (and stores' own tests) leave the locale empty: English.
std::string LocaleOrEnglish(const std::string& locale) { return locale.empty() ? "en" : locale; }

// An invitation that stops being PENDING while an accept attempt left traces (a claim, or an
// account recorded for it) becomes due for the accept recoverer at once (one placeholder: now),
// which removes the account nobody can accept any more.
constexpr char kAcceptCleanupDue[] =
    "accept_lease_expire_time = CASE WHEN accept_attempt_id IS NOT NULL OR accept_user_id IS NOT "
    "NULL THEN ? ELSE accept_lease_expire_time END";

struct QueuedEmail {
  std::string invitation_id;
  std::string message_id;
  std::string token_hash_hex;
  std::string request_id;  // of the call that queued it, for the dispatcher's log and events
};

// Outbox rows for invitation emails, due at once (SPEC §4: same transaction as the change).
void QueueEmails(SqlSession& c, const std::vector<QueuedEmail>& emails, absl::Time now) {
  if (emails.empty()) return;
  std::string sql =
      "INSERT INTO email_outbox (invitation_id, message_id, token_hash, state, attempts, "
      "next_attempt_time, create_time, update_time, request_id) VALUES ";
  for (size_t i = 0; i < emails.size(); ++i) {
    absl::StrAppend(&sql, i ? "," : "", "(?,?,?,'PENDING',0,?,?,?,?)");
  }
  Statement s(c.Prepare(sql));
  const std::string t = SqlTime(now);
  int p = 1;
  for (const QueuedEmail& e : emails) {
    s->setString(p++, e.invitation_id);
    s->setString(p++, e.message_id);
    s->setString(p++, e.token_hash_hex);
    s->setString(p++, t);
    s->setString(p++, t);
    s->setString(p++, t);
    SetNullableString(*s, p++, e.request_id);
  }
  s->execute();
}

// The multi-row INSERT of new PENDING invitations, with every row bound and `suffix` appended
// (e.g. an ON DUPLICATE KEY clause); the rows' CREATED events and queued emails are added to
// `created` and `emails`, for the caller to write once it knows which rows went in.
Statement PrepareNewInvitations(SqlSession& c, const std::vector<const NewInvitation*>& rows,
                                absl::string_view suffix, std::vector<PendingEvent>* created,
                                std::vector<QueuedEmail>* emails) {
  std::string sql =
      "INSERT INTO invitations (id, email, role, tenant_id, state, active_email, token_hash, "
      "sealed_token, request_id, create_time, update_time, expire_time, send_count, created_by, "
      "email_delivery_state, locale) VALUES ";
  for (size_t k = 0; k < rows.size(); ++k) {
    absl::StrAppend(&sql, k ? "," : "", "(?,?,?,?,'PENDING',?,?,?,?,?,?,?,?,?,?,?)");
  }
  absl::StrAppend(&sql, suffix);
  Statement insert(c.Prepare(sql));
  int p = 1;
  for (const NewInvitation* row : rows) {
    const Invitation& inv = row->invitation;
    insert->setString(p++, inv.id);
    insert->setString(p++, inv.email);
    insert->setString(p++, std::string(RoleName(inv.role)));
    insert->setString(p++, inv.tenant_id);
    insert->setString(p++, inv.email);
    insert->setString(p++, Hex(row->token_hash));
    insert->setString(p++, Base64UrlEncode(row->sealed_token));
    SetNullableString(*insert, p++, inv.request_id);
    insert->setString(p++, SqlTime(inv.create_time));
    insert->setString(p++, SqlTime(inv.update_time));
    insert->setString(p++, SqlTime(inv.expire_time));
    insert->setInt(p++, inv.send_count);
    insert->setString(p++, inv.created_by);
    insert->setString(p++, std::string(DeliveryStateName(inv.email_delivery_state)));
    insert->setString(p++, LocaleOrEnglish(inv.locale));
    created->push_back(PendingEvent{inv.id, inv.tenant_id, inv.email, row->event});
    if (!row->email_message_id.empty()) {
      emails->push_back(QueuedEmail{inv.id, row->email_message_id, Hex(row->token_hash),
                                       row->event.request_id});
    }
  }
  return insert;
}

// Persists expiry (SPEC §2) of active rows found past their expiry at `now` while making room
// for new invitations: EXPIRED, sealed link forgotten, each with its event.
void ExpireStaleHolders(SqlSession& c, const std::vector<PendingEvent>& stale, absl::Time now) {
  if (stale.empty()) return;
  Statement expire(c.Prepare(absl::StrCat(
      "UPDATE invitations SET state = 'EXPIRED', active_email = NULL, sealed_token = NULL, "
      "update_time = ?, ", kAcceptCleanupDue, " WHERE id IN (", Placeholders(stale.size()), ")")));
  expire->setString(1, SqlTime(now));
  expire->setString(2, SqlTime(now));
  for (size_t i = 0; i < stale.size(); ++i) expire->setString(i + 3, stale[i].invitation_id);
  expire->execute();
  InsertEvents(c, stale, now);
}

// Unsent emails of an invitation will never go out (their link is dead or unwanted). A message a
// dispatcher is sending right now is caught by its re-check of the link just before sending.
void SupersedeQueuedEmails(SqlSession& c, const std::string& invitation_id, absl::Time now) {
  Statement s(c.Prepare(
      "UPDATE email_outbox SET state = 'SUPERSEDED', update_time = ? "
      "WHERE invitation_id = ? AND state = 'PENDING'"));
  s->setString(1, SqlTime(now));
  s->setString(2, invitation_id);
  s->execute();
}

// Makes room for a new active invitation for `email`: a PENDING row already past its expiry is
// persisted as EXPIRED (with its event); a live one is returned as the blocker.
std::optional<Invitation> ClearStaleActive(SqlSession& c, const std::string& email,
                                           const std::string& except_id, absl::Time now) {
  std::optional<Invitation> holder = FindOne(c, "active_email", email, /*lock=*/true);
  if (!holder.has_value() || holder->id == except_id) return std::nullopt;
  if (holder->expire_time > now) return holder;
  Statement s(c.Prepare(absl::StrCat(
      "UPDATE invitations SET state = 'EXPIRED', active_email = NULL, sealed_token = NULL, "
      "update_time = ?, ", kAcceptCleanupDue, " WHERE id = ?")));
  s->setString(1, SqlTime(now));
  s->setString(2, SqlTime(now));
  s->setString(3, holder->id);
  s->execute();
  InsertEvent(c, *holder, AuditEvent{AuditEventType::kExpired, kSystemActor, "ttl elapsed"}, now);
  return std::nullopt;
}

bool IsDuplicateOf(const sql::SQLException& e, absl::string_view key) {
  return e.getErrorCode() == kErDupEntry && absl::StrContains(e.what(), key);
}

// Overdue rows expired in one go to make room under a tenant's pending quota.
constexpr int kOverdueBatch = 500;

// The pending-quota triggers (migration 0009) refused a row: its tenant has no free place.
bool IsPendingLimitRefusal(const sql::SQLException& e) {
  return e.getErrorCode() == kErSignalException &&
         absl::StrContains(e.what(), kReasonTenantPendingLimitReached);
}

absl::Status PendingLimitError(const std::string& tenant_id) {
  return ReasonedError(
      absl::StatusCode::kResourceExhausted,
      absl::StrCat("tenant '", tenant_id, "' has as many pending invitations as its policy's "
                   "max_pending_invitations allows; revoke one, or wait until one is accepted "
                   "or expires"),
      kReasonTenantPendingLimitReached);
}

// Persists expiry (SPEC §2) of up to `limit` PENDING rows past their expiry at `now` (only
// `tenant_id`'s when given), skipping rows another transaction holds: EXPIRED, each with its
// event, unsent mail superseded. Their places under the quota are freed by the triggers.
int ExpireOverdue(SqlSession& c, absl::Time now, int limit,
                  const std::optional<std::string>& tenant_id) {
  Statement due(c.Prepare(absl::StrCat(
      "SELECT id, email, tenant_id FROM invitations WHERE state = 'PENDING' AND expire_time <= ?",
      tenant_id.has_value() ? " AND tenant_id = ?" : "",
      " ORDER BY expire_time LIMIT ? FOR UPDATE SKIP LOCKED")));
  int p = 1;
  due->setString(p++, SqlTime(now));
  if (tenant_id.has_value()) due->setString(p++, *tenant_id);
  due->setInt(p++, limit);
  Rows rs(due->executeQuery());
  std::vector<PendingEvent> events;
  while (rs->next()) {
    events.push_back(PendingEvent{rs->getString("id"), rs->getString("tenant_id"),
                                  rs->getString("email"),
                                  AuditEvent{AuditEventType::kExpired, kSystemActor, "ttl elapsed"}});
  }
  if (events.empty()) return 0;
  Statement expire(c.Prepare(absl::StrCat(
      "UPDATE invitations SET state = 'EXPIRED', active_email = NULL, sealed_token = NULL, "
      "update_time = ?, ", kAcceptCleanupDue, " WHERE state = 'PENDING' AND id IN (",
      Placeholders(events.size()), ")")));
  expire->setString(1, SqlTime(now));
  expire->setString(2, SqlTime(now));
  for (size_t i = 0; i < events.size(); ++i) expire->setString(i + 3, events[i].invitation_id);
  expire->execute();
  Statement outbox(c.Prepare(absl::StrCat(
      "UPDATE email_outbox SET state = 'SUPERSEDED', update_time = ? "
      "WHERE state = 'PENDING' AND invitation_id IN (", Placeholders(events.size()), ")")));
  outbox->setString(1, SqlTime(now));
  for (size_t i = 0; i < events.size(); ++i) outbox->setString(i + 2, events[i].invitation_id);
  outbox->execute();
  InsertEvents(c, events, now);
  return static_cast<int>(events.size());
}

absl::Status PolicyChangedError(const std::string& tenant_id) {
  return ReasonedError(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("the policy of tenant '", tenant_id,
                                    "' changed while the invitation was being created; try again"),
                       kReasonTenantPolicyChanged);
}

// The stored policy version of each tenant in `tenant_ids` (0: none stored). A plain read: a
// policy committed after it is ordered after the rows this transaction writes.
absl::flat_hash_map<std::string, int64_t> PolicyVersions(
    SqlSession& c, const std::vector<std::string>& tenant_ids) {
  absl::flat_hash_map<std::string, int64_t> versions;
  for (const std::string& t : tenant_ids) versions[t] = 0;
  if (tenant_ids.empty()) return versions;
  Statement s(c.Prepare(absl::StrCat("SELECT tenant_id, version FROM tenant_policies WHERE "
                                     "tenant_id IN (", Placeholders(tenant_ids.size()), ")")));
  for (size_t i = 0; i < tenant_ids.size(); ++i) s->setString(i + 1, tenant_ids[i]);
  Rows rs(s->executeQuery());
  while (rs->next()) versions[std::string(rs->getString(1))] = rs->getInt64(2);
  return versions;
}

// How many more PENDING invitations `tenant_id` may have now; nullopt: no limit. With `lock`,
// the tenant's counter row stays locked to the end of the transaction, so no writer on this
// node takes a place in between.
std::optional<int64_t> PendingHeadroom(SqlSession& c, const std::string& tenant_id, bool lock) {
  Statement policy(c.Prepare(
      "SELECT max_pending_invitations FROM tenant_policies WHERE tenant_id = ?"));
  policy->setString(1, tenant_id);
  Rows p(policy->executeQuery());
  const int64_t limit = p->next() ? p->getInt64(1) : 0;
  if (limit <= 0) return std::nullopt;
  if (lock) {
    Statement ensure(c.Prepare(
        "INSERT INTO tenant_pending_counts (tenant_id, pending) VALUES (?, 0) "
        "ON DUPLICATE KEY UPDATE pending = pending"));
    ensure->setString(1, tenant_id);
    ensure->execute();
  }
  Statement count(c.Prepare(absl::StrCat(
      "SELECT pending FROM tenant_pending_counts WHERE tenant_id = ?", lock ? " FOR UPDATE" : "")));
  count->setString(1, tenant_id);
  Rows rs(count->executeQuery());
  const int64_t pending = rs->next() ? rs->getInt64(1) : 0;
  return std::max<int64_t>(0, limit - pending);
}

}  // namespace

absl::StatusOr<InsertResult> MysqlInvitationStore::Insert(const NewInvitation& row,
                                                          absl::Time now) {
  const Invitation& inv = row.invitation;
  InsertResult result;
  // A concurrent insert can win the race between our check and our insert; the unique keys
  // then refuse ours and one more pass reports (or replays) the winner.
  for (int pass = 0; pass < 3; ++pass) {
    bool lost_race = false;
    absl::Status status = RunTransaction(pool_, "creating an invitation", [&](SqlSession& c) {
      lost_race = false;
      // True when request_id names an invitation already: the call is a retry, answered with it.
      auto replay = [&]() {
        if (inv.request_id.empty()) return false;
        std::optional<Invitation> first =
            FindOne(c, "request_id", inv.request_id, /*lock=*/false, &result.sealed_token);
        if (!first.has_value()) return false;
        result.invitation = *std::move(first);
        result.replayed = true;
        return true;
      };
      if (replay()) return absl::OkStatus();
      if (row.policy_version.has_value() &&
          PolicyVersions(c, {inv.tenant_id})[inv.tenant_id] != *row.policy_version) {
        return PolicyChangedError(inv.tenant_id);
      }
      if (std::optional<Invitation> blocker = ClearStaleActive(c, inv.email, "", now)) {
        // The holder may be a concurrent retry of this very request that committed while we
        // waited for its row lock: that is a replay, not a conflict.
        if (replay()) return absl::OkStatus();
        return ActiveInvitationExistsError(inv.email, *blocker);
      }
      try {
        Statement s(c.Prepare(
            "INSERT INTO invitations (id, email, role, tenant_id, state, active_email, "
            "token_hash, sealed_token, request_id, create_time, update_time, expire_time, "
            "send_count, created_by, email_delivery_state, locale) "
            "VALUES (?, ?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
        s->setString(1, inv.id);
        s->setString(2, inv.email);
        s->setString(3, std::string(RoleName(inv.role)));
        s->setString(4, inv.tenant_id);
        s->setString(5, inv.email);
        s->setString(6, Hex(row.token_hash));
        s->setString(7, Base64UrlEncode(row.sealed_token));
        SetNullableString(*s, 8, inv.request_id);
        s->setString(9, SqlTime(inv.create_time));
        s->setString(10, SqlTime(inv.update_time));
        s->setString(11, SqlTime(inv.expire_time));
        s->setInt(12, inv.send_count);
        s->setString(13, inv.created_by);
        s->setString(14, std::string(DeliveryStateName(inv.email_delivery_state)));
        s->setString(15, LocaleOrEnglish(inv.locale));
        try {
          s->execute();
        } catch (const sql::SQLException& e) {
          // A place held by a row past its expiry is not a pending invitation any more.
          if (!IsPendingLimitRefusal(e) ||
              ExpireOverdue(c, now, kOverdueBatch, inv.tenant_id) == 0) {
            throw;
          }
          s->execute();
        }
      } catch (const sql::SQLException& e) {
        if (IsDuplicateOf(e, "uq_invitations_active_email") ||
            IsDuplicateOf(e, "uq_invitations_request_id")) {
          lost_race = true;
          return absl::AbortedError("lost a unique-key race");  // rolls back; handled below
        }
        if (IsPendingLimitRefusal(e)) return PendingLimitError(inv.tenant_id);
        throw;
      }
      InsertEvent(c, inv, row.event, now);
      if (!row.email_message_id.empty()) {
        QueueEmails(c, {{inv.id, row.email_message_id, Hex(row.token_hash), row.event.request_id}},
                    now);
      }
      std::optional<Invitation> stored = FindOne(c, "id", inv.id, /*lock=*/false);
      if (!stored.has_value()) return absl::InternalError("inserted invitation vanished");
      result.invitation = *std::move(stored);
      result.sealed_token = Base64UrlEncode(row.sealed_token);
      result.replayed = false;
      return absl::OkStatus();
    });
    if (lost_race) continue;
    if (!status.ok()) return status;
    if (!result.sealed_token.empty()) {
      ASSIGN_OR_RETURN(result.sealed_token, Base64UrlDecode(result.sealed_token));
    }
    return result;
  }
  return absl::AbortedError("creating an invitation kept conflicting with concurrent changes; try again");
}

std::vector<absl::StatusOr<InsertResult>> MysqlInvitationStore::InsertEach(
    const std::vector<NewInvitation>& rows, absl::Time now) {
  // A lone Create keeps its own path: the same statements, no batch bookkeeping.
  if (rows.size() == 1) return {Insert(rows.front(), now)};
  const size_t n = rows.size();
  std::vector<absl::StatusOr<InsertResult>> results;
  // After the pending-quota triggers refused the batch's INSERT, the next attempt reads the
  // headroom of each limited tenant first and refuses only the rows past it.
  bool check_quota = false;
  // RunTransaction runs the body again, from a rolled-back start, when it returns ABORTED.
  absl::Status status = RunTransaction(pool_, "creating invitations", [&](SqlSession& c) {
    results.assign(n, absl::InternalError("undecided"));
    // Base64url sealed tokens as stored, per row; opened at the end.
    std::vector<std::string> sealed(n);

    absl::flat_hash_set<std::string> email_in_batch;
    for (const NewInvitation& row : rows) email_in_batch.insert(row.invitation.email);

    // Rows decided under a tenant policy that has changed since are refused (the service
    // decides them again); they take no address or request_id in the batch.
    std::vector<bool> policy_changed(n, false);
    {
      std::vector<std::string> tenants;
      for (const NewInvitation& row : rows) {
        if (row.policy_version.has_value()) tenants.push_back(row.invitation.tenant_id);
      }
      std::sort(tenants.begin(), tenants.end());
      tenants.erase(std::unique(tenants.begin(), tenants.end()), tenants.end());
      absl::flat_hash_map<std::string, int64_t> versions = PolicyVersions(c, tenants);
      for (size_t i = 0; i < n; ++i) {
        policy_changed[i] = rows[i].policy_version.has_value() &&
                            versions[rows[i].invitation.tenant_id] != *rows[i].policy_version;
      }
    }

    // In one locking read: who holds these addresses now (so that a concurrent revoke or resend
    // of a holder waits for us; a concurrent insert of the same address fails our INSERT), and
    // the invitations earlier Creates wrote under these request_ids (retries, answered with
    // what those wrote).
    absl::flat_hash_map<std::string, std::pair<Invitation, std::string>> holder_of;
    absl::flat_hash_map<std::string, std::pair<Invitation, std::string>> by_request_id;
    std::vector<PendingEvent> expired;
    {
      std::vector<std::string> request_ids;
      for (const NewInvitation& row : rows) {
        if (!row.invitation.request_id.empty()) request_ids.push_back(row.invitation.request_id);
      }
      Statement held(c.Prepare(absl::StrCat(
          "SELECT ", kInvitationColumns, ", active_email FROM invitations WHERE active_email IN (",
          Placeholders(n), ")",
          request_ids.empty() ? ""
                              : absl::StrCat(" OR request_id IN (",
                                             Placeholders(request_ids.size()), ")"),
          " FOR UPDATE")));
      int p = 1;
      for (const NewInvitation& row : rows) held->setString(p++, row.invitation.email);
      for (const std::string& request_id : request_ids) held->setString(p++, request_id);
      Rows rs(held->executeQuery());
      while (rs->next()) {
        std::string sealed_token;
        Invitation found = ReadInvitation(*rs, &sealed_token);
        const bool holds = !rs->isNull("active_email") && email_in_batch.contains(found.email);
        if (!found.request_id.empty()) {
          by_request_id.emplace(found.request_id, std::make_pair(found, sealed_token));
        }
        if (!holds) continue;
        if (found.expire_time <= now) {
          expired.push_back(PendingEvent{found.id, found.tenant_id, found.email,
                                         AuditEvent{AuditEventType::kExpired, kSystemActor,
                                                    "ttl elapsed"}});
          continue;
        }
        std::string email = found.email;
        holder_of.emplace(std::move(email),
                          std::make_pair(std::move(found), std::move(sealed_token)));
      }
    }

    // Each row decided in order, the earlier row of the batch winning an email or request_id.
    std::vector<size_t> fresh;
    absl::flat_hash_map<std::string, size_t> email_taken_by, request_id_taken_by;
    std::vector<std::optional<size_t>> replay_of(n);
    auto replayed = [&](size_t i, const std::pair<Invitation, std::string>& first) {
      results[i] = InsertResult{first.first, "", /*replayed=*/true};
      sealed[i] = first.second;
    };
    for (size_t i = 0; i < n; ++i) {
      const Invitation& inv = rows[i].invitation;
      if (!inv.request_id.empty()) {
        if (auto it = by_request_id.find(inv.request_id); it != by_request_id.end()) {
          replayed(i, it->second);
          continue;
        }
      }
      if (policy_changed[i]) {
        results[i] = PolicyChangedError(inv.tenant_id);
        continue;
      }
      if (!inv.request_id.empty()) {
        if (auto it = request_id_taken_by.find(inv.request_id);
            it != request_id_taken_by.end()) {
          replay_of[i] = it->second;
          continue;
        }
      }
      if (auto it = holder_of.find(inv.email); it != holder_of.end()) {
        // A retry of this very request that committed while we waited for the holder's lock.
        if (!inv.request_id.empty() && it->second.first.request_id == inv.request_id) {
          replayed(i, it->second);
        } else {
          results[i] = ActiveInvitationExistsError(inv.email, it->second.first);
        }
        continue;
      }
      if (auto it = email_taken_by.find(inv.email); it != email_taken_by.end()) {
        results[i] = ActiveInvitationExistsError(inv.email, rows[it->second].invitation);
        continue;
      }
      fresh.push_back(i);
      email_taken_by.emplace(inv.email, i);
      if (!inv.request_id.empty()) request_id_taken_by.emplace(inv.request_id, i);
    }

    ExpireStaleHolders(c, expired, now);

    if (check_quota) {
      // Rows past their tenant's headroom (after expiring its overdue rows) are refused; the
      // counter rows stay locked to the end, so no writer of this node takes a place between.
      absl::flat_hash_map<std::string, std::vector<size_t>> fresh_of_tenant;
      for (size_t i : fresh) fresh_of_tenant[rows[i].invitation.tenant_id].push_back(i);
      absl::flat_hash_set<size_t> refused;
      for (const auto& [tenant_id, tenant_rows] : fresh_of_tenant) {
        std::optional<int64_t> headroom = PendingHeadroom(c, tenant_id, /*lock=*/true);
        const auto wanted = static_cast<int64_t>(tenant_rows.size());
        if (headroom.has_value() && *headroom < wanted &&
            ExpireOverdue(c, now, kOverdueBatch, tenant_id) > 0) {
          headroom = PendingHeadroom(c, tenant_id, /*lock=*/true);
        }
        if (!headroom.has_value()) continue;
        for (int64_t k = *headroom; k < wanted; ++k) {
          results[tenant_rows[k]] = PendingLimitError(tenant_id);
          refused.insert(tenant_rows[k]);
        }
      }
      fresh.erase(std::remove_if(fresh.begin(), fresh.end(),
                                 [&](size_t i) { return refused.contains(i); }),
                  fresh.end());
    }

    if (!fresh.empty()) {
      std::vector<const NewInvitation*> fresh_rows;
      for (size_t i : fresh) fresh_rows.push_back(&rows[i]);
      std::vector<PendingEvent> created;
      std::vector<QueuedEmail> emails;
      Statement insert = PrepareNewInvitations(c, fresh_rows, "", &created, &emails);
      try {
        insert->execute();
      } catch (const sql::SQLException& e) {
        // Another writer took one of these addresses or request_ids after our read, or a place
        // under a quota: roll back and decide the whole batch again (now seeing the winner).
        const bool lost_race = IsDuplicateOf(e, "uq_invitations_active_email") ||
                               IsDuplicateOf(e, "uq_invitations_request_id");
        if (!lost_race && !IsPendingLimitRefusal(e)) throw;
        if (!lost_race) check_quota = true;
        return absl::AbortedError(
            "creating invitations kept conflicting with concurrent changes; try again");
      }
      InsertEvents(c, created, now);
      QueueEmails(c, emails, now);

      // The rows as stored, without reading them back: what was bound above, at the microsecond
      // precision DATETIME(6) keeps (seq, assigned by the database, is not needed by callers).
      for (size_t i : fresh) {
        Invitation stored = rows[i].invitation;
        stored.seq = 0;
        stored.create_time = StoredTime(stored.create_time);
        stored.update_time = StoredTime(stored.update_time);
        stored.expire_time = StoredTime(stored.expire_time);
        stored.token_hash_hex = Hex(rows[i].token_hash);
        stored.locale = LocaleOrEnglish(stored.locale);
        results[i] = InsertResult{std::move(stored), "", /*replayed=*/false};
        sealed[i] = Base64UrlEncode(rows[i].sealed_token);
      }
    }
    // A repeated request_id is answered as the retry of its first row.
    for (size_t i = 0; i < n; ++i) {
      if (!replay_of[i].has_value()) continue;
      const size_t first = *replay_of[i];
      if (results[first].ok()) {
        results[i] = InsertResult{results[first]->invitation, "", /*replayed=*/true};
        sealed[i] = sealed[first];
      } else {
        results[i] = results[first].status();
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (!results[i].ok() || sealed[i].empty()) continue;
      absl::StatusOr<std::string> opened = Base64UrlDecode(sealed[i]);
      if (!opened.ok()) return opened.status();
      results[i]->sealed_token = *std::move(opened);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) results.assign(n, status);
  return results;
}

absl::StatusOr<std::vector<BatchOutcome>> MysqlInvitationStore::InsertBatch(
    const std::vector<NewInvitation>& rows, absl::Time now, bool dry_run) {
  std::vector<BatchOutcome> outcomes;
  if (rows.empty()) return outcomes;
  for (int pass = 0; pass < 3; ++pass) {
    bool quota_moved = false;
    absl::Status status = RunTransaction(pool_, "inviting a batch", [&](SqlSession& c) {
      quota_moved = false;
      outcomes.assign(rows.size(), BatchOutcome());
      // Who holds these addresses now? Locking the holders serialises us against a concurrent
      // revoke/resend of the same rows; a concurrent insert still loses on the unique key.
      Statement held(c.Prepare(absl::StrCat(
          "SELECT id, email, tenant_id, role, expire_time FROM invitations WHERE active_email IN (",
          Placeholders(rows.size()), ")", dry_run ? "" : " FOR UPDATE")));
      for (size_t i = 0; i < rows.size(); ++i) held->setString(i + 1, rows[i].invitation.email);
      Rows rs(held->executeQuery());
      absl::flat_hash_map<std::string, BatchOutcome> live;  // email -> its holder
      std::vector<PendingEvent> expired;
      while (rs->next()) {
        std::string email = rs->getString("email");
        std::string id = rs->getString("id");
        if (ParseSqlTime(rs->getString("expire_time")) > now) {
          live[email] = BatchOutcome{false, id, rs->getString("tenant_id"),
                                     RoleFromName(std::string(rs->getString("role")))};
        } else {
          expired.push_back(PendingEvent{id, std::string(rs->getString("tenant_id")), email,
                                         AuditEvent{AuditEventType::kExpired, kSystemActor, "ttl elapsed"}});
        }
      }
      std::vector<const NewInvitation*> fresh;
      for (size_t i = 0; i < rows.size(); ++i) {
        auto it = live.find(rows[i].invitation.email);
        if (it != live.end()) {
          outcomes[i] = it->second;
        } else {
          outcomes[i] = BatchOutcome{true, rows[i].invitation.id, "", Role::kUnspecified};
          fresh.push_back(&rows[i]);
        }
      }
      // Places under the tenant's pending quota (all rows of a batch share one tenant): the rows
      // past the headroom are refused here, so the multi-row INSERT does not trip the trigger.
      auto keep_within_quota = [&](bool lock) {
        if (fresh.empty()) return;
        const std::string& tenant_id = fresh.front()->invitation.tenant_id;
        std::optional<int64_t> headroom = PendingHeadroom(c, tenant_id, lock);
        if (lock && headroom.has_value() && *headroom < static_cast<int64_t>(fresh.size()) &&
            ExpireOverdue(c, now, kOverdueBatch, tenant_id) > 0) {
          headroom = PendingHeadroom(c, tenant_id, lock);
        }
        if (!headroom.has_value() || *headroom >= static_cast<int64_t>(fresh.size())) return;
        for (size_t k = static_cast<size_t>(*headroom); k < fresh.size(); ++k) {
          BatchOutcome& o = outcomes[fresh[k] - rows.data()];
          o = BatchOutcome{};
          o.pending_limit_reached = true;
        }
        fresh.resize(static_cast<size_t>(*headroom));
      };
      if (dry_run) {
        keep_within_quota(/*lock=*/false);
        return absl::OkStatus();
      }
      ExpireStaleHolders(c, expired, now);
      keep_within_quota(/*lock=*/true);
      if (fresh.empty()) return absl::OkStatus();
      // A concurrent Create may take one of these addresses between our check and this INSERT.
      // (A place under the quota cannot be taken meanwhile: the counter row is locked. Only a
      // limit lowered since, or another Galera node's commit, trips the trigger: the whole
      // transaction then fails and is decided again.)
      // Rather than failing (and redoing) the whole chunk, such a row turns into a no-op on the
      // winner's row; which of ours went in is read back below.
      std::vector<PendingEvent> created;
      created.reserve(fresh.size());
      std::vector<QueuedEmail> emails;
      Statement insert = PrepareNewInvitations(c, fresh, " ON DUPLICATE KEY UPDATE seq = seq",
                                               &created, &emails);
      // MySQL counts 1 per inserted row and 0 for a no-op duplicate, so the read-back below is
      // only needed when a race actually happened.
      int affected = 0;
      try {
        affected = insert->executeUpdate();
      } catch (const sql::SQLException& e) {
        if (!IsPendingLimitRefusal(e)) throw;
        quota_moved = true;
        return absl::AbortedError("the pending quota moved");  // rolls back; decided again below
      }
      absl::flat_hash_set<std::string> went_in;
      if (affected == static_cast<int>(fresh.size())) {
        for (const NewInvitation* row : fresh) went_in.insert(row->invitation.id);
      }
      if (went_in.empty()) {
        Statement inserted(c.Prepare(absl::StrCat(
            "SELECT id FROM invitations WHERE id IN (", Placeholders(fresh.size()), ")")));
        for (size_t i = 0; i < fresh.size(); ++i) inserted->setString(i + 1, fresh[i]->invitation.id);
        Rows ins(inserted->executeQuery());
        while (ins->next()) went_in.insert(std::string(ins->getString(1)));
      }
      if (went_in.size() != fresh.size()) {
        std::vector<std::string> lost;
        for (const NewInvitation* row : fresh) {
          if (!went_in.contains(row->invitation.id)) lost.push_back(row->invitation.email);
        }
        Statement holders(c.Prepare(absl::StrCat(
            "SELECT id, email, tenant_id, role FROM invitations WHERE active_email IN (",
            Placeholders(lost.size()), ")")));
        for (size_t i = 0; i < lost.size(); ++i) holders->setString(i + 1, lost[i]);
        Rows hs(holders->executeQuery());
        absl::flat_hash_map<std::string, BatchOutcome> holder_of;
        while (hs->next()) {
          holder_of[std::string(hs->getString("email"))] =
              BatchOutcome{false, hs->getString("id"), hs->getString("tenant_id"),
                           RoleFromName(std::string(hs->getString("role")))};
        }
        for (size_t i = 0; i < rows.size(); ++i) {
          if (!outcomes[i].created || went_in.contains(rows[i].invitation.id)) continue;
          auto h = holder_of.find(rows[i].invitation.email);
          // The winner was revoked again in the meantime: decide the chunk afresh.
          if (h == holder_of.end()) return absl::AbortedError("an address changed hands twice");
          outcomes[i] = h->second;
        }
        std::vector<PendingEvent> kept_events;
        for (PendingEvent& e : created) {
          if (went_in.contains(e.invitation_id)) kept_events.push_back(std::move(e));
        }
        created = std::move(kept_events);
        std::vector<QueuedEmail> kept_emails;
        for (QueuedEmail& e : emails) {
          if (went_in.contains(e.invitation_id)) kept_emails.push_back(std::move(e));
        }
        emails = std::move(kept_emails);
      }
      InsertEvents(c, created, now);
      QueueEmails(c, emails, now);
      return absl::OkStatus();
    });
    if (quota_moved) continue;
    if (!status.ok()) return status;
    return outcomes;
  }
  return PendingLimitError(rows.front().invitation.tenant_id);
}

absl::StatusOr<int> MysqlInvitationStore::ExpireDue(absl::Time now, int limit) {
  int expired = 0;
  RETURN_IF_ERROR(RunTransaction(pool_, "expiring invitations", [&](SqlSession& c) {
    expired = ExpireOverdue(c, now, limit, std::nullopt);
    return absl::OkStatus();
  }));
  return expired;
}

absl::StatusOr<std::vector<Invitation>> MysqlInvitationStore::TakeOverDueAccepts(
    absl::Time now, int limit, absl::Duration lease) {
  std::vector<Invitation> taken;
  RETURN_IF_ERROR(RunTransaction(pool_, "taking over due accept sagas", [&](SqlSession& c) {
    taken.clear();
    Statement due(c.Prepare(absl::StrCat(
        "SELECT ", kInvitationColumns, " FROM invitations WHERE accept_lease_expire_time <= ? "
        "ORDER BY accept_lease_expire_time LIMIT ? FOR UPDATE SKIP LOCKED")));
    due->setString(1, SqlTime(now));
    due->setInt(2, limit);
    Rows rs(due->executeQuery());
    while (rs->next()) taken.push_back(ReadInvitation(*rs));
    for (Invitation& inv : taken) {
      inv.accept_attempt_id = NewUuid();
      inv.accept_lease_expire_time = now + lease;
      Statement take(c.Prepare(
          "UPDATE invitations SET accept_attempt_id = ?, accept_lease_expire_time = ? "
          "WHERE id = ?"));
      take->setString(1, inv.accept_attempt_id);
      take->setString(2, SqlTime(*inv.accept_lease_expire_time));
      take->setString(3, inv.id);
      take->execute();
    }
    return absl::OkStatus();
  }));
  return taken;
}

absl::StatusOr<std::optional<ResendRecord>> MysqlInvitationStore::FindResend(
    absl::string_view request_id) {
  std::optional<ResendRecord> found;
  RETURN_IF_ERROR(RunReadOnly(pool_, "looking up a resend request", [&](SqlSession& c) {
    found.reset();
    Statement s(c.Prepare(
        "SELECT invitation_id, token_hash FROM resend_requests WHERE request_id = ?"));
    s->setString(1, std::string(request_id));
    Rows rs(s->executeQuery());
    if (!rs->next()) return absl::OkStatus();
    ResendRecord record;
    record.link_hash_hex = rs->getString("token_hash");
    std::string sealed;
    std::optional<Invitation> inv =
        FindOne(c, "id", rs->getString("invitation_id"), /*lock=*/false, &sealed);
    if (!inv.has_value()) return absl::OkStatus();
    record.invitation = *std::move(inv);
    absl::StatusOr<std::string> raw = Base64UrlDecode(sealed);
    record.sealed_token = raw.ok() ? *raw : "";
    found = std::move(record);
    return absl::OkStatus();
  }));
  return found;
}

absl::StatusOr<Invitation> MysqlInvitationStore::Get(absl::string_view id) {
  std::optional<Invitation> found;
  RETURN_IF_ERROR(RunReadOnly(pool_, "reading an invitation", [&](SqlSession& c) {
    found = FindOne(c, "id", std::string(id), /*lock=*/false);
    return absl::OkStatus();
  }));
  if (!found.has_value()) return InvitationNotFoundError(id);
  return *std::move(found);
}

absl::StatusOr<Invitation> MysqlInvitationStore::GetByTokenHash(absl::string_view token_hash) {
  std::optional<Invitation> found;
  RETURN_IF_ERROR(RunReadOnly(pool_, "looking up a registration token", [&](SqlSession& c) {
    found = FindOne(c, "token_hash", Hex(token_hash), /*lock=*/false);
    return absl::OkStatus();
  }));
  if (!found.has_value()) return absl::NotFoundError("no invitation has this token");
  return *std::move(found);
}

absl::StatusOr<InvitationPage> MysqlInvitationStore::List(const InvitationQuery& query,
                                                          absl::Time now) {
  // Filters are built from fixed SQL fragments; every value is a bound parameter.
  std::vector<std::string> where;
  std::vector<std::string> params;
  if (!query.tenant_id.empty()) {
    where.push_back("tenant_id = ?");
    params.push_back(query.tenant_id);
  }
  if (!query.states.empty()) {
    const std::string t = SqlTime(now);
    std::vector<std::string> any;
    for (InvitationState s : query.states) {
      switch (s) {
        case InvitationState::kPending:
          any.push_back("(state = 'PENDING' AND expire_time > ?)");
          params.push_back(t);
          break;
        case InvitationState::kExpired:
          any.push_back("(state = 'EXPIRED' OR (state = 'PENDING' AND expire_time <= ?))");
          params.push_back(t);
          break;
        default:
          any.push_back("state = ?");
          params.emplace_back(StateName(s));
      }
    }
    where.push_back(absl::StrCat("(", absl::StrJoin(any, " OR "), ")"));
  }
  if (!query.email_substring.empty()) {
    // An explicit escape character, not backslash: the server's sql_mode
    // (NO_BACKSLASH_ESCAPES) cannot turn a caller's '%' or '_' back into a wildcard.
    std::string escaped;
    for (char ch : query.email_substring) {
      if (ch == '%' || ch == '_' || ch == '!') escaped.push_back('!');
      escaped.push_back(ch);
    }
    where.push_back("email LIKE ? ESCAPE '!'");
    params.push_back(absl::StrCat("%", escaped, "%"));
  }
  const std::string filter = where.empty() ? "" : absl::StrCat(" WHERE ", absl::StrJoin(where, " AND "));
  const std::string page_filter =
      query.after_seq.has_value()
          ? absl::StrCat(filter.empty() ? " WHERE " : filter + " AND ", "seq < ?")
          : filter;

  InvitationPage page;
  RETURN_IF_ERROR(RunReadOnly(pool_, "listing invitations", [&](SqlSession& c) {
    page = InvitationPage();
    Statement rows(c.Prepare(absl::StrCat("SELECT ", kInvitationColumns, " FROM invitations",
                                                   page_filter, " ORDER BY seq DESC LIMIT ?")));
    int i = 1;
    for (const std::string& p : params) rows->setString(i++, p);
    if (query.after_seq.has_value()) rows->setInt64(i++, *query.after_seq);
    rows->setInt(i, query.page_size + 1);
    Rows rs(rows->executeQuery());
    while (rs->next()) page.invitations.push_back(ReadInvitation(*rs));
    if (static_cast<int>(page.invitations.size()) > query.page_size) {
      page.invitations.pop_back();
      page.next_after_seq = page.invitations.back().seq;
    }
    Statement count(c.Prepare(absl::StrCat("SELECT COUNT(*) FROM invitations", filter)));
    i = 1;
    for (const std::string& p : params) count->setString(i++, p);
    Rows crs(count->executeQuery());
    if (crs->next()) page.total_size = crs->getInt64(1);
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<Invitation> MysqlInvitationStore::Update(absl::string_view id, absl::Time now,
                                                        const Decision& decide) {
  std::optional<Invitation> updated;
  for (int pass = 0; pass < 3; ++pass) {
    bool lost_race = false;
    absl::Status status = RunTransaction(pool_, "updating an invitation", [&](SqlSession& c) {
      lost_race = false;
      std::optional<Invitation> current = FindOne(c, "id", std::string(id), /*lock=*/true);
      if (!current.has_value()) return InvitationNotFoundError(id);
      ASSIGN_OR_RETURN(InvitationChange change, decide(*current));
      const Invitation& next = change.invitation;
      const bool active = next.state == InvitationState::kPending;
      if (active && current->state != InvitationState::kPending) {
        if (std::optional<Invitation> blocker = ClearStaleActive(c, next.email, next.id, now)) {
          return ActiveInvitationExistsError(next.email, *blocker);
        }
      }
      try {
        Statement s(c.Prepare(
            "UPDATE invitations SET state = ?, active_email = ?, expire_time = ?, "
            "update_time = ?, accept_time = ?, revoke_time = ?, last_send_time = ?, "
            "send_count = ?, user_id = ?, revoke_reason = ?, email_delivery_state = ?, "
            "email_last_error = ?, token_hash = COALESCE(?, token_hash), "
            "sealed_token = IF(?, NULL, COALESCE(?, sealed_token)), accept_user_id = ?, "
            "accept_attempt_id = ?, accept_lease_expire_time = ?, accept_link_hash = ? "
            "WHERE id = ?"));
        s->setString(1, std::string(StateName(next.state)));
        SetNullableString(*s, 2, active ? next.email : "");
        s->setString(3, SqlTime(next.expire_time));
        s->setString(4, SqlTime(next.update_time));
        SetNullableTime(*s, 5, next.accept_time);
        SetNullableTime(*s, 6, next.revoke_time);
        SetNullableTime(*s, 7, next.last_send_time);
        s->setInt(8, next.send_count);
        SetNullableString(*s, 9, next.user_id);
        SetNullableString(*s, 10, next.revoke_reason);
        s->setString(11, std::string(DeliveryStateName(next.email_delivery_state)));
        SetNullableString(*s, 12, next.email_last_error);
        SetNullableString(*s, 13, change.new_token_hash ? Hex(*change.new_token_hash) : "");
        s->setBoolean(14, change.clear_sealed_token && !change.new_sealed_token.has_value());
        SetNullableString(*s, 15,
                          change.new_sealed_token ? Base64UrlEncode(*change.new_sealed_token) : "");
        SetNullableString(*s, 16, next.accept_user_id);
        SetNullableString(*s, 17, next.accept_attempt_id);
        SetNullableTime(*s, 18, next.accept_lease_expire_time);
        SetNullableString(*s, 19, next.accept_link_hash);
        s->setString(20, current->id);
        try {
          s->execute();
        } catch (const sql::SQLException& e) {
          if (!IsPendingLimitRefusal(e) ||
              ExpireOverdue(c, now, kOverdueBatch, current->tenant_id) == 0) {
            throw;
          }
          s->execute();
        }
      } catch (const sql::SQLException& e) {
        if (IsDuplicateOf(e, "uq_invitations_active_email")) {
          lost_race = true;
          return absl::AbortedError("lost a unique-key race");
        }
        if (IsPendingLimitRefusal(e)) return PendingLimitError(current->tenant_id);
        throw;
      }
      if (!change.resend_request_id.empty() && change.new_token_hash.has_value()) {
        try {
          Statement r(c.Prepare(
              "INSERT INTO resend_requests (request_id, invitation_id, token_hash, create_time) "
              "VALUES (?, ?, ?, ?)"));
          r->setString(1, change.resend_request_id);
          r->setString(2, current->id);
          r->setString(3, Hex(*change.new_token_hash));
          r->setString(4, SqlTime(now));
          r->execute();
        } catch (const sql::SQLException& e) {
          if (e.getErrorCode() != kErDupEntry) throw;
          return ReasonedError(absl::StatusCode::kAborted,
                               "a concurrent resend used the same request_id",
                               kReasonRequestIdRace);
        }
      }
      if (change.record_event) InsertEvent(c, next, change.event, now);
      if (change.supersede_queued_email) SupersedeQueuedEmails(c, current->id, now);
      if (!change.email_message_id.empty() && change.new_token_hash.has_value()) {
        QueueEmails(c,
                    {{current->id, change.email_message_id, Hex(*change.new_token_hash),
                      change.event.request_id}},
                    now);
      }
      updated = FindOne(c, "id", current->id, /*lock=*/false);
      if (!updated.has_value()) return absl::InternalError("updated invitation vanished");
      return absl::OkStatus();
    });
    if (lost_race) continue;
    if (!status.ok()) return status;
    return *std::move(updated);
  }
  return absl::AbortedError("updating the invitation kept conflicting with concurrent changes; try again");
}

}  // namespace securelink::invitations
