// Decides what grpc.health.v1 says about the service (SPEC §7): SERVING only while the database
// answers and the process is not draining. A background thread probes the database.
#ifndef SECURELINK_SERVER_RUNTIME_HEALTH_MONITOR_H_
#define SECURELINK_SERVER_RUNTIME_HEALTH_MONITOR_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace securelink::invitations {

struct HealthMonitorOptions {
  // How often the database is probed: how long a dead database goes unnoticed, at most.
  absl::Duration interval = absl::Seconds(5);
};

class HealthMonitor {
 public:
  // `probe` checks the database (OK: reachable); it runs on the monitor's thread and should be
  // bounded by its own timeouts. `publish(serving)` is called on every change of the verdict
  // (and once at start) and must not block for long.
  HealthMonitor(std::function<absl::Status()> probe, std::function<void(bool serving)> publish,
                absl::Duration interval)
      : probe_(std::move(probe)), publish_(std::move(publish)), interval_(interval) {}
  HealthMonitor(std::function<absl::Status()> probe, std::function<void(bool serving)> publish,
                const HealthMonitorOptions& options)
      : HealthMonitor(std::move(probe), std::move(publish), options.interval) {}
  ~HealthMonitor() { Stop(); }
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Probes and publishes before returning, then probes every `interval` on its own thread.
  void Start();
  // NOT_SERVING from now on, whatever the database says (SIGTERM). Publishes at once.
  void BeginDrain();
  // Stops and joins the thread. Idempotent.
  void Stop();

  // The last published verdict.
  bool serving() const;

 private:
  void ProbeAndUpdate() ABSL_LOCKS_EXCLUDED(mu_);
  // `why` explains a failing verdict in the log.
  void Update(bool database_ok, const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);

  const std::function<absl::Status()> probe_;
  const std::function<void(bool)> publish_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  // Serialises publish_ calls so that a late probe result never overwrites the drain verdict.
  absl::Mutex publish_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool database_ok_ ABSL_GUARDED_BY(mu_) = false;
  int published_ ABSL_GUARDED_BY(mu_) = -1;  // -1: nothing yet, else 0/1
  std::thread thread_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_RUNTIME_HEALTH_MONITOR_H_
