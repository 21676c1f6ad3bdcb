// Persists expiry in the background (SPEC §2): every replica runs one; SKIP LOCKED keeps them
// from expiring the same invitation twice. Reads are correct without it (EffectiveState); the
// sweep frees the address's unique key, records the EXPIRED event and cancels unsent mail.
#ifndef SECURELINK_SERVER_EXPIRY_SWEEPER_H_
#define SECURELINK_SERVER_EXPIRY_SWEEPER_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/clock.h"
#include "server/util/periodic_task.h"
#include "storage/invitation_store.h"

namespace securelink::invitations {

struct ExpirySweeperOptions {
  // How long a passed expiry may stay unpersisted (reads are right without the sweep).
  absl::Duration interval = absl::Seconds(30);
  int batch = 500;
};

class ExpirySweeper {
 public:
  // `store` and `clock` must outlive the sweeper.
  ExpirySweeper(InvitationStore& store, const Clock& clock, absl::Duration interval,
                int batch = 500);
  ExpirySweeper(InvitationStore& store, const Clock& clock, const ExpirySweeperOptions& options)
      : ExpirySweeper(store, clock, options.interval, options.batch) {}

  // Starts the background thread: a sweep at once, then every `interval`.
  void Start() { loop_.Start(); }
  // Stops and joins the thread. Idempotent.
  void Stop() { loop_.Stop(); }

  // Expires everything due now, batch by batch, on the calling thread; returns how many.
  absl::StatusOr<int> SweepOnce();

 private:
  InvitationStore& store_;
  const Clock& clock_;
  const int batch_;
  PeriodicTask loop_;  // last: stops before the members it uses go
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_EXPIRY_SWEEPER_H_
