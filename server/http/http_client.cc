#include "server/http/http_client.h"

#include "absl/strings/ascii.h"

namespace securelink::invitations::http {

std::string HttpResponse::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? "" : it->second;
}

}  // namespace securelink::invitations::http
