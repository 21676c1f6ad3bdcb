#include "server/runtime/health_monitor.h"

#include "server/util/log.h"

namespace securelink::invitations {

void HealthMonitor::ProbeAndUpdate() {
  absl::Status probed = probe_();
  // Only changes are logged (below); a failing probe every interval would flood the log.
  if (!probed.ok()) {
    Log(LogLevel::kDebug, "database health probe failed",
        {{"error", std::string(probed.message())}});
  }
  Update(probed.ok(), std::string(probed.message()));
}

void HealthMonitor::Start() {
  // The first verdict is published before Start returns, so "serving" in the log means health
  // already tells the truth.
  ProbeAndUpdate();
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stopping), interval_)) return;
      }
      ProbeAndUpdate();
    }
  });
}

void HealthMonitor::BeginDrain() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  Update(/*database_ok=*/false, "draining");
}

void HealthMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool HealthMonitor::serving() const {
  absl::MutexLock lock(&mu_);
  return published_ == 1;
}

void HealthMonitor::Update(bool database_ok, const std::string& why) {
  absl::MutexLock publish_lock(&publish_mu_);
  bool serving;
  {
    absl::MutexLock lock(&mu_);
    if (!draining_) database_ok_ = database_ok;
    serving = database_ok_ && !draining_;
    if (published_ == (serving ? 1 : 0)) return;
    published_ = serving ? 1 : 0;
  }
  LogFields fields = {{"status", serving ? "SERVING" : "NOT_SERVING"}};
  if (!serving) fields.emplace_back("reason", why);
  Log(serving ? LogLevel::kInfo : LogLevel::kWarning, "health changed", fields);
  publish_(serving);
}

}  // namespace securelink::invitations
