// Test-side JWT minting: RSA keys generated in-process, PEM/certificate/JWK renderings of them,
// and compact JWS tokens signed (or deliberately mis-signed) the way an attacker or an IdP would.
#ifndef SECURELINK_TESTS_AUTH_JWT_TEST_KEYS_H_
#define SECURELINK_TESTS_AUTH_JWT_TEST_KEYS_H_

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace securelink::testing {

using Json = nlohmann::json;

// A fresh RSA key pair of `bits` bits.
std::shared_ptr<EVP_PKEY> GenerateRsaKey(int bits = 2048);
// A fresh EC P-256 key pair (an unusable key type for RS256).
std::shared_ptr<EVP_PKEY> GenerateEcKey();

// "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo) of `key`.
std::string PublicKeyPem(EVP_PKEY* key);
// The DER SubjectPublicKeyInfo of `key`.
std::string PublicKeyDer(EVP_PKEY* key);
// A self-signed X.509 certificate for `key`, PEM.
std::string SelfSignedCertificatePem(EVP_PKEY* key);
// The public JWK of an RSA `key`: {"kty":"RSA","kid":kid,"use":"sig","alg":"RS256","n":..,"e":..}.
Json PublicJwk(EVP_PKEY* key, absl::string_view kid);

// Unpadded base64url of `data`.
std::string B64(absl::string_view data);
// B64 of the compact JSON text of `value`.
std::string B64Json(const Json& value);

// "B64(header).B64(payload).B64(RSASSA-PKCS1-v1_5-SHA256 signature)".
std::string SignRs256(const Json& header, const Json& payload, EVP_PKEY* key);
// The same with an HMAC-SHA256 signature keyed by `secret`.
std::string SignHs256(const Json& header, const Json& payload, absl::string_view secret);
// The RS256 signature of `signing_input` as raw bytes.
std::string RawRs256Signature(absl::string_view signing_input, EVP_PKEY* key);

// Claims of a token Keycloak would issue to a SuperAdmin of tenant "acme" at `now`, valid for
// five minutes: iss "https://idp.test/realms/securelink", aud "securelink-invitations".
inline constexpr char kIssuer[] = "https://idp.test/realms/securelink";
inline constexpr char kAudience[] = "securelink-invitations";
Json KeycloakClaims(absl::Time now);

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_AUTH_JWT_TEST_KEYS_H_
