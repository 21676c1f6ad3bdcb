// Turns the `authorization` metadata of an admin call into a Principal (SPEC §6): an RS256 JWT
// verified by server/auth, its realm roles mapped to a caller kind. Knows nothing of gRPC.
#ifndef SECURELINK_SERVER_AUTHENTICATOR_H_
#define SECURELINK_SERVER_AUTHENTICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/authorization.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/clock.h"

namespace securelink::invitations {

// Who may call (SPEC §6): bearer JWTs checked against a PEM key or a JWKS URL, or nobody
// checked at all (an explicit choice for local experiments).
struct AuthOptions {
  bool enabled = true;
  JwtOptions jwt;               // issuer, audience (both required when enabled), leeway
  std::string public_key_file;  // exactly one of this and jwks.url when enabled
  JwksOptions jwks;
  RoleNames roles;
};

class Authenticator {
 public:
  // Verifies bearer tokens with `verifier`.
  Authenticator(std::shared_ptr<JwtVerifier> verifier, RoleNames roles)
      : verifier_(std::move(verifier)), roles_(std::move(roles)) {}
  // Authentication turned off (--auth=disabled): every caller is a SuperAdmin.
  static Authenticator Disabled() { return Authenticator(nullptr, RoleNames()); }

  // The caller behind `authorization` ("Bearer <jwt>", empty when absent). UNAUTHENTICATED for a
  // missing, malformed, expired or forged token; UNAVAILABLE when the keys cannot be fetched.
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization) const;

  bool enabled() const { return verifier_ != nullptr; }

 private:
  std::shared_ptr<JwtVerifier> verifier_;
  RoleNames roles_;
};

// The authenticator `options` describe. With JWKS the keys are fetched once now (a failure is
// logged and retried on demand); disabled authentication logs a warning. INVALID_ARGUMENT when
// the PEM key file is unusable.
absl::StatusOr<Authenticator> MakeAuthenticator(const AuthOptions& options, const Clock& clock);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_AUTHENTICATOR_H_
