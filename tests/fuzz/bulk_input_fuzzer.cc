// libFuzzer target: BulkInvite's text and CSV splitters (server/domain/bulk_input.h). The first
// byte picks the form (even: free text, odd: CSV) so one corpus covers both. Checked besides
// crashes: line numbers are 1-based, in input order and within the input; entries are trimmed;
// CSV rejections are INVALID_ARGUMENT.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "server/domain/bulk_input.h"

namespace {

using securelink::invitations::BulkEntry;

void Require(bool condition, const char* what) {
  if (!condition) {
    __builtin_printf("property violated: %s\n", what);
    std::abort();
  }
}

void CheckEntries(const std::vector<BulkEntry>& entries, absl::string_view input) {
  const int lines = 1 + static_cast<int>(std::count(input.begin(), input.end(), '\n'));
  int previous = 1;
  for (const BulkEntry& e : entries) {
    Require(e.line >= previous, "line numbers go backwards");
    Require(e.line <= lines, "line number past the end of the input");
    previous = e.line;
    Require(!e.input.empty(), "blank entry kept");
    Require(!absl::ascii_isspace(static_cast<unsigned char>(e.input.front())) &&
                !absl::ascii_isspace(static_cast<unsigned char>(e.input.back())),
            "entry not trimmed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool csv = (data[0] & 1) != 0;
  const absl::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!csv) {
    CheckEntries(securelink::invitations::ParseBulkText(input), input);
    return 0;
  }
  absl::StatusOr<std::vector<BulkEntry>> entries = securelink::invitations::ParseBulkCsv(input);
  if (entries.ok()) {
    CheckEntries(*entries, input);
  } else {
    Require(entries.status().code() == absl::StatusCode::kInvalidArgument,
            "CSV rejection is not INVALID_ARGUMENT");
  }
  return 0;
}
