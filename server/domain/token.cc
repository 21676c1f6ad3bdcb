#include "server/domain/token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace securelink::invitations {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

}  // namespace

std::string Base64UrlEncode(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(text, &out)) {
    return absl::InvalidArgumentError("not base64url");
  }
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  // RAND_bytes only fails when the CSPRNG cannot be seeded; continuing would mint guessable links.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();
  }
  return out;
}

std::string NewRegistrationToken() { return Base64UrlEncode(RandomBytes(kTokenBytes)); }

bool LooksLikeRegistrationToken(absl::string_view token) {
  if (token.size() != kTokenTextLength) return false;
  for (char c : token) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string HashRegistrationToken(absl::string_view token) { return Sha256(token); }

std::string NewUuid() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string hex = absl::BytesToHexString(b);
  return absl::StrFormat("%s-%s-%s-%s-%s", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                         hex.substr(16, 4), hex.substr(20, 12));
}

std::string RegistrationUrl(absl::string_view base_url, absl::string_view token) {
  return absl::StrCat(base_url, base_url.find('?') == absl::string_view::npos ? "?" : "&",
                      "token=", token);
}

std::string NewEmailMessageId() { return absl::StrCat("<", NewUuid(), "@invitations.securelink>"); }

absl::StatusOr<TokenSealer> TokenSealer::Create(absl::string_view key) {
  if (key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the sealing key must be 32 bytes, got %d", key.size()));
  }
  return TokenSealer(std::string(key), /*ephemeral=*/false);
}

TokenSealer TokenSealer::CreateEphemeral() {
  return TokenSealer(RandomBytes(32), /*ephemeral=*/true);
}

std::string TokenSealer::KeyFingerprint() const {
  // Versioned, so a future change of construction can never compare equal to this one.
  constexpr absl::string_view kLabel = "securelink token sealing key check v1";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size(), mac,
           &mac_len) == nullptr) {
    std::abort();  // only on allocation failure inside OpenSSL
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

std::string TokenSealer::Seal(absl::string_view plaintext) const {
  std::string nonce = RandomBytes(kNonceBytes);
  std::string out = nonce;
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto* cipher_out = reinterpret_cast<unsigned char*>(out.data() + kNonceBytes);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                                reinterpret_cast<const unsigned char*>(key_.data()),
                                reinterpret_cast<const unsigned char*>(nonce.data())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), cipher_out, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), cipher_out + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          cipher_out + plaintext.size()) == 1;
  if (!ok) std::abort();  // only on allocation failure inside OpenSSL
  return out;
}

absl::StatusOr<std::string> TokenSealer::Open(absl::string_view sealed) const {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError("sealed value is truncated");
  }
  size_t text_len = sealed.size() - kNonceBytes - kTagBytes;
  std::string plain(text_len, '\0');
  std::string tag(sealed.substr(kNonceBytes + text_len));
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(sealed.data())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(sealed.data() + kNonceBytes),
                        static_cast<int>(text_len)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                          &len) == 1;
  if (!ok) return absl::DataLossError("sealed value does not open with this key");
  return plain;
}

}  // namespace securelink::invitations
