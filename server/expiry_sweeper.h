// Persists expiry in the background (SPEC §2): every replica runs one; SKIP LOCKED keeps them
// from expiring the same invitation twice. Reads are correct without it (EffectiveState); the
// sweep frees the address's unique key, records the EXPIRED event and cancels unsent mail.
#ifndef SECURELINK_SERVER_EXPIRY_SWEEPER_H_
#define SECURELINK_SERVER_EXPIRY_SWEEPER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/domain/clock.h"
#include "storage/invitation_store.h"

namespace securelink::invitations {

class ExpirySweeper {
 public:
  // `store` and `clock` must outlive the sweeper.
  ExpirySweeper(InvitationStore& store, const Clock& clock, absl::Duration interval,
                int batch = 500)
      : store_(store), clock_(clock), interval_(interval), batch_(batch) {}
  ~ExpirySweeper() { Stop(); }

  // Starts the background thread: a sweep at once, then every `interval`.
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();

  // Expires everything due now, batch by batch, on the calling thread; returns how many.
  absl::StatusOr<int> SweepOnce();

 private:
  InvitationStore& store_;
  const Clock& clock_;
  const absl::Duration interval_;
  const int batch_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_EXPIRY_SWEEPER_H_
