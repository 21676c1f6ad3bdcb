// The narrow interface the invitation service uses to persist invitations. The MySQL
// implementation is MysqlInvitationStore; every method is one database transaction.
#ifndef SECURELINK_STORAGE_INVITATION_STORE_H_
#define SECURELINK_STORAGE_INVITATION_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"

namespace securelink::invitations {

enum class AuditEventType {
  kCreated,
  kResent,
  kRevoked,
  kExpired,
  kAccepted,
  kEmailSent,
  kEmailFailed,
  kReminderSent,
  kPolicyUpdated,  // a tenant's policy, not an invitation: invitation_id and email are empty
};
absl::string_view AuditEventTypeName(AuditEventType type);

// A state change to record with the change itself (SPEC §2 "audit").
struct AuditEvent {
  AuditEventType type = AuditEventType::kCreated;
  std::string actor;   // the caller's `sub`, or "system"
  std::string reason;  // optional, human-readable
  // The request id of the call that caused it (server/domain/request_id.h); empty for the
  // service's own changes (expiry, reminders) and calls without one.
  std::string request_id;
};

// A new invitation row. `token_hash` is the SHA-256 of the link's token; `sealed_token` the
// token encrypted for request_id replays. The token itself is never given to the store.
struct NewInvitation {
  Invitation invitation;
  std::string token_hash;
  std::string sealed_token;
  AuditEvent event;
  // Non-empty: queue the invitation email (outbox row) with this stable Message-ID, in the same
  // transaction. Empty: no email (suppress_email).
  std::string email_message_id;
  // Set: the version of the tenant's policy this row was decided under (0: the tenant had
  // none). When the stored one differs at write time the row is refused, nothing written for
  // it: FAILED_PRECONDITION / TENANT_POLICY_CHANGED, so a policy change is never missed by a
  // Create that read the policy before it.
  std::optional<int64_t> policy_version;
};

struct InsertResult {
  Invitation invitation;
  std::string sealed_token;  // of the stored row (the first one, on a replay)
  bool replayed = false;     // true: request_id matched an earlier invitation; nothing written
};

// A decided change to an existing invitation, written atomically with its event.
struct InvitationChange {
  Invitation invitation;  // the new row values (id and email unchanged)
  std::optional<std::string> new_token_hash;
  std::optional<std::string> new_sealed_token;
  AuditEvent event;
  // Unsent emails of this invitation are superseded (never sent) when the link changes or the
  // invitation leaves PENDING; non-empty: queue a new email with this Message-ID for the new link.
  bool supersede_queued_email = false;
  std::string email_message_id;
  // False for bookkeeping that is not a state change (the accept saga's intermediate step).
  bool record_event = true;
  // Forget the sealed copy of the link: it will never be mailed or replayed again (accepted,
  // revoked). A new_sealed_token replaces it anyway.
  bool clear_sealed_token = false;
  // Non-empty (with new_token_hash): the Resend request_id recorded with this change, so that a
  // retry is answered by FindResend. Another change recorded under it already: Update fails
  // ABORTED with kReasonRequestIdRace and writes nothing.
  std::string resend_request_id;
};

// ABORTED reason of an Update that lost a race for its resend_request_id to a concurrent change:
// the caller answers the retry from FindResend instead.
inline constexpr absl::string_view kReasonRequestIdRace = "REQUEST_ID_RACE";

// A Resend recorded under a request_id, for answering its retries.
struct ResendRecord {
  Invitation invitation;      // as stored now
  std::string link_hash_hex;  // the link that Resend issued
  std::string sealed_token;   // of the invitation's current link (meaningful when it is that one)
};

// Filters for List; every filter combines with AND.
struct InvitationQuery {
  std::string tenant_id;                 // empty: all tenants
  std::vector<InvitationState> states;   // effective states; empty: all
  std::string email_substring;           // lower-case; empty: any
  int page_size = 50;
  std::optional<int64_t> after_seq;      // keyset cursor: rows with seq < after_seq
};

struct InvitationPage {
  std::vector<Invitation> invitations;  // newest first (descending seq), as stored
  std::optional<int64_t> next_after_seq;
  int64_t total_size = 0;
};

// What happened to one candidate of a batch insert.
struct BatchOutcome {
  bool created = false;        // false: an active invitation already holds the email
  std::string invitation_id;   // the new invitation, or the one that holds the email
  // The holder's tenant and role (not created): whether the caller may be told about it.
  std::string holder_tenant_id;
  Role holder_role = Role::kUnspecified;
  // Not created: the tenant's pending quota had no place left (created is false, no id).
  bool pending_limit_reached = false;
};

class InvitationStore {
 public:
  virtual ~InvitationStore() = default;

