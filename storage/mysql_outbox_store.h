// OutboxStore on MySQL/MariaDB (email_outbox, migration 0002).
#ifndef SECURELINK_STORAGE_MYSQL_OUTBOX_STORE_H_
#define SECURELINK_STORAGE_MYSQL_OUTBOX_STORE_H_

#include "storage/connection_pool.h"
#include "storage/outbox_store.h"

namespace securelink::invitations {

class MysqlOutboxStore final : public OutboxStore {
 public:
  // `pool` must outlive the store and point at a migrated schema.
  explicit MysqlOutboxStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<std::vector<ClaimedEmail>> Claim(absl::string_view owner, int limit,
                                                  absl::Time now, absl::Duration lease) override;
  absl::StatusOr<SendCheck> RecheckBeforeSend(const ClaimedEmail& email,
                                              absl::string_view owner) override;
  absl::Status MarkSent(const ClaimedEmail& email, absl::string_view owner,
                        absl::Time now) override;
  absl::Status MarkRetry(const ClaimedEmail& email, absl::string_view owner, absl::Time retry_at,
                         absl::string_view error, absl::Time now) override;
  absl::Status MarkFailed(const ClaimedEmail& email, absl::string_view owner,
                          absl::string_view error, absl::Time now) override;
  absl::Status MarkSuperseded(const ClaimedEmail& email, absl::string_view owner,
                              absl::Time now) override;
  absl::StatusOr<OutboxStats> Stats(absl::Time now) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_OUTBOX_STORE_H_
