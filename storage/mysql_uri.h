// Parses the --mysql_uri setting: mysql://user:password@host:port/database[?socket=/path].
#ifndef SECURELINK_STORAGE_MYSQL_URI_H_
#define SECURELINK_STORAGE_MYSQL_URI_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

struct MysqlEndpoint {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string socket;  // when set, used instead of host:port
  std::string user;
  std::string password;
  std::string database;

  // "user@host:port/database" or "user@unix:/path/database": for logs, never the password.
  std::string Describe() const;
};

// Parses `uri`. User, password and database are percent-decoded. INVALID_ARGUMENT with a
// message naming the problem (never echoing the password) when malformed.
absl::StatusOr<MysqlEndpoint> ParseMysqlUri(absl::string_view uri);

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_MYSQL_URI_H_
