// The recorded invitation events as the event feed reads them (SPEC §3 WatchInvitationEvents).
// Events are written by InvitationStore and OutboxStore in the transaction of the change they
// record; this interface gives them feed positions and reads them back in that order.
#ifndef SECURELINK_STORAGE_EVENT_STORE_H_
#define SECURELINK_STORAGE_EVENT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/invitation_store.h"

namespace securelink::invitations {

// One event with its feed position. Carries no token: the events table has none to carry.
struct FeedEvent {
  int64_t seq = 0;  // feed position, 1-based, gap-free, in the order events became visible
  std::string invitation_id;
  AuditEventType type = AuditEventType::kCreated;
  std::string actor;
  std::string tenant_id;
  std::string email;
  std::string reason;
  absl::Time event_time;
  std::string request_id;  // of the call that caused it; empty for the service's own changes
};

// The positions the feed holds: events oldest..newest are kept. Both 0 when there are none
// (newest is then the position "now" starts from; oldest 0 means nothing was ever removed).
struct FeedBounds {
  int64_t oldest = 0;
  int64_t newest = 0;
};

// A page read after a position.
struct FeedPage {
  std::vector<FeedEvent> events;  // ascending seq
  // Every position up to here has been looked at (events of other tenants are skipped, so this
  // can be past the last returned event). Resume the next read after it.
  int64_t scanned_through = 0;
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Gives feed positions to up to `limit` committed events that have none, in insertion order,
  // continuing after the highest position handed out. Only one caller across all replicas does
  // this at a time: with `wait` false the others return 0 at once; with `wait` true they queue
  // behind it (bounded by the lock wait timeout) and then sequence what is left. Returns how
  // many were given.
  virtual absl::StatusOr<int> SequenceCommittedEvents(int limit, bool wait = false) = 0;

  // The oldest and newest positions currently readable.
  virtual absl::StatusOr<FeedBounds> Bounds() = 0;

  // Up to `limit` events with position in (after, through], ascending; only `tenant_id`'s when
  // it is set. `through` nullopt: up to the newest position at the time of the call.
  virtual absl::StatusOr<FeedPage> ReadAfter(int64_t after, std::optional<std::string> tenant_id,
                                             int limit, std::optional<int64_t> through) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_EVENT_STORE_H_
