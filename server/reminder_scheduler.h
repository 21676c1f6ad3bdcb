// Queues reminder emails (SPEC §11) in the background: every replica runs one. The store's claim
// (SKIP LOCKED) and its record of the reminded link keep passes on several replicas from queueing
// one link's reminder twice; the email dispatcher delivers what a pass queued.
#ifndef SECURELINK_SERVER_REMINDER_SCHEDULER_H_
#define SECURELINK_SERVER_REMINDER_SCHEDULER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/clock.h"
#include "server/util/periodic_task.h"
#include "storage/reminder_store.h"

namespace securelink::invitations {

struct ReminderSchedulerOptions {
  // How late after its due time a reminder may be queued; it must stay well under any
  // reminder_before_expiry a tenant sets (a reminder not queued before expiry is never sent).
  absl::Duration interval = absl::Seconds(30);
  int batch = 200;
};

class ReminderScheduler {
 public:
  // `store` and `clock` must outlive the scheduler. `on_queued` (may be empty) runs on the
  // scheduler's thread after a pass queued at least one reminder (e.g. to wake the dispatcher).
  ReminderScheduler(ReminderStore& store, const Clock& clock,
                    const ReminderSchedulerOptions& options,
                    std::function<void(int queued)> on_queued = nullptr);

  // Starts the background thread: a pass at once, then every `interval`.
  void Start() { loop_.Start(); }
  // Stops and joins the thread. Idempotent.
  void Stop() { loop_.Stop(); }

  // Queues every reminder due now, batch by batch, on the calling thread; returns how many.
  absl::StatusOr<int> RunOnce();

 private:
  ReminderStore& store_;
  const Clock& clock_;
  const int batch_;
  const std::function<void(int)> on_queued_;
  PeriodicTask loop_;  // last: stops before the members it uses go
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_REMINDER_SCHEDULER_H_
