#include "storage/mysql_uri.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

constexpr std::pair<absl::string_view, MysqlSslMode> kSslModes[] = {
    {"DISABLED", MysqlSslMode::kDisabled},
    {"PREFERRED", MysqlSslMode::kPreferred},
    {"REQUIRED", MysqlSslMode::kRequired},
    {"VERIFY_CA", MysqlSslMode::kVerifyCa},
    {"VERIFY_IDENTITY", MysqlSslMode::kVerifyIdentity},
};

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

// "user[:password]"; the password may be empty or absent (it can come from a file instead).
absl::Status ParseUserInfo(absl::string_view userinfo, MysqlEndpoint& ep) {
  absl::string_view user = userinfo, password;
  if (size_t colon = userinfo.find(':'); colon != absl::string_view::npos) {
    user = userinfo.substr(0, colon);
    password = userinfo.substr(colon + 1);
  }
  ASSIGN_OR_RETURN(ep.user, PercentDecode(user, "user"));
  ASSIGN_OR_RETURN(ep.password, PercentDecode(password, "password"));
  return absl::OkStatus();
}

// "host[:port]", either part optional.
absl::StatusOr<MysqlHost> ParseHostPort(absl::string_view hostport) {
  MysqlHost out;
  if (size_t colon = hostport.rfind(':'); colon != absl::string_view::npos &&
                                          hostport.find(']') == absl::string_view::npos) {
    if (!absl::SimpleAtoi(hostport.substr(colon + 1), &out.port) || out.port <= 0 ||
        out.port > 65535) {
      return absl::InvalidArgumentError("mysql_uri: the port is not a number in 1..65535");
    }
    hostport = hostport.substr(0, colon);
  }
  if (!hostport.empty()) out.host = std::string(hostport);
  return out;
}

// "host[:port][,host[:port]…]": the nodes of a cluster, in order of preference.
absl::Status ParseHosts(absl::string_view hosts, MysqlEndpoint& ep) {
  ep.hosts.clear();
  if (!absl::StrContains(hosts, ',')) {
    ASSIGN_OR_RETURN(MysqlHost only, ParseHostPort(hosts));
    ep.hosts.push_back(std::move(only));
    return absl::OkStatus();
  }
  for (absl::string_view hostport : absl::StrSplit(hosts, ',')) {
    if (hostport.empty()) {
      return absl::InvalidArgumentError("mysql_uri: an empty host in the host list (h1,,h2)");
    }
    ASSIGN_OR_RETURN(MysqlHost host, ParseHostPort(hostport));
    for (const MysqlHost& earlier : ep.hosts) {
      if (earlier == host) {
        return absl::InvalidArgumentError(absl::StrCat(
            "mysql_uri: ", host.host, ":", host.port, " appears twice in the host list"));
      }
    }
    ep.hosts.push_back(std::move(host));
  }
  return absl::OkStatus();
}

absl::StatusOr<MysqlSslMode> ParseSslMode(absl::string_view value) {
  for (const auto& [name, mode] : kSslModes) {
    if (absl::EqualsIgnoreCase(value, name)) return mode;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "mysql_uri: ssl-mode '", value,
      "' is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"));
}

