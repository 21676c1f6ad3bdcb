// Strict base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2). domain/token.h has the encoder
// and a lenient decoder (absl's, which also accepts padding); verifying tokens wants exactly one
// accepted spelling of each byte string, so signature checks cannot be sidestepped by re-encoding.
#ifndef SECURELINK_SERVER_AUTH_BASE64URL_H_
#define SECURELINK_SERVER_AUTH_BASE64URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

// Decodes unpadded base64url strictly: only [A-Za-z0-9_-], no '=' (unless `allow_padding`, for
// JWKS documents written by lenient tools), no whitespace, a length that is not 1 mod 4, and zero
// unused trailing bits (so every byte string has exactly one accepted encoding).
// INVALID_ARGUMENT otherwise; the message never repeats the input.
absl::StatusOr<std::string> Base64UrlDecodeStrict(absl::string_view encoded,
                                                  bool allow_padding = false);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_AUTH_BASE64URL_H_
