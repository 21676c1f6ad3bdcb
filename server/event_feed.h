// The replica's view of the invitation event feed (SPEC §3 WatchInvitationEvents). One background
// thread gives committed events their feed positions (EventStore::SequenceCommittedEvents, one
// replica at a time) and reads the newest ones into a bounded in-memory buffer that live
// subscribers share; a subscriber further back reads pages from the database instead. Knows
// neither gRPC nor SQL.
#ifndef SECURELINK_SERVER_EVENT_FEED_H_
#define SECURELINK_SERVER_EVENT_FEED_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/event_store.h"

namespace securelink::invitations {

// ErrorInfo reasons of the feed's errors.
inline constexpr absl::string_view kReasonEventNotFound = "EVENT_NOT_FOUND";
inline constexpr absl::string_view kReasonEventPositionExpired = "EVENT_POSITION_EXPIRED";
inline constexpr absl::string_view kReasonEventSubscriberBehind = "EVENT_SUBSCRIBER_BEHIND";
inline constexpr absl::string_view kReasonServerShuttingDown = "SERVER_SHUTTING_DOWN";

struct EventFeedOptions {
  // How often the feed sequences and reads new events. Events written by any replica reach the
  // subscribers of every replica within about two intervals (sequence on one, read on another).
  absl::Duration poll_interval = absl::Milliseconds(200);
  // Newest events kept in memory for live subscribers (~300 bytes each). A live subscriber that
  // falls further behind than this is told to resume from its last event.
  size_t buffered_events = 10000;
  // Events sequenced / read per database round trip.
  int batch = 1000;
};

// Told when events were added to the buffer. Retain/Release bracket each notification so that a
// listener unsubscribing concurrently stays alive until the call has returned.
class EventFeedListener {
 public:
  virtual ~EventFeedListener() = default;
  // Called on the feed's thread; must not block.
  virtual void OnFeedAdvanced() = 0;
  virtual void Retain() = 0;
  virtual void Release() = 0;
};

class EventFeed {
 public:
  // `store` must outlive the feed.
  EventFeed(EventStore& store, EventFeedOptions options);
  ~EventFeed();
  EventFeed(const EventFeed&) = delete;
  EventFeed& operator=(const EventFeed&) = delete;

  // Starts the background thread. The buffer starts at the newest position at that moment
  // (older events are read from the database).
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();

  // Where a subscription starts, and the newest position at that moment (where a replay_only
  // stream ends), after giving positions to every event committed so far.
  struct Placement {
    int64_t start = 0;
    int64_t newest = 0;
  };
  // Places `after_event_id` (blocking: asks the database); empty starts at the newest position.
  // INVALID_ARGUMENT (field after_event_id) when malformed; NOT_FOUND (EVENT_NOT_FOUND) when past
  // the newest event; OUT_OF_RANGE (EVENT_POSITION_EXPIRED) when older than the oldest kept, with
  // a message saying to resume from now. UNAVAILABLE when the database is.
  absl::StatusOr<Placement> Place(absl::string_view after_event_id);

  enum class BufferedRead {
    kEvents,    // scanned_through advanced (events may be empty: all belonged to other tenants)
    kCaughtUp,  // nothing after `after` yet: wait for OnFeedAdvanced
    kBehind,    // `after` is older than the buffer: read from the database
    kNotReady,  // the feed has not reached the database yet
  };
  struct Read {
    BufferedRead result = BufferedRead::kNotReady;
    std::vector<FeedEvent> events;
    int64_t scanned_through = 0;
  };
  // Up to `limit` buffered events after `after`, only `tenant_id`'s when set. Never blocks on
  // the database.
  Read ReadBuffered(int64_t after, const std::optional<std::string>& tenant_id,
                    size_t limit) const;

  // Up to `limit` events after `after` from the database (blocking), at most through `through`.
  absl::StatusOr<FeedPage> ReadStored(int64_t after, const std::optional<std::string>& tenant_id,
                                      int limit, std::optional<int64_t> through);

  void Subscribe(EventFeedListener* listener);
  // After this returns no new notification starts; one already started may still be running
  // (it holds a Retain).
  void Unsubscribe(EventFeedListener* listener);

  // Draining: tells every subscriber to end its stream (they finish UNAVAILABLE with the
  // position to resume from, on another replica); new subscriptions are refused the same way.
  void CloseSubscriptions();
  bool closing() const;

  // The newest buffered position; -1 before the feed has reached the database.
  int64_t newest_buffered() const;
  const EventFeedOptions& options() const { return options_; }

  // One round of the background work on the calling thread: sequence, then buffer new events.
  // Returns how many events were buffered.
  absl::StatusOr<int> PollOnce();

 private:
  void NotifyListeners();

  // Serialises PollOnce between the background thread and direct callers.
  absl::Mutex poll_mu_;

  EventStore& store_;
  const EventFeedOptions options_;

  mutable absl::Mutex buffer_mu_;
  std::deque<FeedEvent> buffer_ ABSL_GUARDED_BY(buffer_mu_);
  // Position of buffer_.front(), or newest + 1 when empty; -1 until the database was reached.
  int64_t buffer_first_ ABSL_GUARDED_BY(buffer_mu_) = -1;
  int64_t newest_ ABSL_GUARDED_BY(buffer_mu_) = -1;

  absl::Mutex listeners_mu_;
  // Atomic, not under listeners_mu_: subscribers read it holding their own lock, which
  // notification takes while holding listeners_mu_.
  std::atomic<bool> closing_{false};
  absl::flat_hash_set<EventFeedListener*> listeners_ ABSL_GUARDED_BY(listeners_mu_);

  absl::Mutex run_mu_;
  bool stopping_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread thread_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_EVENT_FEED_H_
