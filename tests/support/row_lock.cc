#include "tests/support/row_lock.h"

#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/mysql_uri.h"

namespace securelink::testing {

HeldInvitationLock::HeldInvitationLock(const std::string& mysql_uri,
                                       const std::string& invitation_id) {
  absl::StatusOr<invitations::MysqlEndpoint> endpoint = invitations::ParseMysqlUri(mysql_uri);
  if (!endpoint.ok()) {
    ADD_FAILURE() << endpoint.status();
    release_.Notify();
    return;
  }
  pool_ = std::make_unique<invitations::ConnectionPool>(*endpoint,
                                                        invitations::ConnectionPoolOptions{});
  holder_ = std::thread([this, invitation_id] {
    absl::Status s = invitations::RunTransaction(*pool_, "lock", [&](invitations::SqlSession& c) {
      std::unique_ptr<sql::Statement> st(c.connection().createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
          "SELECT id FROM invitations WHERE id = '", invitation_id, "' FOR UPDATE")));
      if (!locked_.HasBeenNotified()) locked_.Notify();  // the body reruns after a deadlock
      release_.WaitForNotification();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    if (!locked_.HasBeenNotified()) locked_.Notify();  // failed before locking: do not hang
  });
  locked_.WaitForNotification();
}

void HeldInvitationLock::Release() {
  if (!release_.HasBeenNotified()) release_.Notify();
  if (holder_.joinable()) holder_.join();
}

}  // namespace securelink::testing
