#include "server/authenticator.h"

#include "server/util/log.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {

absl::StatusOr<Principal> Authenticator::Authenticate(absl::string_view authorization) const {
  if (verifier_ == nullptr) return AuthDisabledPrincipal();
  ASSIGN_OR_RETURN(absl::string_view token, BearerToken(authorization));
  ASSIGN_OR_RETURN(VerifiedToken verified, verifier_->Verify(token));
  return PrincipalFrom(verified, roles_);
}

absl::StatusOr<Authenticator> MakeAuthenticator(const AuthOptions& options, const Clock& clock) {
  if (!options.enabled) {
    Log(LogLevel::kWarning,
        "AUTHENTICATION IS DISABLED (--auth=disabled): every caller is a SuperAdmin; never run "
        "like this outside a local experiment");
    return Authenticator::Disabled();
  }
  std::shared_ptr<KeySource> keys;
  if (!options.public_key_file.empty()) {
    ASSIGN_OR_RETURN(keys, PemKeySource::FromFile(options.public_key_file));
  } else {
    auto jwks = std::make_shared<JwksKeySource>(options.jwks, clock);
    if (absl::Status s = jwks->Refresh(); !s.ok()) {
      Log(LogLevel::kWarning, "cannot fetch the JWKS yet; will retry on demand",
          {{"error", std::string(s.message())}});
    }
    keys = std::move(jwks);
  }
  return Authenticator(std::make_shared<JwtVerifier>(std::move(keys), options.jwt, clock),
                       options.roles);
}

}  // namespace securelink::invitations
