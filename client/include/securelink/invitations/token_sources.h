// Where a long-running caller's bearer tokens come from (ClientOptions::token_source). Keycloak's
// access tokens live minutes; a service must present a current one on every call without
// restarting its client. Each source caches the token and is safe to call from many threads.
#ifndef SECURELINK_INVITATIONS_TOKEN_SOURCES_H_
#define SECURELINK_INVITATIONS_TOKEN_SOURCES_H_

#include <string>

#include "absl/time/time.h"
#include "securelink/invitations/client.h"

namespace securelink::invitations::client {

// The token in the file at `path` (surrounding whitespace removed), read again whenever the file
// changes (its inode, size or modification time): a token a sidecar or the platform refreshes in
// place or by renaming a new file over it (Kubernetes' projected tokens). A missing, unreadable
// or empty file fails the call with UNAUTHENTICATED naming the path.
TokenSource TokenFile(std::string path);

// OAuth 2.0 client-credentials grant (RFC 6749 §4.4) against a token endpoint such as Keycloak's
// https://HOST/realms/REALM/protocol/openid-connect/token, for a confidential client with
// service accounts enabled.
struct ClientCredentialsOptions {
  std::string token_url;
  std::string client_id;
  std::string client_secret;  // sent in the form body; never in an error or log
  std::string scope;          // optional, space-separated
  // A new token is fetched this long before the current one expires, so that a call never
  // leaves with a token about to lapse in flight; but never before half its lifetime, so that a
  // margin longer than the realm's token lifespan does not fetch a token for every call.
  absl::Duration refresh_before_expiry = absl::Seconds(30);
  // Bounds one token request.
  absl::Duration timeout = absl::Seconds(10);
  // PEM bundle to verify an https endpoint with; empty: the system's trust store.
  std::string ca_file;
};

// Fetches a token at the first call and again ahead of its expiry. When a refresh fails while the
// cached token is still valid, the cached one is used (the refresh is tried again on the next
// call); with no valid token the call fails: UNAUTHENTICATED when the endpoint refuses the client
// (HTTP 400/401), UNAVAILABLE when it cannot be reached or fails (5xx).
TokenSource ClientCredentialsToken(ClientCredentialsOptions options);

}  // namespace securelink::invitations::client

#endif  // SECURELINK_INVITATIONS_TOKEN_SOURCES_H_
