#include "server/expiry_sweeper.h"

#include "absl/strings/str_cat.h"
#include "server/util/log.h"

namespace securelink::invitations {

ExpirySweeper::ExpirySweeper(InvitationStore& store, const Clock& clock, absl::Duration interval,
                             int batch)
    : store_(store), clock_(clock), batch_(batch), loop_(interval, [this] {
        absl::StatusOr<int> swept = SweepOnce();
        if (!swept.ok()) {
          Log(LogLevel::kWarning, "expiry sweep failed; will retry",
              {{"error", std::string(swept.status().message())}});
        } else if (*swept > 0) {
          Log(LogLevel::kInfo, "expired invitations", {{"count", *swept}});
        }
      }) {}

absl::StatusOr<int> ExpirySweeper::SweepOnce() {
  int total = 0;
  while (true) {
    absl::StatusOr<int> n = store_.ExpireDue(clock_.Now(), batch_);
    if (!n.ok()) return n.status();
    total += *n;
    if (*n < batch_) return total;
  }
}

}  // namespace securelink::invitations
