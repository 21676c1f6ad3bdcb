#include "storage/mysql_uri.h"

#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

TEST(ParseMysqlUri, ReadsEveryPart) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri("mysql://app:s%40cret@db.internal:3307/invites");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->user, "app");
  EXPECT_EQ(ep->password, "s@cret");
  ASSERT_EQ(ep->hosts.size(), 1u);
  EXPECT_EQ(ep->hosts[0].host, "db.internal");
  EXPECT_EQ(ep->hosts[0].port, 3307);
  EXPECT_EQ(ep->database, "invites");
  EXPECT_EQ(ep->socket, "");
}

TEST(ParseMysqlUri, SocketAndDefaults) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri("mysql://root@/invites?socket=/run/my.sock");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->socket, "/run/my.sock");
  ASSERT_EQ(ep->hosts.size(), 1u);
  EXPECT_EQ(ep->hosts[0].port, 3306);
  EXPECT_EQ(ep->password, "");
}

TEST(ParseMysqlUri, ReadsTheNodesOfAClusterInOrder) {
  absl::StatusOr<MysqlEndpoint> ep =
      ParseMysqlUri("mysql://app:pw@db2:3307,db1,10.0.0.3:3309/invites");
  ASSERT_TRUE(ep.ok()) << ep.status();
  ASSERT_EQ(ep->hosts.size(), 3u);
  EXPECT_EQ(ep->hosts[0], (MysqlHost{"db2", 3307}));
  EXPECT_EQ(ep->hosts[1], (MysqlHost{"db1", 3306}));
  EXPECT_EQ(ep->hosts[2], (MysqlHost{"10.0.0.3", 3309}));
  EXPECT_EQ(ep->Describe(), "app@db2:3307,db1:3306,10.0.0.3:3309/invites");
}

TEST(ParseMysqlUri, RefusesAHostListThatCannotBeMeant) {
  const std::pair<const char*, const char*> cases[] = {
      {"mysql://u:pw@h1,,h2/d", "empty host"},
      {"mysql://u:pw@h1:3306,h1/d", "appears twice"},
      {"mysql://u:pw@h1,h2:0/d", "port"},
      {"mysql://u:pw@h1,h2/d?socket=/run/my.sock", "socket"},
  };
  for (const auto& [uri, why] : cases) {
    absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri(uri);
    EXPECT_EQ(ep.status().code(), absl::StatusCode::kInvalidArgument) << uri;
    EXPECT_NE(std::string(ep.status().message()).find(why), std::string::npos)
        << uri << ": " << ep.status();
    EXPECT_EQ(std::string(ep.status().message()).find("pw"), std::string::npos) << uri;
  }
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

TEST(ParseMysqlUri, WithoutSslModeTheConnectionIsPlaintext) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri("mysql://app:pw@db:3306/invites");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->tls.mode, MysqlSslMode::kDisabled);
  EXPECT_EQ(ep->Describe(), "app@db:3306/invites");
}

TEST(ParseMysqlUri, ReadsTheTlsParametersPercentDecoded) {
  absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri(
      "mysql://app:pw@db.internal/invites?ssl-mode=VERIFY_IDENTITY"
      "&ssl-ca=%2Fetc%2Fdb%20certs%2Fca.pem&ssl-cert=/etc/db/client.pem"
      "&ssl-key=/etc/db/client%2Bkey.pem");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->tls.mode, MysqlSslMode::kVerifyIdentity);
  EXPECT_EQ(ep->tls.ca_file, "/etc/db certs/ca.pem");
  EXPECT_EQ(ep->tls.cert_file, "/etc/db/client.pem");
  EXPECT_EQ(ep->tls.key_file, "/etc/db/client+key.pem");
  EXPECT_EQ(ep->Describe(), "app@db.internal:3306/invites?ssl-mode=VERIFY_IDENTITY");
}

