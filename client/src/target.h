// What a gRPC target string says about where the client's bytes go, apart from gRPC so it can be
// tested directly: the client warns before a bearer token crosses a network in plaintext.
#ifndef SECURELINK_CLIENT_SRC_TARGET_H_
#define SECURELINK_CLIENT_SRC_TARGET_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "securelink/invitations/client.h"

namespace securelink::invitations::client::internal {

// True when every address `target` can name is on this machine: an IPv4 literal in
// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z), the name "localhost", or a unix-domain socket.
// Understands gRPC's target forms: "host:port", "[v6]:port", "dns:[//authority/]host:port",
// "ipv4:a:p[,a:p...]", "ipv6:[a]:p[,...]", "unix:path", "unix:///path", "unix-abstract:name".
// Decided from the text alone (no resolution), and false whenever in doubt: other names,
// malformed targets and unknown schemes (e.g. "xds:") count as remote, and so does "localhost"
// looked up through a DNS server named in the authority.
bool IsLoopbackTarget(absl::string_view target);

// The warning due for `options`, or nullopt: a bearer token is set, no channel or credentials
// are given (so the channel would be plaintext), and the target is not loopback. The message
// names the target and never the token.
std::optional<std::string> PlaintextTokenWarning(const ClientOptions& options);

}  // namespace securelink::invitations::client::internal

#endif  // SECURELINK_CLIENT_SRC_TARGET_H_
