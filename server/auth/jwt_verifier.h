// Verification of the bearer JWTs Keycloak issues to admin callers (SPEC §6): RS256 only, keys
// from a PEM file or a JWKS URL, issuer / audience / expiry checked. Plain C++ over OpenSSL 3
// EVP; nothing here knows gRPC, so the interceptor that calls it stays thin.
#ifndef SECURELINK_SERVER_AUTH_JWT_VERIFIER_H_
#define SECURELINK_SERVER_AUTH_JWT_VERIFIER_H_

#include <openssl/evp.h>

#include <functional>
#include <memory>
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

namespace securelink::invitations {

// ErrorInfo reasons (domain/errors.h ReasonedError) on the statuses of this file, so a client can
// tell "log in again" (expired) from "you sent garbage" without parsing messages.
inline constexpr absl::string_view kReasonAuthTokenMissing = "AUTH_TOKEN_MISSING";
inline constexpr absl::string_view kReasonAuthTokenInvalid = "AUTH_TOKEN_INVALID";
inline constexpr absl::string_view kReasonAuthTokenExpired = "AUTH_TOKEN_EXPIRED";
inline constexpr absl::string_view kReasonAuthTokenNotYetValid = "AUTH_TOKEN_NOT_YET_VALID";
// UNAVAILABLE: the signing keys could not be fetched (JWKS endpoint down), or the cached ones
// went unrefreshed for longer than JwksOptions::max_stale allows. Retryable.
inline constexpr absl::string_view kReasonAuthKeysUnavailable = "AUTH_KEYS_UNAVAILABLE";

// What a token must satisfy besides its signature.
struct JwtOptions {
  std::string issuer;    // exact `iss`, e.g. "https://idp.example/realms/securelink"; required
  std::string audience;  // must be in `aud` (a string or an array); required
  absl::Duration leeway = absl::Seconds(30);  // clock skew allowed on exp and nbf
};

// OK, or INVALID_ARGUMENT naming the missing setting (empty issuer or audience, negative leeway).
absl::Status ValidateJwtOptions(const JwtOptions& options);

// The claims of a verified token that authorization and auditing use.
struct VerifiedToken {
  std::string subject;                   // `sub`, never empty
  std::string preferred_username;        // may be empty
  std::vector<std::string> realm_roles;  // `realm_access.roles` (string elements only)
  // `tenant_id`: a string, or an array holding exactly one string (what Keycloak's user-attribute
  // mapper emits when marked multivalued). Anything else reads as empty: no tenant.
  std::string tenant_id;
  absl::Time expires = absl::InfinitePast();  // `exp`
  // `exp` plus the verifier's leeway: from this moment on Verify refuses the token as expired,
  // so a call that outlives one authentication (a stream) must end then too.
  absl::Time accepted_until = absl::InfinitePast();
};

// Where the verifier gets the RSA public key for a token's `kid`.
class KeySource {
 public:
  virtual ~KeySource() = default;
  // The RSA public key for `kid` (empty when the token has no `kid`). NOT_FOUND if unknown;
  // UNAVAILABLE if the keys could not be obtained. Thread-safe.
  virtual absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFor(absl::string_view kid) = 0;
};

// An RSA public key (≥ 2048 bits) from PEM text: a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or
// an X.509 certificate ("BEGIN CERTIFICATE"). INVALID_ARGUMENT for anything else.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> RsaPublicKeyFromPem(absl::string_view pem);

// One key read once from a PEM file (see RsaPublicKeyFromPem); it answers every `kid`. Replacing
// the key means restarting the process.
class PemKeySource final : public KeySource {
 public:
  // INVALID_ARGUMENT if the file cannot be read or holds no usable RSA public key; the message
  // names the path.
  static absl::StatusOr<std::shared_ptr<PemKeySource>> FromFile(const std::string& path);
  explicit PemKeySource(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}

  absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFor(absl::string_view kid) override;

 private:
  std::shared_ptr<EVP_PKEY> key_;
};

// A signing key of a JWKS document.
struct Jwk {
  std::string kid;  // may be empty
  std::shared_ptr<EVP_PKEY> key;
};

// The RS256 signing keys of a JWKS document (RFC 7517): entries with kty "RSA", `use` "sig" or
// absent, `alg` "RS256" or absent, `key_ops` containing "verify" or absent, and valid base64url
// `n`/`e` of a key ≥ 2048 bits. Other entries (encryption keys, EC keys, broken entries) are
// skipped. INVALID_ARGUMENT if the document is not a JWKS or holds no usable key.
absl::StatusOr<std::vector<Jwk>> ParseJwks(absl::string_view document);

// Fetches the body of `url`; tests substitute their own to count or fake fetches.
using FetchFunction = std::function<absl::StatusOr<std::string>(const std::string& url)>;

// HTTP(S) GET of `url` through `client` (no redirects), `timeout` for the whole exchange: the
// body of a 200 answer. UNAVAILABLE, naming the URL, for anything else: a transport error,
// another status, a response over the client's size cap, a URL that is not http(s).
absl::StatusOr<std::string> HttpGet(http::HttpClient& client, const std::string& url,
                                    absl::Duration timeout);

// The same through a libcurl client made for this one request (nothing kept open afterwards),
// the response capped at 1 MiB.
absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout);

