#include "server/event_feed.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/domain/errors.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

// An event id is the decimal feed position the feed itself handed out.
absl::StatusOr<int64_t> ParseEventId(absl::string_view text) {
  int64_t position = 0;
  if (text.size() > 19 || !std::all_of(text.begin(), text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(text, &position)) {
    return InvalidField("after_event_id",
                        "must be an event_id this feed returned (a decimal number), or empty to "
                        "start from now");
  }
  return position;
}

}  // namespace

EventFeed::EventFeed(EventStore& store, EventFeedOptions options)
    : store_(store), options_(std::move(options)) {}

EventFeed::~EventFeed() { Stop(); }

void EventFeed::Start() {
  thread_ = std::thread([this] {
    bool failing = false;
    while (true) {
      absl::StatusOr<int> polled = PollOnce();
      if (!polled.ok() && !failing) {
        Log(LogLevel::kWarning, "event feed cannot reach the database; subscribers wait",
            {{"error", std::string(polled.status().message())}});
      } else if (polled.ok() && failing) {
        Log(LogLevel::kInfo, "event feed reaches the database again");
      }
      failing = !polled.ok();
      // A full batch means more are waiting: go again at once.
      if (polled.ok() && *polled >= options_.batch) continue;
      absl::MutexLock lock(&run_mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(run_mu_) { return stopping_; };
      if (run_mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.poll_interval)) return;
    }
  });
}

void EventFeed::Stop() {
  {
    absl::MutexLock lock(&run_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int> EventFeed::PollOnce() {
  absl::MutexLock poll_lock(&poll_mu_);
  int64_t newest;
  {
    absl::MutexLock lock(&buffer_mu_);
    newest = newest_;
  }
  if (newest < 0) {
    ASSIGN_OR_RETURN(FeedBounds bounds, store_.Bounds());
    absl::MutexLock lock(&buffer_mu_);
    newest_ = bounds.newest;
    buffer_first_ = bounds.newest + 1;
    newest = newest_;
  }
  // Sequencing failures are not fatal to reading: another replica may be sequencing.
  absl::StatusOr<int> sequenced = store_.SequenceCommittedEvents(options_.batch);
  ASSIGN_OR_RETURN(FeedPage page, store_.ReadAfter(newest, std::nullopt, options_.batch,
                                                   std::nullopt));
  if (!sequenced.ok() && page.events.empty()) return sequenced.status();
  if (page.events.empty()) return 0;
  const int buffered = static_cast<int>(page.events.size());
  {
    absl::MutexLock lock(&buffer_mu_);
    for (FeedEvent& event : page.events) {
      // Positions are gap-free; a jump means events were removed (archived) meanwhile, and
      // the buffer must stay contiguous, so it restarts at the new event.
      if (event.seq != newest_ + 1) {
        buffer_.clear();
        buffer_first_ = event.seq;
      }
      newest_ = event.seq;
      buffer_.push_back(std::move(event));
    }
    while (buffer_.size() > options_.buffered_events) {
      buffer_.pop_front();
      ++buffer_first_;
    }
  }
  NotifyListeners();
  return buffered;
}

void EventFeed::NotifyListeners() {
  std::vector<EventFeedListener*> listeners;
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners.reserve(listeners_.size());
    for (EventFeedListener* listener : listeners_) {
      listener->Retain();
      listeners.push_back(listener);
    }
  }
  // Outside the lock: a listener may finish its call here, and its cleanup unsubscribes.
  for (EventFeedListener* listener : listeners) {
    listener->OnFeedAdvanced();
    listener->Release();
  }
}

absl::StatusOr<EventFeed::Placement> EventFeed::Place(absl::string_view after_event_id) {
  std::optional<int64_t> requested;
  if (!after_event_id.empty()) {
    ASSIGN_OR_RETURN(requested, ParseEventId(after_event_id));
  }
  // "Now" includes everything committed before this call, even if no feed thread has given it
  // a position yet: a replay_only stream then holds every event recorded before it.
  for (int sequenced = options_.batch; sequenced >= options_.batch;) {
    ASSIGN_OR_RETURN(sequenced, store_.SequenceCommittedEvents(options_.batch, /*wait=*/true));
  }
  ASSIGN_OR_RETURN(FeedBounds bounds, store_.Bounds());
  if (!requested.has_value()) return Placement{bounds.newest, bounds.newest};
  if (*requested > bounds.newest) {
    return ReasonedError(
        absl::StatusCode::kNotFound,
        absl::StrCat("there is no event ", *requested, " (the newest is ", bounds.newest,
                     "); resume after an event_id this feed returned, or from now with an "
                     "empty after_event_id"),
        kReasonEventNotFound, {{"newest_event_id", absl::StrCat(bounds.newest)}});
  }
  if (bounds.oldest > 0 && *requested < bounds.oldest - 1) {
    return ReasonedError(
        absl::StatusCode::kOutOfRange,
        absl::StrCat("events up to ", bounds.oldest - 1,
                     " are no longer kept, so the events after ", *requested,
                     " cannot all be replayed; resume from now with an empty after_event_id"),
        kReasonEventPositionExpired, {{"oldest_event_id", absl::StrCat(bounds.oldest)}});
  }
  return Placement{*requested, bounds.newest};
}

EventFeed::Read EventFeed::ReadBuffered(int64_t after, const std::optional<std::string>& tenant_id,
                                        size_t limit) const {
  Read read;
  read.scanned_through = after;
  absl::MutexLock lock(&buffer_mu_);
  if (newest_ < 0) return read;  // kNotReady
  if (after < buffer_first_ - 1) {
    read.result = BufferedRead::kBehind;
    return read;
  }
  if (after >= newest_) {
    read.result = BufferedRead::kCaughtUp;
    return read;
  }
  read.result = BufferedRead::kEvents;
  for (size_t i = static_cast<size_t>(after - buffer_first_ + 1);
       i < buffer_.size() && read.events.size() < limit; ++i) {
    const FeedEvent& event = buffer_[i];
    read.scanned_through = event.seq;
    if (!tenant_id.has_value() || event.tenant_id == *tenant_id) read.events.push_back(event);
  }
  return read;
}

absl::StatusOr<FeedPage> EventFeed::ReadStored(int64_t after,
                                               const std::optional<std::string>& tenant_id,
                                               int limit, std::optional<int64_t> through) {
  return store_.ReadAfter(after, tenant_id, limit, through);
}

void EventFeed::Subscribe(EventFeedListener* listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.insert(listener);
}

void EventFeed::Unsubscribe(EventFeedListener* listener) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(listener);
}

void EventFeed::CloseSubscriptions() {
  closing_ = true;
  NotifyListeners();
}

bool EventFeed::closing() const { return closing_; }

int64_t EventFeed::newest_buffered() const {
  absl::MutexLock lock(&buffer_mu_);
  return newest_;
}

}  // namespace securelink::invitations
