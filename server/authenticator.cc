#include "server/authenticator.h"

#include "server/util/status_macros.h"

namespace securelink::invitations {

absl::StatusOr<Principal> Authenticator::Authenticate(absl::string_view authorization) const {
  if (verifier_ == nullptr) return AuthDisabledPrincipal();
  ASSIGN_OR_RETURN(absl::string_view token, BearerToken(authorization));
  ASSIGN_OR_RETURN(VerifiedToken verified, verifier_->Verify(token));
  return PrincipalFrom(verified, roles_);
}

}  // namespace securelink::invitations
