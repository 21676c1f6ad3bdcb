#include "server/reminder_scheduler.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/util/log.h"

namespace securelink::invitations {

ReminderScheduler::ReminderScheduler(ReminderStore& store, const Clock& clock,
                                     const ReminderSchedulerOptions& options,
                                     std::function<void(int queued)> on_queued)
    : store_(store),
      clock_(clock),
      batch_(options.batch),
      on_queued_(std::move(on_queued)),
      loop_(options.interval, [this] {
        absl::StatusOr<int> queued = RunOnce();
        if (!queued.ok()) {
          Log(LogLevel::kWarning, "reminder pass failed; will retry",
              {{"error", std::string(queued.status().message())}});
        } else if (*queued > 0) {
          Log(LogLevel::kInfo, "queued reminder emails", {{"count", *queued}});
        }
      }) {}

absl::StatusOr<int> ReminderScheduler::RunOnce() {
  int total = 0;
  absl::Status error;
  while (true) {
    absl::StatusOr<int> n = store_.QueueDueReminders(clock_.Now(), batch_);
    if (!n.ok()) {
      error = n.status();
      break;
    }
    total += *n;
    if (*n < batch_) break;
  }
  // What earlier batches queued is committed: the dispatcher may start on it even if a later
  // batch failed.
  if (total > 0 && on_queued_ != nullptr) on_queued_(total);
  if (!error.ok()) return error;
  return total;
}

}  // namespace securelink::invitations