  // Inserts `row` with its event. If row.invitation.request_id is non-empty and an invitation
  // with that request_id exists, writes nothing and returns that invitation (replayed=true).
  // A PENDING row for the same email whose expiry is at or before `now` is first marked EXPIRED
  // (with its event) in the same transaction, so an expired invitation never blocks a new one.
  // Errors: ALREADY_EXISTS / ACTIVE_INVITATION_EXISTS naming the active invitation;
  // RESOURCE_EXHAUSTED / TENANT_PENDING_LIMIT_REACHED when the tenant's pending quota has no
  // place left even after its overdue rows are expired; FAILED_PRECONDITION /
  // TENANT_POLICY_CHANGED (see NewInvitation::policy_version); UNAVAILABLE when the database
  // cannot be reached.
  virtual absl::StatusOr<InsertResult> Insert(const NewInvitation& row, absl::Time now) = 0;

  // Group commit of independent Creates: decides each row exactly as Insert would (request_id
  // replays, one active invitation per email, stale holders expired first, the pending quota)
  // and writes them all in ONE transaction with multi-row statements. One result per row, in
  // order. Rows may share an email or a request_id: the earlier row wins, and the later one is
  // ALREADY_EXISTS naming it, or its replay. A row's own refusal never fails its neighbours; an
  // error of the database fails every row and writes nothing. A batch that loses a deadlock, a
  // certification conflict or a unique-key race to another writer is decided again, whole.
  virtual std::vector<absl::StatusOr<InsertResult>> InsertEach(
      const std::vector<NewInvitation>& rows, absl::Time now) = 0;

  // Inserts every row of `rows` (emails distinct, none with a request_id) whose email has no live
  // active invitation, with their events, in ONE transaction using multi-row statements; stale
  // active rows (expired at `now`) are expired first. Returns one outcome per row, in order.
  // With `dry_run` decides the same outcomes but writes nothing. All or nothing: on error no row
  // of the batch is written. All rows belong to one tenant; those past its pending quota's
  // headroom (after expiring its overdue rows) are pending_limit_reached, in order.
  virtual absl::StatusOr<std::vector<BatchOutcome>> InsertBatch(
      const std::vector<NewInvitation>& rows, absl::Time now, bool dry_run) = 0;

  // Persists expiry (SPEC §2, the sweeper): up to `limit` PENDING invitations whose expiry is at
  // or before `now` become EXPIRED, each with one EXPIRED event, their unsent emails superseded,
  // in one transaction. Rows locked by another sweeper are skipped (SKIP LOCKED), so sweepers in
  // several replicas never expire the same invitation twice. Returns how many it expired.
  virtual absl::StatusOr<int> ExpireDue(absl::Time now, int limit) = 0;

  // Takes over up to `limit` accept claims whose lease has passed (the attempt died, or a revoke
  // or an expiry left clean-up to do): each gets a fresh attempt id and the lease now + `lease`,
  // in one transaction (SKIP LOCKED, so recoverers of several replicas take disjoint rows).
  // Returns the invitations as they are now, each carrying its new accept_attempt_id.
  virtual absl::StatusOr<std::vector<Invitation>> TakeOverDueAccepts(absl::Time now, int limit,
                                                                     absl::Duration lease) = 0;

  // The Resend recorded under `request_id` (InvitationChange::resend_request_id), or nullopt.
  virtual absl::StatusOr<std::optional<ResendRecord>> FindResend(
      absl::string_view request_id) = 0;

  // The invitation with `id`, as stored. NOT_FOUND if none.
  virtual absl::StatusOr<Invitation> Get(absl::string_view id) = 0;

  // The invitation whose current token hash is `token_hash`, as stored. NOT_FOUND if none.
  virtual absl::StatusOr<Invitation> GetByTokenHash(absl::string_view token_hash) = 0;

  // One page of invitations matching `query`, with effective states evaluated at `now`.
  virtual absl::StatusOr<InvitationPage> List(const InvitationQuery& query, absl::Time now) = 0;

  // Locks invitation `id`, passes the stored row to `decide`, and writes the change it returns
  // with its event, all in one transaction. An error from `decide` is returned and nothing is
  // written. When the change makes the invitation PENDING, the one-active-invitation rule is
  // enforced by the unique key: stale rows for the email (expired at `now`) are expired first,
  // a live one makes this ALREADY_EXISTS / ACTIVE_INVITATION_EXISTS. NOT_FOUND if no such id.
  using Decision = std::function<absl::StatusOr<InvitationChange>(const Invitation& current)>;
  virtual absl::StatusOr<Invitation> Update(absl::string_view id, absl::Time now,
                                            const Decision& decide) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_INVITATION_STORE_H_
