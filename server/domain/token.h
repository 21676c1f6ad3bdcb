// Registration tokens (SPEC §2 "links"): 256 bits from a CSPRNG, URL-safe, stored only as a
// SHA-256 hash. A sealed (AES-256-GCM) copy lets the service hand the same link back to a
// retried CreateInvitation without ever storing the token in plain text.
#ifndef SECURELINK_SERVER_DOMAIN_TOKEN_H_
#define SECURELINK_SERVER_DOMAIN_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

inline constexpr size_t kTokenBytes = 32;       // 256 bits
inline constexpr size_t kTokenTextLength = 43;  // unpadded base64url of 32 bytes

// A fresh token: unpadded base64url of 32 bytes from OpenSSL's CSPRNG.
std::string NewRegistrationToken();

// `n` bytes from OpenSSL's CSPRNG (aborts if it cannot be seeded).
std::string RandomBytes(size_t n);

// Whether `token` has the shape of a registration token (43 base64url characters). Checking the
// shape first lets malformed input be refused without a database lookup.
bool LooksLikeRegistrationToken(absl::string_view token);

// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(absl::string_view data);

// SHA-256 of the token text, 32 raw bytes: what the database stores and looks up.
std::string HashRegistrationToken(absl::string_view token);

// A random RFC 4122 version-4 UUID in canonical lower-case form: invitation ids.
std::string NewUuid();

// The registration link for `token`: `<base_url>?token=<token>` (or `&token=` when the base URL
// already has a query).
std::string RegistrationUrl(absl::string_view base_url, absl::string_view token);

// A globally unique RFC 5322 Message-ID ("<uuid@invitations.securelink>"), fixed when an email is
// queued and kept across delivery retries so receivers can de-duplicate.
std::string NewEmailMessageId();

// Unpadded base64url helpers (RFC 4648 §5).
std::string Base64UrlEncode(absl::string_view bytes);
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);

// Encrypts and authenticates tokens with a 256-bit key (AES-256-GCM, random 96-bit nonce).
class TokenSealer {
 public:
  // `key` must be exactly 32 bytes; INVALID_ARGUMENT otherwise.
  static absl::StatusOr<TokenSealer> Create(absl::string_view key);
  // A sealer with a random key: sealed values only open in this process.
  static TokenSealer CreateEphemeral();

  // nonce || ciphertext || tag.
  std::string Seal(absl::string_view plaintext) const;
  // The plaintext, or DATA_LOSS when `sealed` was not sealed with this key or was altered.
  absl::StatusOr<std::string> Open(absl::string_view sealed) const;

  // A key check value: 64 hex digits, equal for equal keys, different (but for a 2^-256 chance)
  // for different ones, and of no use for opening or forging sealed values, so it may be stored
  // and compared where the key itself must never go. HMAC-SHA256 of a fixed label under the key;
  // not the classic "encrypt a zero block", which under GCM is the authentication subkey H.
  std::string KeyFingerprint() const;

  // Whether the key was invented by this process (CreateEphemeral) rather than configured.
  bool ephemeral() const { return ephemeral_; }

 private:
  TokenSealer(std::string key, bool ephemeral) : key_(std::move(key)), ephemeral_(ephemeral) {}
  std::string key_;
  bool ephemeral_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_TOKEN_H_
