// EventStore on MySQL/MariaDB (invitation_events.seq and event_feed_sequence, migration 0004).
#ifndef SECURELINK_STORAGE_MYSQL_EVENT_STORE_H_
#define SECURELINK_STORAGE_MYSQL_EVENT_STORE_H_

#include "storage/connection_pool.h"
#include "storage/event_store.h"

namespace securelink::invitations {

class MysqlEventStore final : public EventStore {
 public:
  // `pool` must outlive the store and point at a migrated schema.
  explicit MysqlEventStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<int> SequenceCommittedEvents(int limit, bool wait) override;
  absl::StatusOr<FeedBounds> Bounds() override;
  absl::StatusOr<FeedPage> ReadAfter(int64_t after, std::optional<std::string> tenant_id,
                                     int limit, std::optional<int64_t> through) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_EVENT_STORE_H_
