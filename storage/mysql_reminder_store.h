// ReminderStore on MySQL/MariaDB (tenant_policies, invitations, email_outbox; migration 0011).
#ifndef SECURELINK_STORAGE_MYSQL_REMINDER_STORE_H_
#define SECURELINK_STORAGE_MYSQL_REMINDER_STORE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "storage/connection_pool.h"
#include "storage/reminder_store.h"

namespace securelink::invitations {

// The Message-ID of the reminder of the link with token hash `token_hash_hex` of invitation
// `invitation_id`: derived, not random, so two passes that both tried to queue it would collide
// on the outbox's unique message_id instead of mailing twice. One-way, so it reveals nothing of
// the link.
std::string ReminderMessageId(absl::string_view invitation_id, absl::string_view token_hash_hex);

class MysqlReminderStore final : public ReminderStore {
 public:
  // `pool` must outlive the store and point at a migrated schema.
  explicit MysqlReminderStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<int> QueueDueReminders(absl::Time now, int limit) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_REMINDER_STORE_H_