TEST(ParseMysqlUri, SslModeIsCaseInsensitiveAsInMysqlClients) {
  const std::pair<const char*, MysqlSslMode> cases[] = {
      {"disabled", MysqlSslMode::kDisabled},
      {"Preferred", MysqlSslMode::kPreferred},
      {"required", MysqlSslMode::kRequired},
      {"verify_ca&ssl-ca=/ca.pem", MysqlSslMode::kVerifyCa},
      {"Verify_Identity&ssl-ca=/ca.pem", MysqlSslMode::kVerifyIdentity},
  };
  for (const auto& [query, mode] : cases) {
    absl::StatusOr<MysqlEndpoint> ep =
        ParseMysqlUri(std::string("mysql://app@db/invites?ssl-mode=") + query);
    ASSERT_TRUE(ep.ok()) << query << ": " << ep.status();
    EXPECT_EQ(ep->tls.mode, mode) << query;
  }
}

TEST(ParseMysqlUri, ClientCertificateWithoutServerVerification) {
  absl::StatusOr<MysqlEndpoint> ep =
      ParseMysqlUri("mysql://app@db/invites?ssl-mode=REQUIRED&ssl-cert=/c.pem&ssl-key=/k.pem");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->tls.mode, MysqlSslMode::kRequired);
  EXPECT_EQ(ep->tls.cert_file, "/c.pem");
}

// Each bad query is refused naming the parameter at fault, and the password never appears.
TEST(ParseMysqlUri, RefusesUnknownRepeatedAndContradictoryTlsParameters) {
  struct Case {
    const char* query;
    const char* named;
  };
  const Case cases[] = {
      {"sslmode=REQUIRED", "unknown parameter 'sslmode'"},
      {"ssl-mode=STRICT", "ssl-mode 'STRICT' is not one of"},
      {"ssl-mode=", "'ssl-mode' has no value"},
      {"ssl-mode=REQUIRED&ssl-mode=DISABLED", "'ssl-mode' is given twice"},
      {"ssl-ca=/ca.pem", "ssl-ca needs an ssl-mode"},
      {"ssl-cert=/c.pem&ssl-key=/k.pem", "ssl-cert needs an ssl-mode"},
      {"ssl-mode=DISABLED&ssl-ca=/ca.pem", "ssl-ca contradicts ssl-mode=DISABLED"},
      {"ssl-mode=VERIFY_CA", "ssl-mode=VERIFY_CA needs ssl-ca"},
      {"ssl-mode=VERIFY_IDENTITY", "ssl-mode=VERIFY_IDENTITY needs ssl-ca"},
      {"ssl-mode=REQUIRED&ssl-ca=/ca.pem", "ssl-mode=REQUIRED does not verify the server"},
      {"ssl-mode=PREFERRED&ssl-ca=/ca.pem", "ssl-mode=PREFERRED does not verify the server"},
      {"ssl-mode=REQUIRED&ssl-cert=/c.pem", "ssl-cert needs ssl-key"},
      {"ssl-mode=REQUIRED&ssl-key=/k.pem", "ssl-key needs ssl-cert"},
      {"ssl-mode=REQUIRED&ssl-ca=%zz", "bad percent-escape in the ssl-ca"},
      {"socket=/run/my.sock&ssl-mode=REQUIRED", "a unix socket"},
  };
  for (const Case& c : cases) {
    const std::string uri = std::string("mysql://app:Secr3tPw@db/invites?") + c.query;
    absl::StatusOr<MysqlEndpoint> ep = ParseMysqlUri(uri);
    EXPECT_EQ(ep.status().code(), absl::StatusCode::kInvalidArgument) << c.query;
    EXPECT_NE(std::string(ep.status().message()).find(c.named), std::string::npos)
        << c.query << " → " << ep.status().message();
    EXPECT_EQ(std::string(ep.status().message()).find("Secr3tPw"), std::string::npos) << c.query;
  }
}

TEST(ParseMysqlUri, ExplicitlyDisabledTlsWorksWithASocket) {
  absl::StatusOr<MysqlEndpoint> ep =
      ParseMysqlUri("mysql://root@/invites?socket=/run/my.sock&ssl-mode=disabled");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->Describe(), "root@unix:/run/my.sock/invites");
}

}  // namespace
}  // namespace securelink::invitations
