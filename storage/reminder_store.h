// Where reminder emails (SPEC §11) are queued: the pass every replica runs finds the PENDING
// invitations whose tenant policy's reminder_before_expiry has come due and queues one reminder
// per link in the email outbox, which the dispatcher then delivers like any other message.
#ifndef SECURELINK_STORAGE_REMINDER_STORE_H_
#define SECURELINK_STORAGE_REMINDER_STORE_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace securelink::invitations {

class ReminderStore {
 public:
  virtual ~ReminderStore() = default;

  // Queues the reminder of up to `limit` invitations that are due at `now`, in one transaction:
  // PENDING, emails not suppressed, expire_time in (now, now + R] where R is the tenant policy's
  // reminder_before_expiry (> 0), and no reminder queued yet for the current link. Each gets
  // an outbox row of kind REMINDER carrying its current link, send_count + 1 and its link
  // recorded as reminded. Rows another pass has locked are skipped (SKIP LOCKED), and the
  // record of the reminded link makes a second queueing impossible, so passes on several
  // replicas (and Galera nodes, where the loser of a certification conflict is retried and then
  // finds nothing due) queue each link's reminder once. Returns how many it queued.
  virtual absl::StatusOr<int> QueueDueReminders(absl::Time now, int limit) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_REMINDER_STORE_H_
