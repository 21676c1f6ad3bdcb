// How tests stall the database for one invitation: another session holds the invitation's row
// lock (SELECT … FOR UPDATE in an open transaction) until the test lets go.
#ifndef SECURELINK_TESTS_SUPPORT_ROW_LOCK_H_
#define SECURELINK_TESTS_SUPPORT_ROW_LOCK_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "storage/connection_pool.h"

namespace securelink::testing {

class HeldInvitationLock {
 public:
  // Returns once the row of `invitation_id` in the database `mysql_uri` names is locked
  // (records a test failure and returns at once if it cannot be).
  HeldInvitationLock(const std::string& mysql_uri, const std::string& invitation_id);
  HeldInvitationLock(const HeldInvitationLock&) = delete;
  HeldInvitationLock& operator=(const HeldInvitationLock&) = delete;
  ~HeldInvitationLock() { Release(); }

  // Ends the holding transaction and waits for it. Idempotent.
  void Release();
  bool released() const { return release_.HasBeenNotified(); }

 private:
  std::unique_ptr<invitations::ConnectionPool> pool_;
  absl::Notification locked_;
  absl::Notification release_;
  std::thread holder_;
};

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_ROW_LOCK_H_
