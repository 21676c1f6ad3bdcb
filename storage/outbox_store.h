// The email outbox as the dispatcher sees it (SPEC §4): claim due messages with a lease, then
// record what happened. Rows are written by InvitationStore in the transaction that issues them.
#ifndef SECURELINK_STORAGE_OUTBOX_STORE_H_
#define SECURELINK_STORAGE_OUTBOX_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"

namespace securelink::invitations {

// A message claimed for sending, with what is needed to build it.
struct ClaimedEmail {
  int64_t outbox_id = 0;
  std::string message_id;
  int attempts = 0;                 // including this one
  absl::Time queued_time;           // the message's Date: stable across retries
  Invitation invitation;            // as stored now
  bool link_current = false;        // the message's link is still the invitation's current one
  std::string sealed_token;         // of the current link (only meaningful when link_current)
  // The reminder of a link already mailed (outbox kind REMINDER, SPEC §11), not its first mail.
  bool reminder = false;
  // The request id of the call that queued it (empty for reminders): the dispatcher's log lines
  // and the EMAIL_SENT / EMAIL_FAILED events carry it.
  std::string request_id;
};

// A claimed message's standing, read again right before it is handed to the mail transport.
struct SendCheck {
  // The row is still PENDING and leased to the caller. False when a Resend, Revoke or expiry
  // already superseded it in the database, or the lease ran out and another dispatcher took it:
  // either way this caller must neither send it nor record anything.
  bool still_claimed = false;
  bool link_current = false;  // the message carries the invitation's current link
  InvitationState state = InvitationState::kUnspecified;  // the invitation as stored now
  absl::Time expire_time = absl::InfinitePast();
};

struct OutboxStats {
  int64_t due = 0;                       // PENDING rows whose time has come
  absl::Duration oldest_due_age;         // how long the oldest of them has waited
};

class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Claims up to `limit` due PENDING messages not leased by anyone (SELECT … FOR UPDATE SKIP
  // LOCKED, so replicas never claim the same row), leases them to `owner` until now + `lease`,
  // counts the attempt, and commits before returning: no lock is held while the caller sends.
  virtual absl::StatusOr<std::vector<ClaimedEmail>> Claim(absl::string_view owner, int limit,
                                                          absl::Time now, absl::Duration lease) = 0;

  // Re-reads, with one indexed lookup and no lock, whether `email` is still `owner`'s to send and
  // still carries its invitation's current link (SPEC §10 "no stale link is ever sent"): a
  // Resend or Revoke may have committed since the claim.
  // UNAVAILABLE (or another error) when the database cannot say: then do not send.
  virtual absl::StatusOr<SendCheck> RecheckBeforeSend(const ClaimedEmail& email,
                                                      absl::string_view owner) = 0;

  // Records delivery: the message SENT, and — if it carried the invitation's current link — the
  // invitation's delivery state SENT and last_send_time, with an EMAIL_SENT event (REMINDER_SENT
  // for a reminder). No-op if the lease was lost to another owner.
  virtual absl::Status MarkSent(const ClaimedEmail& email, absl::string_view owner,
                                absl::Time now) = 0;

  // A transient failure: the message becomes due again at `retry_at`, with `error` recorded.
  virtual absl::Status MarkRetry(const ClaimedEmail& email, absl::string_view owner,
                                 absl::Time retry_at, absl::string_view error, absl::Time now) = 0;

  // Gave up: the message FAILED and — if current — the invitation's delivery state FAILED with
  // `error` as email_last_error, with an EMAIL_FAILED event. A failed reminder records only the
  // EMAIL_FAILED event (reason "reminder: <error>"): the link itself was delivered by the first
  // mail, and its delivery state keeps saying so.
  virtual absl::Status MarkFailed(const ClaimedEmail& email, absl::string_view owner,
                                  absl::string_view error, absl::Time now) = 0;

  // The message's link is no longer current (resent, revoked, accepted): never send it.
  virtual absl::Status MarkSuperseded(const ClaimedEmail& email, absl::string_view owner,
                                      absl::Time now) = 0;

  virtual absl::StatusOr<OutboxStats> Stats(absl::Time now) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_OUTBOX_STORE_H_