// "name=value&name=value". Sets *ssl_mode_given when ssl-mode appears.
absl::Status ParseQuery(absl::string_view query, MysqlEndpoint& ep, bool* ssl_mode_given) {
  absl::flat_hash_set<absl::string_view> seen;
  for (absl::string_view kv : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> p =
        absl::StrSplit(kv, absl::MaxSplits('=', 1));
    const absl::string_view name = p.first;
    std::string* path = nullptr;
    if (name == "socket") {
      path = &ep.socket;
    } else if (name == "ssl-ca") {
      path = &ep.tls.ca_file;
    } else if (name == "ssl-cert") {
      path = &ep.tls.cert_file;
    } else if (name == "ssl-key") {
      path = &ep.tls.key_file;
    } else if (name != "ssl-mode") {
      return absl::InvalidArgumentError(
          absl::StrCat("mysql_uri: unknown parameter '", name,
                       "' (supported: socket, ssl-mode, ssl-ca, ssl-cert, ssl-key)"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("mysql_uri: parameter '", name, "' is given twice"));
    }
    if (p.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mysql_uri: parameter '", name, "' has no value"));
    }
    if (path == nullptr) {
      ASSIGN_OR_RETURN(ep.tls.mode, ParseSslMode(p.second));
      *ssl_mode_given = true;
    } else {
      ASSIGN_OR_RETURN(*path, PercentDecode(p.second, name));
    }
  }
  return absl::OkStatus();
}

// Refuses combinations whose intent is unclear, rather than guessing (MySQL's clients, for
// one, silently turn a lone --ssl-ca into VERIFY_CA).
absl::Status CheckTlsConsistency(const MysqlEndpoint& ep, bool ssl_mode_given) {
  const MysqlTls& tls = ep.tls;
  const absl::string_view mode = MysqlSslModeName(tls.mode);
  const absl::string_view first_file = !tls.ca_file.empty()     ? "ssl-ca"
                                       : !tls.cert_file.empty() ? "ssl-cert"
                                       : !tls.key_file.empty()  ? "ssl-key"
                                                                : "";
  if (!first_file.empty() && !ssl_mode_given) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mysql_uri: ", first_file,
        " needs an ssl-mode (PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY)"));
  }
  if (!first_file.empty() && tls.mode == MysqlSslMode::kDisabled) {
    return absl::InvalidArgumentError(
        absl::StrCat("mysql_uri: ", first_file, " contradicts ssl-mode=DISABLED"));
  }
  const bool verifies = tls.mode == MysqlSslMode::kVerifyCa ||
                        tls.mode == MysqlSslMode::kVerifyIdentity;
  if (verifies && tls.ca_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mysql_uri: ssl-mode=", mode,
                     " needs ssl-ca (the CA certificate that signed the server's certificate)"));
  }
  if (!verifies && !tls.ca_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("mysql_uri: ssl-ca is only used by ssl-mode=VERIFY_CA or VERIFY_IDENTITY; "
                     "ssl-mode=",
                     mode, " does not verify the server"));
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(tls.key_file.empty()
                                          ? "mysql_uri: ssl-cert needs ssl-key (its private key)"
                                          : "mysql_uri: ssl-key needs ssl-cert (its certificate)");
  }
  if (!ep.socket.empty() && tls.mode != MysqlSslMode::kDisabled) {
    return absl::InvalidArgumentError(
        absl::StrCat("mysql_uri: ssl-mode=", mode,
                     " needs a TCP host:port; a unix socket (socket=) stays on this machine "
                     "and is not encrypted"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view MysqlSslModeName(MysqlSslMode mode) {
  for (const auto& [name, m] : kSslModes) {
    if (m == mode) return name;
  }
  return "UNKNOWN";
}

std::string MysqlEndpoint::Describe() const {
  std::string out;
  if (socket.empty()) {
    out = absl::StrCat(user, "@",
                       absl::StrJoin(hosts, ",",
                                     [](std::string* to, const MysqlHost& h) {
                                       absl::StrAppend(to, h.host, ":", h.port);
                                     }),
                       "/", database);
  } else {
    out = absl::StrCat(user, "@unix:", socket, "/", database);
  }
  if (tls.mode != MysqlSslMode::kDisabled) {
    absl::StrAppend(&out, "?ssl-mode=", MysqlSslModeName(tls.mode));
  }
  return out;
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
  if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    RETURN_IF_ERROR(ParseUserInfo(rest.substr(0, at), ep));
    rest = rest.substr(at + 1);
  }
  if (ep.user.empty()) return absl::InvalidArgumentError("mysql_uri: the user is missing");
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || slash + 1 >= rest.size()) {
    return absl::InvalidArgumentError("mysql_uri: the database name is missing (…/database)");
  }
  ASSIGN_OR_RETURN(ep.database, PercentDecode(rest.substr(slash + 1), "database"));
  RETURN_IF_ERROR(ParseHosts(rest.substr(0, slash), ep));
  bool ssl_mode_given = false;
  RETURN_IF_ERROR(ParseQuery(query, ep, &ssl_mode_given));
  if (!ep.socket.empty() && ep.hosts.size() > 1) {
    return absl::InvalidArgumentError(
        "mysql_uri: socket= names one local server; it cannot go with a list of hosts");
  }
  RETURN_IF_ERROR(CheckTlsConsistency(ep, ssl_mode_given));
  return ep;
}

}  // namespace securelink::invitations
