// Start-up check that a replica seals registration links with the same key as every other
// replica of its database (SPEC §7), so that no replica issues links whose mail the others'
// dispatchers cannot build (mail that would otherwise wait, silently, until it failed).
#ifndef SECURELINK_STORAGE_SEALING_KEY_CHECK_H_
#define SECURELINK_STORAGE_SEALING_KEY_CHECK_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/token.h"
#include "storage/connection_pool.h"

namespace securelink::invitations {

// What CheckTokenSealingKey looked at, for the start-up log.
struct SealingKeyCheck {
  bool matched_recorded_key = false;  // the database had recorded this very key
  bool recorded_now = false;          // it had none; this replica's key is now the database's
  int live_links_sampled = 0;         // live sealed links tried (only when none was recorded)
  int live_links_opened = 0;          // of those, how many this key opens
};

// Decides whether a replica sealing with `sealer` may serve the migrated database behind `pool`.
//
// A configured key is compared with the key check value (TokenSealer::KeyFingerprint) in
// token_sealing_key. When none is recorded yet (a new database, or one from before the table,
// or one an operator reset to rotate the key), the newest few live links (PENDING, unexpired,
// with a sealed copy) are opened instead: if there are some and none opens, the key is refused;
// otherwise it is recorded (the first of concurrently starting replicas wins; the others are
// compared with it).
//
// A per-process key (TokenSealer::CreateEphemeral, no key file) is never recorded: a key that
// dies with its process must not lock out the next one. It is accepted only on a database with
// no recorded key and no live sealed links, i.e. a single throw-away replica of its own.
//
// FAILED_PRECONDITION when the replica must not start; the message says why, names
// --token_sealing_key_file and INVITATIONS_TOKEN_SEALING_KEY_FILE, says that every replica of
// one database must use the same key, and never contains key material. UNAVAILABLE (or another
// code from the pool) when the database cannot be read.
absl::StatusOr<SealingKeyCheck> CheckTokenSealingKey(ConnectionPool& pool,
                                                     const TokenSealer& sealer, absl::Time now);

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_SEALING_KEY_CHECK_H_