struct JwksOptions {
  std::string url;  // e.g. https://idp.example/realms/securelink/protocol/openid-connect/certs
  // Floor between two fetches, whatever triggers them: a flood of tokens with made-up kids costs
  // the IdP at most one request per interval.
  absl::Duration min_refetch_interval = absl::Seconds(30);
  // Keys are re-fetched when the cached set is older than this (at the next lookup), so a key the
  // IdP withdrew stops being trusted; until the refetch succeeds the cached keys stay in use...
  absl::Duration max_key_age = absl::Hours(1);
  // ...for at most this long (SPEC §10 --jwks_max_stale): a set fetched at T is trusted until
  // T + max_key_age + max_stale, however the refreshes due since then failed. Counting from when
  // the refresh fell due (not from the first failed attempt, which waits for traffic) bounds a
  // key's trust by the clock alone. After that, lookups are UNAVAILABLE
  // (kReasonAuthKeysUnavailable) until a fetch succeeds. InfiniteDuration() trusts the last keys
  // forever.
  absl::Duration max_stale = absl::Hours(1);
  absl::Duration fetch_timeout = absl::Seconds(5);  // for the default fetch (HttpGet)
};

// The keys of a JWKS URL, fetched lazily (the first lookup fetches) and cached. An unknown kid
// triggers a refetch (key rotation), at most once per min_refetch_interval. A lookup that fetches
// blocks for up to the fetch time; lookups of cached kids never wait for a fetch in progress.
// Thread-safe.
class JwksKeySource final : public KeySource {
 public:
  // `clock` must outlive this object. `fetch` defaults to HttpGet over a libcurl client of this
  // source's own (response capped at 1 MiB, options.fetch_timeout).
  JwksKeySource(JwksOptions options, const Clock& clock, FetchFunction fetch = nullptr);

  // The cached key for `kid`. Unknown kid (or a stale cache): refetch if the floor allows, then
  // look again. NOT_FOUND if still unknown; UNAVAILABLE (with the fetch error) if no key set could
  // be obtained, or the last fetch attempt failed and the kid is not cached; UNAVAILABLE with
  // kReasonAuthKeysUnavailable and a message naming the last successful fetch once the cached
  // set is past max_key_age + max_stale.
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFor(absl::string_view kid) override;

  // Fetches now, ignoring the floor (e.g. once at start-up to report a misconfigured URL early).
  // On success the fetched set replaces the cache; on failure the cache is kept.
  absl::Status Refresh();

 private:
  // Fetches and installs a key set. Requires fetch_mu_.
  absl::Status FetchAndInstall() ABSL_EXCLUSIVE_LOCKS_REQUIRED(fetch_mu_);
  // The key for `kid` in keys_, or nullptr; nullptr too once the set is no longer trusted at
  // `now` (TrustedUntil). An empty kid matches the only key of a one-key set.
  std::shared_ptr<EVP_PKEY> Find(absl::string_view kid, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // When the cached set stops being trusted (last success + max_key_age + max_stale).
  absl::Time TrustedUntil() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // For a kid that Find did not give: UNAVAILABLE when the cached set is too stale to trust, the
  // last fetch error (UNAVAILABLE), or NOT_FOUND.
  absl::Status UnknownKid(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whether the floor allows a fetch attempt at `now`.
  bool MayFetch(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const JwksOptions options_;
  const Clock& clock_;
  const FetchFunction fetch_;

  absl::Mutex fetch_mu_;  // serialises fetches; never held by lookups of cached kids
  mutable absl::Mutex mu_ ABSL_ACQUIRED_AFTER(fetch_mu_);
  std::vector<Jwk> keys_ ABSL_GUARDED_BY(mu_);
  absl::Time last_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;  // a fetch is in flight
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);  // of the last attempt; OK if it succeeded
};

// Verifies RS256 bearer JWTs. Thread-safe; Verify never blocks except when the KeySource fetches.
class JwtVerifier {
 public:
  // `clock` must outlive the verifier. With options that ValidateJwtOptions rejects, every token
  // is refused (fail closed); callers should validate the options at start-up.
  JwtVerifier(std::shared_ptr<KeySource> keys, JwtOptions options, const Clock& clock);

  // The claims of `bearer_token` (the compact JWS, without "Bearer "), or UNAUTHENTICATED with a
  // short reason that never repeats the token: malformed, `alg` other than RS256 (none, HS256,
  // ...), a `crit` header, unknown kid, bad signature, wrong `iss`, `aud` without the audience,
  // `exp` missing or passed (+leeway), `nbf` in the future (-leeway), `sub` missing, or a Keycloak
  // `typ` claim other than "Bearer" (an ID or refresh token). UNAVAILABLE when the signing keys
  // cannot be fetched. The statuses carry the kReasonAuth* reasons above.
  absl::StatusOr<VerifiedToken> Verify(absl::string_view bearer_token) const;

 private:
  std::shared_ptr<KeySource> keys_;
  const JwtOptions options_;
  const absl::Status options_status_;
  const Clock& clock_;
};

// The token in an `authorization` metadata value "Bearer <token>" (scheme case-insensitive, one
// or more spaces, surrounding whitespace ignored); a view into `authorization_header`.
// UNAUTHENTICATED (kReasonAuthTokenMissing) for an empty value, another scheme or no token.
absl::StatusOr<absl::string_view> BearerToken(absl::string_view authorization_header);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_AUTH_JWT_VERIFIER_H_
