#include "server/expiry_sweeper.h"

#include "absl/strings/str_cat.h"
#include "server/util/log.h"

namespace securelink::invitations {

void ExpirySweeper::Start() {
  thread_ = std::thread([this] {
    while (true) {
      absl::StatusOr<int> swept = SweepOnce();
      if (!swept.ok()) {
        Log(LogLevel::kWarning, "expiry sweep failed; will retry",
            {{"error", std::string(swept.status().message())}});
      } else if (*swept > 0) {
        Log(LogLevel::kInfo, "expired invitations", {{"count", absl::StrCat(*swept)}});
      }
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), interval_)) return;
    }
  });
}

void ExpirySweeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

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
