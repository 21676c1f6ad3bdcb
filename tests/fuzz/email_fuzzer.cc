// libFuzzer target: the email rule (server/domain/validation.h) on arbitrary bytes. Besides not
// crashing, an accepted address must already be in the normal form the rule promises, so that the
// uniqueness key "one active invitation per email" is stable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "server/domain/validation.h"

namespace {

void Require(bool condition, const char* what) {
  if (!condition) {
    __builtin_printf("property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using securelink::invitations::NormalizeEmail;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> email = NormalizeEmail(input);
  if (email.ok()) {
    Require(!email->empty(), "accepted address is empty");
    Require(email->size() <= securelink::invitations::kMaxEmailLength, "longer than 254 octets");
    Require(email->find('@') == email->rfind('@') && email->find('@') != std::string::npos,
            "not exactly one '@'");
    for (char c : *email) {
      Require(!(c >= 'A' && c <= 'Z'), "upper-case ASCII survived");
      Require(static_cast<unsigned char>(c) > 0x20 && c != 0x7f, "whitespace or control byte");
    }
    absl::StatusOr<std::string> again = NormalizeEmail(*email);
    Require(again.ok() && *again == *email, "normalisation is not idempotent");
  } else {
    Require(email.status().code() == absl::StatusCode::kInvalidArgument,
            "rejection is not INVALID_ARGUMENT");
  }
  (void)securelink::invitations::TenantIdProblem(input);
  return 0;
}
