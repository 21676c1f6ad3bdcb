// libFuzzer target: JWKS documents (ParseJwks) and the strict base64url decoder they and JWS use.
// Checked besides crashes: every key ParseJwks returns is usable, and a string the strict decoder
// accepts (without padding) is the one canonical encoding of what it decodes to.
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/auth/base64url.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/token.h"

namespace {

void Require(bool condition, const char* what) {
  if (!condition) {
    __builtin_printf("property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace securelink::invitations;  // NOLINT: a fuzz target, not a library
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(input);
  if (keys.ok()) {
    Require(!keys->empty(), "OK with no key");
    for (const Jwk& jwk : *keys) {
      Require(jwk.key != nullptr, "null key");
      Require(EVP_PKEY_get_bits(jwk.key.get()) >= 2048, "key shorter than 2048 bits");
    }
  } else {
    Require(keys.status().code() == absl::StatusCode::kInvalidArgument,
            "rejection is not INVALID_ARGUMENT");
  }

  absl::StatusOr<std::string> strict = Base64UrlDecodeStrict(input);
  if (strict.ok()) {
    Require(Base64UrlEncode(*strict) == input, "two encodings accepted for one byte string");
  }
  absl::StatusOr<std::string> padded = Base64UrlDecodeStrict(input, /*allow_padding=*/true);
  if (strict.ok()) Require(padded.ok() && *padded == *strict, "padding mode disagrees");
  return 0;
}
