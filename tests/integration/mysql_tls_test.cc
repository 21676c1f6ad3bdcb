// TLS to MySQL (SPEC §8): every ssl-mode of --mysql_uri against a real MariaDB serving TLS,
// through the service's ConnectionPool, and the real invitation_server binary connecting with
// ssl-mode=VERIFY_IDENTITY and its password from --mysql_password_file.
#include <cppconn/exception.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <grpcpp/grpcpp.h>
#include <mysql_connection.h>
#include <mysql_driver.h>

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/util/status_macros.h"
#include "storage/connection_pool.h"
#include "storage/mysql_uri.h"
#include "tests/client/e2e_support.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDatabase[] = "tls_app";
// Users of the TLS server (created in SetUpTestSuite).
constexpr char kSslUser[] = "app_ssl";  // REQUIRE SSL
constexpr char kSslPassword[] = "ssl-pw-1";
constexpr char kX509User[] = "app_x509";  // REQUIRE X509: a client certificate from the CA
constexpr char kX509Password[] = "x509-pw-1";

// A path as a URI query value: '/' and the unreserved characters stay, the rest is escaped.
std::string UriPath(absl::string_view path) {
  std::string out;
  for (char c : path) {
    if (absl::ascii_isalnum(c) || c == '/' || c == '.' || c == '_' || c == '-' || c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

// The TLS cipher the server reports for a session opened through the service's pool with
// `uri`; "" when the session is plaintext.
absl::StatusOr<std::string> SessionCipher(const std::string& uri) {
  ASSIGN_OR_RETURN(invitations::MysqlEndpoint endpoint, invitations::ParseMysqlUri(uri));
  invitations::ConnectionPool pool(endpoint, invitations::ConnectionPoolOptions{});
  std::string cipher;
  RETURN_IF_ERROR(invitations::RunReadOnly(
      pool, "reading the session's TLS cipher", [&](invitations::SqlSession& session) {
        std::unique_ptr<sql::Statement> s(session.connection().createStatement());
        std::unique_ptr<sql::ResultSet> rows(
            s->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_cipher'"));
        while (rows->next()) cipher = rows->getString(2);
        return absl::OkStatus();
      }));
  return cipher;
}

class MysqlTlsTest : public ::testing::Test {
 protected:
  // One MariaDB with TLS for the whole binary, and the plaintext one (SharedMariaDb) as the
  // server without TLS. Both are started from the main thread, which outlives them.
  static void SetUpTestSuite() {
    if (tls_db_ != nullptr) return;
    MariaDbServer::Options options;
    options.tls = true;
    absl::StatusOr<std::unique_ptr<MariaDbServer>> started = MariaDbServer::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    tls_db_ = started->release();
    ASSERT_THAT(tls_db_->CreateDatabase(kDatabase), IsOk());
    ASSERT_THAT(tls_db_->Execute("", absl::StrCat(
        "CREATE USER '", kSslUser, "'@'%' IDENTIFIED BY '", kSslPassword, "' REQUIRE SSL;",
        "GRANT ALL ON ", kDatabase, ".* TO '", kSslUser, "'@'%';",
        "CREATE USER '", kX509User, "'@'%' IDENTIFIED BY '", kX509Password, "' REQUIRE X509;",
        "GRANT ALL ON ", kDatabase, ".* TO '", kX509User, "'@'%';")), IsOk());
    ASSERT_THAT(SharedMariaDb().CreateDatabase(kDatabase), IsOk());
  }

  static void TearDownTestSuite() {
    delete tls_db_;  // stops mariadbd and removes its directory
    tls_db_ = nullptr;
  }

  static MariaDbServer& tls_db() { return *tls_db_; }
  static const MariaDbServer::TlsFiles& files() { return tls_db_->tls_files(); }

  // mysql://<userinfo>@<host>:<TLS server port>/tls_app?<query>
  static std::string TlsUri(absl::string_view userinfo, absl::string_view host,
                            absl::string_view query) {
    return absl::StrCat("mysql://", userinfo, "@", host, ":", tls_db_->port(), "/", kDatabase,
                        query.empty() ? "" : "?", query);
  }
  static std::string SslUserUri(absl::string_view host, absl::string_view query) {
    return TlsUri(absl::StrCat(kSslUser, ":", kSslPassword), host, query);
  }
  static std::string VerifyIdentity(const std::string& ca) {
    return absl::StrCat("ssl-mode=VERIFY_IDENTITY&ssl-ca=", UriPath(ca));
  }
  // The plaintext server, as root (no password) unless `userinfo` says otherwise.
  static std::string PlainUri(absl::string_view query, absl::string_view userinfo = "root") {
    return absl::StrCat("mysql://", userinfo, "@127.0.0.1:", SharedMariaDb().port(), "/",
                        kDatabase, "?", query);
  }

 private:
  static MariaDbServer* tls_db_;
};

MariaDbServer* MysqlTlsTest::tls_db_ = nullptr;

TEST_F(MysqlTlsTest, RequiredConnectsAndTheSessionIsEncrypted) {
  absl::StatusOr<std::string> cipher = SessionCipher(SslUserUri("127.0.0.1", "ssl-mode=REQUIRED"));
  ASSERT_THAT(cipher, IsOk());
  EXPECT_THAT(*cipher, Not(::testing::IsEmpty()));
}

TEST_F(MysqlTlsTest, PlaintextIsRefusedForAUserCreatedRequireSsl) {
  for (const char* query : {"", "ssl-mode=DISABLED"}) {
    absl::StatusOr<std::string> cipher = SessionCipher(SslUserUri("127.0.0.1", query));
    EXPECT_THAT(cipher, Not(IsOk())) << query;
    EXPECT_THAT(MessageOf(cipher), HasSubstr("1045")) << query;  // access denied
  }
}

TEST_F(MysqlTlsTest, RequiredRefusesAServerWithoutTls) {
  absl::StatusOr<std::string> cipher = SessionCipher(PlainUri("ssl-mode=REQUIRED"));
  EXPECT_THAT(cipher, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(MessageOf(cipher), HasSubstr("did not negotiate TLS"));
}

TEST_F(MysqlTlsTest, PreferredUsesTlsWhenTheServerOffersItAndPlaintextOtherwise) {
  absl::StatusOr<std::string> with_tls =
      SessionCipher(SslUserUri("127.0.0.1", "ssl-mode=PREFERRED"));
  ASSERT_THAT(with_tls, IsOk());
  EXPECT_THAT(*with_tls, Not(::testing::IsEmpty()));
  absl::StatusOr<std::string> without = SessionCipher(PlainUri("ssl-mode=PREFERRED"));
  ASSERT_THAT(without, IsOk());
  EXPECT_EQ(*without, "");
}

TEST_F(MysqlTlsTest, VerifyIdentityConnectsWhenTheCertificateNamesTheHost) {
  absl::StatusOr<std::string> cipher =
      SessionCipher(SslUserUri("127.0.0.1", VerifyIdentity(files().ca_cert)));
  ASSERT_THAT(cipher, IsOk());
  EXPECT_THAT(*cipher, Not(::testing::IsEmpty()));
}

TEST_F(MysqlTlsTest, VerifyIdentityRefusesAHostNameTheCertificateDoesNotCarry) {
  // "localhost" reaches the same server (REQUIRED checks no name and connects), but the
  // certificate names only 127.0.0.1.
  ASSERT_THAT(SessionCipher(SslUserUri("localhost", "ssl-mode=REQUIRED")), IsOk());
  absl::StatusOr<std::string> cipher =
      SessionCipher(SslUserUri("localhost", VerifyIdentity(files().ca_cert)));
  EXPECT_THAT(cipher, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(MessageOf(cipher), HasSubstr("TLS with the database failed"));
  EXPECT_THAT(MessageOf(cipher), HasSubstr("certificate"));
}

TEST_F(MysqlTlsTest, VerifyIdentityRefusesAServerCertificateFromAnotherCa) {
  absl::StatusOr<std::string> cipher =
      SessionCipher(SslUserUri("127.0.0.1", VerifyIdentity(files().other_ca_cert)));
  EXPECT_THAT(cipher, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(MessageOf(cipher), HasSubstr("TLS with the database failed"));
}

TEST_F(MysqlTlsTest, VerifyIdentityRefusesAServerWithoutTlsBeforeLoggingIn) {
  // A wrong password: had the client logged in, the answer would be "access denied" (1045).
  absl::StatusOr<std::string> cipher =
      SessionCipher(PlainUri(VerifyIdentity(files().ca_cert), "root:wrong-password"));
  EXPECT_THAT(cipher, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(MessageOf(cipher), HasSubstr("error 2026"));
  EXPECT_THAT(MessageOf(cipher), Not(HasSubstr("1045")));
}

TEST_F(MysqlTlsTest, AClientCertificateSatisfiesAUserCreatedRequireX509) {
  const std::string x509 = absl::StrCat(kX509User, ":", kX509Password);
  const std::string query = absl::StrCat(VerifyIdentity(files().ca_cert), "&ssl-cert=",
                                         UriPath(files().client_cert), "&ssl-key=",
                                         UriPath(files().client_key));
  absl::StatusOr<std::string> cipher = SessionCipher(TlsUri(x509, "127.0.0.1", query));
  ASSERT_THAT(cipher, IsOk());
  EXPECT_THAT(*cipher, Not(::testing::IsEmpty()));
  absl::StatusOr<std::string> without_certificate =
      SessionCipher(TlsUri(x509, "127.0.0.1", VerifyIdentity(files().ca_cert)));
  EXPECT_THAT(without_certificate, Not(IsOk()));
  EXPECT_THAT(MessageOf(without_certificate), HasSubstr("1045"));
}

TEST_F(MysqlTlsTest, VerifyCaIsRefusedAndNeverConnects) {
  const std::string verify_ca = absl::StrCat("ssl-mode=VERIFY_CA&ssl-ca=", UriPath(files().ca_cert));
  absl::StatusOr<invitations::MysqlEndpoint> endpoint =
      invitations::ParseMysqlUri(SslUserUri("127.0.0.1", verify_ca));
  ASSERT_THAT(endpoint, IsOk());
  absl::Status check = invitations::CheckTlsSettings(*endpoint);
  EXPECT_THAT(check, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MessageOf(check), HasSubstr("ssl-mode=VERIFY_IDENTITY"));
  // The same settings with VERIFY_IDENTITY connect; VERIFY_CA does not even try.
  invitations::ConnectionPool pool(*endpoint, invitations::ConnectionPoolOptions{});
  EXPECT_THAT(pool.Acquire(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// Why VERIFY_CA is refused: the client library, asked to verify the chain without the host
// name, logs in and runs in plaintext when the server offers no TLS. If this test ever fails,
// the library refuses such a server by itself, and VERIFY_CA can be offered
// (storage/connection_pool.cc).
TEST_F(MysqlTlsTest, TheClientLibraryWithACaButNoHostCheckAcceptsAServerWithoutTls) {
  sql::ConnectOptionsMap opts;
  opts["hostName"] = sql::SQLString(absl::StrCat("tcp://127.0.0.1:", SharedMariaDb().port()));
  opts["userName"] = sql::SQLString("root");
  opts["password"] = sql::SQLString("");
  opts["sslEnforce"] = true;
  opts["sslCA"] = sql::SQLString(files().ca_cert);
  std::string cipher = "(not connected)";
  try {
    std::unique_ptr<sql::Connection> c(sql::mysql::get_mysql_driver_instance()->connect(opts));
    std::unique_ptr<sql::Statement> s(c->createStatement());
    std::unique_ptr<sql::ResultSet> rows(s->executeQuery("SHOW SESSION STATUS LIKE 'Ssl_cipher'"));
    while (rows->next()) cipher = rows->getString(2);
  } catch (const sql::SQLException& e) {
    cipher = absl::StrCat("(refused: ", e.what(), ")");
  }
  EXPECT_EQ(cipher, "");
}

TEST_F(MysqlTlsTest, StartUpCheckNamesAnUnreadableCertificateFile) {
  const std::string missing = absl::StrCat(::testing::TempDir(), "/no-such-ca.pem");
  absl::StatusOr<invitations::MysqlEndpoint> endpoint =
      invitations::ParseMysqlUri(SslUserUri("127.0.0.1", VerifyIdentity(missing)));
  ASSERT_THAT(endpoint, IsOk());
  absl::Status check = invitations::CheckTlsSettings(*endpoint);
  EXPECT_THAT(check, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MessageOf(check), HasSubstr(absl::StrCat("ssl-ca ", missing, " cannot be read")));

  absl::StatusOr<invitations::MysqlEndpoint> readable =
      invitations::ParseMysqlUri(SslUserUri("127.0.0.1", VerifyIdentity(files().ca_cert)));
  ASSERT_THAT(readable, IsOk());
  EXPECT_THAT(invitations::CheckTlsSettings(*readable), IsOk());
}

// The real binary: VERIFY_IDENTITY to the TLS server, the password from a file that overrides
// a wrong one in the URI, and neither password in its log.
TEST_F(MysqlTlsTest, TheServerBinaryServesOverVerifyIdentityWithThePasswordFromAFile) {
  const std::string database = "tls_e2e";
  // Ends in a space: only the file's trailing newline is stripped.
  const std::string password = "from-file pw ";
  ASSERT_THAT(tls_db().CreateDatabase(database), IsOk());
  ASSERT_THAT(tls_db().Execute("", absl::StrCat(
      "CREATE USER 'app_file'@'%' IDENTIFIED BY '", password, "' REQUIRE SSL;",
      "GRANT ALL ON ", database, ".* TO 'app_file'@'%';")), IsOk());
  const std::string password_file =
      e2e::WriteTempFile("mysql-password", absl::StrCat(password, "\n"));

  e2e::ServerProcess::Options options;
  options.mysql_uri = absl::StrCat("mysql://app_file:wrong-uri-pw@127.0.0.1:", tls_db().port(),
                                   "/", database, "?", VerifyIdentity(files().ca_cert));
  options.env = {absl::StrCat("INVITATIONS_MYSQL_PASSWORD_FILE=", password_file)};
  absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server =
      e2e::ServerProcess::Start(std::move(options));
  ASSERT_THAT(server, IsOk());

  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  pb::CreateInvitationRequest request;
  request.set_email(UniqueEmail("tls"));
  request.set_role(pb::ROLE_SUPER_ADMIN);
  pb::CreateInvitationResponse created;
  ASSERT_THAT(stub->CreateInvitation(Context().get(), request, &created), IsOk());
  absl::StatusOr<std::string> stored = tls_db().Query(
      database, absl::StrCat("SELECT COUNT(*) FROM invitations WHERE id = '",
                             created.invitation().id(), "'"));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(absl::StripAsciiWhitespace(*stored), "1");

  EXPECT_EQ((*server)->Terminate(), 0);
  const std::string log = (*server)->Log();
  EXPECT_THAT(log, HasSubstr("ssl-mode=VERIFY_IDENTITY"));
  EXPECT_THAT(log, Not(HasSubstr("from-file pw")));
  EXPECT_THAT(log, Not(HasSubstr("wrong-uri-pw")));
}

}  // namespace
}  // namespace securelink::testing
