#include "server/domain/request_id.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/domain/token.h"

namespace securelink::invitations {
namespace {

bool IsRequestIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

bool IsLowerHex(absl::string_view s, size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

bool AllZeros(absl::string_view s) { return s.find_first_not_of('0') == absl::string_view::npos; }

// version "-" trace-id "-" parent-id "-" flags, lower-case hex (W3C Trace Context §3.2). Later
// versions may append fields after the flags; version ff is invalid.
std::string TraceIdOf(absl::string_view traceparent) {
  std::vector<absl::string_view> parts = absl::StrSplit(traceparent, '-');
  if (parts.size() < 4 || !IsLowerHex(parts[0], 2) || parts[0] == "ff" ||
      !IsLowerHex(parts[1], 32) || !IsLowerHex(parts[2], 16) || !IsLowerHex(parts[3], 2) ||
      AllZeros(parts[1]) || AllZeros(parts[2])) {
    return "";
  }
  if (parts[0] == "00" && parts.size() != 4) return "";
  return std::string(parts[1]);
}

}  // namespace

std::string RequestIdFor(absl::string_view x_request_id, absl::string_view traceparent) {
  if (!x_request_id.empty() && x_request_id.size() <= kMaxXRequestIdLength) {
    bool ok = true;
    for (char c : x_request_id) ok = ok && IsRequestIdChar(c);
    if (ok) return std::string(x_request_id);
  }
  if (std::string trace_id = TraceIdOf(traceparent); !trace_id.empty()) return trace_id;
  return NewRequestId();
}

std::string NewRequestId() { return absl::BytesToHexString(RandomBytes(16)); }

}  // namespace securelink::invitations
