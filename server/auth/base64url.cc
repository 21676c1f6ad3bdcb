#include "server/auth/base64url.h"

#include <array>
#include <cstdint>

#include "absl/status/status.h"

namespace securelink::invitations {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Maps a byte to its 6-bit value, or -1 outside the base64url alphabet.
constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (size_t i = 0; i < table.size(); ++i) table[i] = -1;
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}

}  // namespace

absl::StatusOr<std::string> Base64UrlDecodeStrict(absl::string_view encoded, bool allow_padding) {
  static constexpr std::array<int8_t, 256> kTable = MakeDecodeTable();
  if (allow_padding) {
    // At most two '=' and only as many as complete the last quantum.
    size_t pad = 0;
    while (pad < 2 && !encoded.empty() && encoded.back() == '=') {
      encoded.remove_suffix(1);
      ++pad;
    }
    if (pad > 0 && (encoded.size() + pad) % 4 != 0) {
      return absl::InvalidArgumentError("base64url: bad padding");
    }
  }
  if (encoded.size() % 4 == 1) return absl::InvalidArgumentError("base64url: bad length");
  std::string out;
  out.reserve(encoded.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : encoded) {
    int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return absl::InvalidArgumentError("base64url: character outside the alphabet");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits (2 or 4) must be zero, else the encoding is not canonical.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError("base64url: non-zero trailing bits");
  }
  return out;
}

}  // namespace securelink::invitations
