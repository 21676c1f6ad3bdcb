// IdentityProvider over the Keycloak Admin REST API (server/http's HttpClient + nlohmann-json),
// authenticated as a confidential client's service account (OAuth 2 client credentials).
#ifndef SECURELINK_SERVER_KEYCLOAK_KEYCLOAK_ADMIN_CLIENT_H_
#define SECURELINK_SERVER_KEYCLOAK_KEYCLOAK_ADMIN_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/domain/clock.h"
#include "server/http/http_client.h"
#include "server/keycloak/identity_provider.h"

namespace securelink::invitations {

// Where Keycloak is and how to authenticate to it, with the resource limits of each request.
struct KeycloakAdminOptions {
  // Scheme, host, port and any path prefix in front of /admin and /realms, e.g.
  // "https://sso.example.com" (Keycloak >= 17) or "https://sso.example.com/auth" (older, or
  // --http-relative-path=/auth). A trailing '/' is ignored. Only http and https are accepted.
  std::string base_url;
  // The realm the users live in; the service-account client must be in the same realm.
  std::string realm = "securelink";
  std::string client_id = "securelink-invitations";
  std::string client_secret;  // never logged, never in an error message
  // TCP (+TLS) connect timeout of each HTTP request.
  absl::Duration connect_timeout = absl::Seconds(3);
  // Whole-request timeout of each HTTP request. One IdentityProvider call makes up to four
  // requests (token, call, token refresh after a 401, retry).
  absl::Duration request_timeout = absl::Seconds(10);
  // A cached token is replaced this long before Keycloak says it expires (capped at half its
  // lifetime, so that very short lifetimes still get cached).
  absl::Duration token_refresh_margin = absl::Seconds(30);
  // PEM bundle to verify Keycloak's TLS certificate with; empty: the system's CA store.
  std::string ca_file;
  // Responses larger than this are refused (INTERNAL) rather than buffered.
  size_t max_response_bytes = 4 << 20;
  // Connections to Keycloak kept open between requests, so the five to nine requests of one
  // accept share one TCP and TLS handshake. About the number of threads that call at once.
  size_t max_idle_connections = 4;
};

// Thread-safe: requests go through one HttpClient (a pool of kept-alive connections); the cached
// token is guarded by a mutex, and at most one token request is in flight at a time (threads
// that need a new token wait for it instead of each fetching their own).
//
// Tokens: fetched lazily on the first call with POST {base}/realms/{realm}/protocol/openid-
// connect/token (grant_type=client_credentials, client_id and client_secret in the form body),
// reused until `token_refresh_margin` before `expires_in`, and fetched anew (once) when Keycloak
// answers 401 to an admin call, after which that call is retried once.
class KeycloakAdminClient final : public IdentityProvider {
 public:
  // Validates `options` (INVALID_ARGUMENT naming the bad option) and makes its libcurl client
  // (FAILED_PRECONDITION if libcurl cannot be initialised). Makes no network request. `clock`
  // (default: the system clock) drives token expiry and must outlive the client.
  static absl::StatusOr<std::unique_ptr<KeycloakAdminClient>> Create(
      KeycloakAdminOptions options, const Clock* clock = nullptr);

  KeycloakAdminClient(const KeycloakAdminClient&) = delete;
  KeycloakAdminClient& operator=(const KeycloakAdminClient&) = delete;
  ~KeycloakAdminClient() override;

  // IdentityProvider (contracts in identity_provider.h).
  absl::StatusOr<std::optional<ExistingUser>> FindUserByInvitation(
      absl::string_view invitation_id) override;
  absl::StatusOr<std::optional<ExistingUser>> FindUserByEmail(absl::string_view email) override;
  absl::StatusOr<std::string> CreateUser(const NewUser& user) override;
  absl::Status VerifyAttributes(absl::string_view user_id, const NewUser& expected) override;
  absl::Status AssignRealmRole(absl::string_view user_id, absl::string_view role_name) override;
  absl::StatusOr<ExistingUser> GetUser(absl::string_view user_id) override;
  absl::Status UpdateUser(absl::string_view user_id, const UserChanges& changes) override;
  absl::Status SetPassword(absl::string_view user_id, absl::string_view password) override;
  absl::Status DeleteUser(absl::string_view user_id) override;

  // A startup check an operator can act on: obtains a token, looks up each of `role_names`, and
  // reads the realm's user profile (GET /admin/realms/{realm}/users/profile) to confirm that
  // tenant_id and invitation_id are declared (or that unmanaged attributes are admin-editable).
  // Returns the first problem found (FAILED_PRECONDITION / UNAVAILABLE as for the other calls);
  // a Keycloak without that endpoint (< 24) skips the profile check.
  absl::Status CheckReadiness(const std::vector<std::string>& role_names);

 private:
  struct CachedToken {
    std::string access_token;
    absl::Time refresh_at = absl::InfinitePast();
  };
  using HttpResponse = http::HttpResponse;

  KeycloakAdminClient(KeycloakAdminOptions options, const Clock* clock,
                      std::unique_ptr<http::HttpClient> http);

  // One HTTP exchange; `what` ("POST /admin/realms/x/users", never a query) names it in errors.
  // Transport failures only (UNAVAILABLE, or INTERNAL for an oversized answer); any HTTP status
  // is a response.
  absl::StatusOr<HttpResponse> Perform(const http::HttpRequest& request,
                                       absl::string_view what) const;

  // An admin call with the service-account token: on 401, one token refresh and one retry.
  // `path` starts with "/" and is relative to {base}/admin/realms/{realm}.
  absl::StatusOr<HttpResponse> AdminCall(absl::string_view method, absl::string_view path,
                                         absl::string_view query, std::string body);

  // The cached token unless it is due for refresh or equals `rejected`; else a new one.
  absl::StatusOr<std::string> AccessToken(absl::string_view rejected)
      ABSL_LOCKS_EXCLUDED(mu_, fetch_mu_);
  bool CachedTokenUsable(absl::string_view rejected) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<CachedToken> FetchToken() const;

  // GET users with `query`, parsed.
  absl::StatusOr<std::vector<ExistingUser>> ListUsers(std::string query);

  // Turns any non-2xx response into a status, with Keycloak's message (the ONE mapping from
  // Keycloak HTTP answers to canonical codes). `action` names the operation for the message.
  absl::Status ErrorFromResponse(const HttpResponse& response, absl::string_view action) const;

  // Removes the client secret (and `password`, when given) from a status message.
  absl::Status Scrub(absl::Status status, absl::string_view password = {}) const;

  const KeycloakAdminOptions options_;
  const Clock* const clock_;
  const std::string admin_base_;  // {base}/admin/realms/{realm}
  const std::string token_url_;   // {base}/realms/{realm}/protocol/openid-connect/token
  const std::unique_ptr<http::HttpClient> http_;

  // fetch_mu_ serialises token requests; mu_ guards the cache and is never held across I/O.
  absl::Mutex fetch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  CachedToken token_ ABSL_GUARDED_BY(mu_);
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_KEYCLOAK_KEYCLOAK_ADMIN_CLIENT_H_
