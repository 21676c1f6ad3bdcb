// Parses the --mysql_uri setting:
//   mysql://user:password@host:port/database[?socket=/path]
//   mysql://user:password@host:port/database?ssl-mode=MODE[&ssl-ca=…][&ssl-cert=…&ssl-key=…]
//   mysql://user:password@h1:3306,h2:3306,h3:3306/database   (the nodes of a Galera cluster)
#ifndef SECURELINK_STORAGE_MYSQL_URI_H_
#define SECURELINK_STORAGE_MYSQL_URI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

// How the connection to MySQL is protected, with the meanings (and spellings) of MySQL's own
// clients' --ssl-mode. Which of them this service's client library can enforce is decided by
// storage/connection_pool.h (CheckTlsSettings), not by the parser.
enum class MysqlSslMode {
  kDisabled,        // plaintext
  kPreferred,       // TLS when the server offers it, else plaintext; the server is not verified
  kRequired,        // TLS or no connection; the server is not verified
  kVerifyCa,        // as kRequired, and the server's certificate chains to ssl-ca
  kVerifyIdentity,  // as kVerifyCa, and the certificate names the host the URI connects to
};

// "DISABLED", "PREFERRED", ... as written in the URI.
absl::string_view MysqlSslModeName(MysqlSslMode mode);

struct MysqlTls {
  // Without ssl-mode in the URI: plaintext, as before TLS support existed (see BUILD_NOTES).
  MysqlSslMode mode = MysqlSslMode::kDisabled;
  std::string ca_file;    // ssl-ca: PEM CA certificate(s) that verify the server
  std::string cert_file;  // ssl-cert: PEM client certificate (for users created REQUIRE X509)
  std::string key_file;   // ssl-key: its private key
};

struct MysqlHost {
  std::string host = "127.0.0.1";
  int port = 3306;

  friend bool operator==(const MysqlHost& a, const MysqlHost& b) {
    return a.host == b.host && a.port == b.port;
  }
};

struct MysqlEndpoint {
  // Where the database answers, in order of preference: one server, or the nodes of a cluster
  // whose every node is writable (Galera). Never empty.
  std::vector<MysqlHost> hosts = {MysqlHost{}};
  std::string socket;  // when set, used instead of the hosts
  std::string user;
  std::string password;
  std::string database;
  MysqlTls tls;

  // "user@host:port[,host:port…]/database", "user@unix:/path/database", with
  // "?ssl-mode=MODE" appended when TLS is on: for logs, never the password.
  std::string Describe() const;
};

// Parses `uri`. User, password, database and the query's paths are percent-decoded; ssl-mode
// is case-insensitive. INVALID_ARGUMENT with a message naming the part or parameter at fault
// (never echoing the password) when the URI is malformed, names an unknown or repeated
// parameter, or combines parameters that contradict each other: ssl-ca/ssl-cert/ssl-key
// without an ssl-mode or with DISABLED, VERIFY_* without ssl-ca, ssl-ca with a mode that does
// not verify the server, ssl-cert without ssl-key (or the reverse), TLS with a unix socket.
absl::StatusOr<MysqlEndpoint> ParseMysqlUri(absl::string_view uri);

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_URI_H_
