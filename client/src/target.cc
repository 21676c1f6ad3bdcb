#include "target.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace securelink::invitations::client::internal {
namespace {

bool IsLoopbackIpv4(absl::string_view text) {
  const std::string address(text);
  in_addr parsed;
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) return false;
  return (ntohl(parsed.s_addr) >> 24) == 127;
}

bool IsLoopbackIpv6(absl::string_view text) {
  const std::string address(text);
  in6_addr parsed;
  if (inet_pton(AF_INET6, address.c_str(), &parsed) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&parsed)) return true;
  return IN6_IS_ADDR_V4MAPPED(&parsed) && parsed.s6_addr[12] == 127;
}

// The host of "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal; empty when
// malformed (no host, a port that is not a number, text after the closing bracket).
absl::string_view HostOf(absl::string_view hostport) {
  absl::string_view host = hostport;
  absl::string_view port;
  bool has_port = false;
  if (absl::ConsumePrefix(&hostport, "[")) {
    const size_t close = hostport.find(']');
    if (close == absl::string_view::npos) return {};
    host = hostport.substr(0, close);
    absl::string_view rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (!absl::ConsumePrefix(&rest, ":")) return {};
      port = rest;
      has_port = true;
    }
  } else if (std::count(hostport.begin(), hostport.end(), ':') == 1) {
    const size_t colon = hostport.find(':');
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
    has_port = true;
  }
  if (has_port && (port.empty() || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit))) {
    return {};
  }
  return host;
}

enum class Hosts { kIpv4Literals, kIpv6Literals, kLiteralsOrLocalhost, kLiterals };

bool IsLoopbackHostPort(absl::string_view hostport, Hosts accepted) {
  const absl::string_view host = HostOf(hostport);
  if (host.empty()) return false;
  switch (accepted) {
    case Hosts::kIpv4Literals:
      return IsLoopbackIpv4(host);
    case Hosts::kIpv6Literals:
      return IsLoopbackIpv6(host);
    case Hosts::kLiteralsOrLocalhost:
      if (absl::EqualsIgnoreCase(host, "localhost")) return true;
      [[fallthrough]];
    case Hosts::kLiterals:
      return IsLoopbackIpv4(host) || IsLoopbackIpv6(host);
  }
  return false;
}

// Splits what follows "scheme:" into authority and path, the way gRPC's URI parser does, and
// drops the path's leading "/" as gRPC's resolvers do ("dns:///h:1" has the path "h:1").
absl::string_view PathOf(absl::string_view rest, absl::string_view* authority) {
  *authority = {};
  if (absl::ConsumePrefix(&rest, "//")) {
    const size_t slash = rest.find('/');
    *authority = rest.substr(0, slash);
    rest = slash == absl::string_view::npos ? absl::string_view() : rest.substr(slash);
  }
  absl::ConsumePrefix(&rest, "/");
  return rest;
}

// An "ipv4:" or "ipv6:" address list: loopback only when every entry is.
bool IsLoopbackList(absl::string_view rest, Hosts accepted) {
  absl::string_view authority;
  const absl::string_view path = PathOf(rest, &authority);
  if (path.empty()) return false;
  for (absl::string_view entry : absl::StrSplit(path, ',')) {
    if (!IsLoopbackHostPort(entry, accepted)) return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackTarget(absl::string_view target) {
  absl::string_view rest = target;
  if (absl::ConsumePrefix(&rest, "unix:") || absl::ConsumePrefix(&rest, "unix-abstract:")) {
    return !rest.empty();
  }
  if (absl::ConsumePrefix(&rest, "ipv4:")) return IsLoopbackList(rest, Hosts::kIpv4Literals);
  if (absl::ConsumePrefix(&rest, "ipv6:")) return IsLoopbackList(rest, Hosts::kIpv6Literals);
  if (absl::ConsumePrefix(&rest, "dns:")) {
    absl::string_view authority;
    const absl::string_view path = PathOf(rest, &authority);
    // A DNS server named in the authority answers for names, /etc/hosts does not.
    return IsLoopbackHostPort(
        path, authority.empty() ? Hosts::kLiteralsOrLocalhost : Hosts::kLiterals);
  }
  // gRPC reads a target without a scheme it knows (e.g. "localhost:50051") as dns:///target.
  return IsLoopbackHostPort(target, Hosts::kLiteralsOrLocalhost);
}

std::optional<std::string> PlaintextTokenWarning(const ClientOptions& options) {
  if ((options.bearer_token.empty() && !options.token_source) || options.credentials != nullptr ||
      options.channel != nullptr || IsLoopbackTarget(options.target)) {
    return std::nullopt;
  }
  return absl::StrCat("the bearer token is sent without TLS to \"",
                      absl::CHexEscape(options.target),
                      "\", which is not a loopback address: anyone on the network path can read "
                      "it and use it until it expires; use TLS");
}

}  // namespace securelink::invitations::client::internal
