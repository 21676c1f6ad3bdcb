#include "storage/mysql_uri.h"

#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

TEST(ParseMysqlUri, ReadsEveryPart) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri("mysql://app:s%40cret@db.internal:3307/invites");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->user, "app");
  EXPECT_EQ(ep->password, "s@cret");
  EXPECT_EQ(ep->host, "db.internal");
  EXPECT_EQ(ep->port, 3307);
  EXPECT_EQ(ep->database, "invites");
  EXPECT_EQ(ep->socket, "");
}

TEST(ParseMysqlUri, SocketAndDefaults) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri("mysql://root@/invites?socket=/run/my.sock");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->socket, "/run/my.sock");
  EXPECT_EQ(ep->port, 3306);
  EXPECT_EQ(ep->password, "");
}

TEST(ParseMysqlUri, DescribeNeverShowsThePassword) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri("mysql://app:hunter2@h:1/d");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->Describe().find("hunter2"), std::string::npos);
}

TEST(ParseMysqlUri, RefusesMalformedUrisWithoutEchoingThePassword) {
  for (const char* bad : {"postgres://u@h/d", "mysql://u:pw@h:99999/d", "mysql://u:pw@h:1",
                          "mysql://h:1/d", "mysql://u:p%zz@h/d", "mysql://u:pw@h/d?ssl=1"}) {
    absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri(bad);
    EXPECT_EQ(ep.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(std::string(ep.status().message()).find("pw"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace securelink::invitations
