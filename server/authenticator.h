// Turns the `authorization` metadata of an admin call into a Principal (SPEC §6): an RS256 JWT
// verified by server/auth, its realm roles mapped to a caller kind. Knows nothing of gRPC.
#ifndef SECURELINK_SERVER_AUTHENTICATOR_H_
#define SECURELINK_SERVER_AUTHENTICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/authorization.h"
#include "server/auth/jwt_verifier.h"

namespace securelink::invitations {

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

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_AUTHENTICATOR_H_
