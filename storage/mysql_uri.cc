#include "storage/mysql_uri.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace securelink::invitations {
namespace {

absl::StatusOr<std::string> PercentDecode(absl::string_view in, absl::string_view part) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= in.size() ||
        !absl::SimpleHexAtoi(in.substr(i + 1, 2), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mysql_uri: bad percent-escape in the ", part));
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

}  // namespace

std::string MysqlEndpoint::Describe() const {
  if (!socket.empty()) return absl::StrCat(user, "@unix:", socket, "/", database);
  return absl::StrCat(user, "@", host, ":", port, "/", database);
}

absl::StatusOr<MysqlEndpoint> ParseMysqlUri(absl::string_view uri) {
  constexpr absl::string_view kScheme = "mysql://";
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(
        "mysql_uri: must look like mysql://user:password@host:port/database");
  }
  absl::string_view rest = uri.substr(kScheme.size());
  absl::string_view query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  MysqlEndpoint ep;
  size_t at = rest.rfind('@');
  if (at != absl::string_view::npos) {
    absl::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    absl::string_view user = userinfo, password;
    if (size_t colon = userinfo.find(':'); colon != absl::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
    }
    auto u = PercentDecode(user, "user");
    if (!u.ok()) return u.status();
    auto p = PercentDecode(password, "password");
    if (!p.ok()) return p.status();
    ep.user = *u;
    ep.password = *p;
  }
  if (ep.user.empty()) return absl::InvalidArgumentError("mysql_uri: the user is missing");
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || slash + 1 >= rest.size()) {
    return absl::InvalidArgumentError("mysql_uri: the database name is missing (…/database)");
  }
  auto db = PercentDecode(rest.substr(slash + 1), "database");
  if (!db.ok()) return db.status();
  ep.database = *db;
  absl::string_view hostport = rest.substr(0, slash);
  if (size_t colon = hostport.rfind(':'); colon != absl::string_view::npos &&
                                          hostport.find(']') == absl::string_view::npos) {
    if (!absl::SimpleAtoi(hostport.substr(colon + 1), &ep.port) || ep.port <= 0 ||
        ep.port > 65535) {
      return absl::InvalidArgumentError("mysql_uri: the port is not a number in 1..65535");
    }
    hostport = hostport.substr(0, colon);
  }
  if (!hostport.empty()) ep.host = std::string(hostport);
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (p.first == "socket") {
      auto s = PercentDecode(p.second, "socket");
      if (!s.ok()) return s.status();
      ep.socket = *s;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("mysql_uri: unknown parameter '", p.first, "' (supported: socket)"));
    }
  }
  return ep;
}

}  // namespace securelink::invitations
