// Runs tests/keycloak/keycloak_standin.py (a local stand-in for Keycloak's token endpoint and
// Admin REST API) as a child process on a free 127.0.0.1 port, and drives its test control API.
#ifndef SECURELINK_TESTS_KEYCLOAK_KEYCLOAK_STANDIN_H_
#define SECURELINK_TESTS_KEYCLOAK_KEYCLOAK_STANDIN_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

#ifndef KEYCLOAK_STANDIN_DEFAULT_REALM_FILE
#error "KEYCLOAK_STANDIN_DEFAULT_REALM_FILE must name deploy/keycloak/realm-securelink.json"
#endif

namespace securelink::testing {

// The stand-in's configuration. It serves the realm of `realm_file` (the export deploy/ ships);
// each field below that is set overrides that part of it.
struct KeycloakStandinOptions {
  // A realm export; empty: a bare realm with the stand-in's built-in defaults.
  std::string realm_file = KEYCLOAK_STANDIN_DEFAULT_REALM_FILE;
  // The export's values, passed on so that callers can read them from options().
  std::string realm = "securelink";
  std::string client_id = "securelink-invitations";
  // The export's secret is an environment placeholder: the tests set their own.
  std::string client_secret = "standin-secret";
  // Custom user attributes the realm's user profile declares (those the export declares keep
  // their validations); others are silently dropped. Empty: the export's.
  std::vector<std::string> declared_attributes;
  // Realm roles. Empty: the export's.
  std::vector<std::string> roles;
  // Keycloak password policy string, e.g. "length(12) and digits(1)". Empty: the export's.
  std::string password_policy;
  // Lifetime of issued access tokens (Keycloak's accessTokenLifespan), in seconds.
  int token_lifetime_seconds = 300;
  // Anything else for keycloak_standin.py, e.g. {"--verbose"}.
  std::vector<std::string> extra_args;
};

// Owns the stand-in process and a state file in a temporary directory (so that StartAgain()
// keeps users and tokens, as Keycloak's database would).
//
// Lifetime: the process gets PR_SET_PDEATHSIG(SIGKILL), which the kernel sends when the *thread*
// that forked it exits: call Start() and StartAgain() from a thread that outlives the stand-in
// (the test's main thread), never from a short-lived helper thread.
//
// Thread safety: the control-API methods may be called from any thread; Start/Stop/StartAgain and
// the destructor must not race with each other.
class KeycloakStandin {
 public:
  // Starts /usr/bin/python3 keycloak_standin.py --port 0 and waits (up to ~20 s) for its
  // "LISTENING <port>" line. INTERNAL with the process's exit status if it does not get there.
  static absl::StatusOr<std::unique_ptr<KeycloakStandin>> Start(
      KeycloakStandinOptions options = {});

  KeycloakStandin(const KeycloakStandin&) = delete;
  KeycloakStandin& operator=(const KeycloakStandin&) = delete;

  // Kills the process (SIGTERM, then SIGKILL) and removes the temporary directory.
  ~KeycloakStandin();

  int port() const { return port_; }
  // "http://127.0.0.1:<port>": what KeycloakAdminOptions::base_url takes.
  std::string base_url() const;
  const KeycloakStandinOptions& options() const { return options_; }

  // One HTTP exchange with the stand-in (for tests of Keycloak's API shapes themselves).
  struct Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-cased names
    nlohmann::json Json() const;  // discarded value if the body is not JSON
  };
  absl::StatusOr<Response> Http(absl::string_view method, absl::string_view path_and_query,
                                absl::string_view body = {},
                                absl::string_view content_type = "application/json",
                                const std::vector<std::string>& headers = {}) const;

  // A service-account access token from the token endpoint (client credentials).
  absl::StatusOr<std::string> ServiceAccountToken() const;

  // Control API (see keycloak_standin.py): queue a fault ({"fail_next": 1, "status": 503},
  // {"delay_ms": 2000}, {"hold": true, "count": 1}, {"drop_attributes": true}, ...), clear them
  // all (which also releases held requests), revoke every token,
  // change configuration at run time, forget everything.
  absl::Status InjectFault(const nlohmann::json& fault) const;
  absl::Status ClearFaults() const;
  absl::Status RevokeTokens() const;
  absl::Status Configure(const nlohmann::json& changes) const;
  absl::Status Reset() const;

  // Held requests ({"hold": true, ...} faults): how many wait right now, and letting every one
  // of them go on. -1 if the count cannot be read.
  long HeldRequests() const;
  absl::Status ReleaseHeld() const;

  // Inspection: every user (with credentials' type and realm role names), the counters
  // (token_requests, tokens_issued, token_failures, admin_requests, unauthorized, forbidden,
  // active_tokens, connections: the TCP connections that carried token or admin requests) and
  // the request log ([{method, path, status}]).
  absl::StatusOr<nlohmann::json> Users() const;
  absl::StatusOr<nlohmann::json> Stats() const;
  absl::StatusOr<nlohmann::json> Requests() const;
  // A single counter of Stats(); -1 if it cannot be read.
  long Stat(absl::string_view name) const;

  // Stops the process (SIGTERM; SIGKILL after ~5 s) as a Keycloak outage would: connections are
  // then refused. OK if it was not running.
  absl::Status Stop();
  // Starts it again on the same port with the same state file. FAILED_PRECONDITION if running.
  absl::Status StartAgain();
  bool running() const { return pid_ > 0; }

 private:
  KeycloakStandin(KeycloakStandinOptions options, std::string dir)
      : options_(std::move(options)), dir_(std::move(dir)) {}

  // Forks the stand-in on `port` (0: any) and reads its LISTENING line into port_.
  absl::Status Launch(int port);
  absl::StatusOr<nlohmann::json> GetJson(absl::string_view path) const;
  absl::Status PostJson(absl::string_view path, const nlohmann::json& body) const;

  const KeycloakStandinOptions options_;
  const std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;  // kept open so that the child never writes to a closed pipe
};

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_KEYCLOAK_KEYCLOAK_STANDIN_H_
