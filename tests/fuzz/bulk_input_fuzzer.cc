// libFuzzer target: BulkInvite's text and CSV splitters (server/domain/bulk_input.h). The first
// byte picks the form (even: free text, odd: CSV) so one corpus covers both, and its other seven
// bits a maximum number of entries; every input is parsed with that maximum and without one.
// Checked besides crashes: line numbers are 1-based, in input order and within the input; entries
// are trimmed; with a maximum, the entries are the first of those found without it, at most one
// past the maximum; CSV rejections are INVALID_ARGUMENT.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
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

// With a maximum, the entries must be the first of those found without one, and at most one
// more than the maximum.
void CheckPrefix(const std::vector<BulkEntry>& limited, const std::vector<BulkEntry>& whole,
                 size_t max_entries) {
  Require(limited.size() <= max_entries + 1, "more than one entry past the maximum");
  Require(limited.size() == std::min(whole.size(), max_entries + 1),
          "stopped before the maximum was passed");
  for (size_t i = 0; i < limited.size(); ++i) {
    Require(limited[i].input == whole[i].input && limited[i].line == whole[i].line,
            "entries differ from those found without a maximum");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool csv = (data[0] & 1) != 0;
  const size_t max_entries = data[0] >> 1;
  const absl::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
  if (!csv) {
    const std::vector<BulkEntry> whole = securelink::invitations::ParseBulkText(input, kNoLimit);
    CheckEntries(whole, input);
    CheckPrefix(securelink::invitations::ParseBulkText(input, max_entries), whole, max_entries);
    return 0;
  }
  absl::StatusOr<std::vector<BulkEntry>> entries =
      securelink::invitations::ParseBulkCsv(input, kNoLimit);
  absl::StatusOr<std::vector<BulkEntry>> limited =
      securelink::invitations::ParseBulkCsv(input, max_entries);
  if (entries.ok()) {
    CheckEntries(*entries, input);
    Require(limited.ok(), "a CSV that parses whole fails with a maximum");
    CheckPrefix(*limited, *entries, max_entries);
  } else {
    Require(entries.status().code() == absl::StatusCode::kInvalidArgument,
            "CSV rejection is not INVALID_ARGUMENT");
    // With a maximum, parsing may stop before the problem.
    if (limited.ok()) Require(limited->size() == max_entries + 1, "a problem was skipped");
  }
  return 0;
}
