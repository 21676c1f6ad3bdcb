// Splits BulkInvite's three input forms (SPEC §3 `BulkInvite`, §9 `BulkInviteResult.line`) into
// address entries with the line each came from. Nothing here validates addresses: a later step
// does, so bytes that are not a valid address (NUL, invalid UTF-8) are passed through untouched.
#ifndef SECURELINK_SERVER_DOMAIN_BULK_INPUT_H_
#define SECURELINK_SERVER_DOMAIN_BULK_INPUT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

// One address as it appeared in the input, before normalisation.
struct BulkEntry {
  // The raw field or token with surrounding ASCII whitespace trimmed; otherwise byte-for-byte
  // what the caller sent.
  std::string input;
  // 1-based: the input line for text and CSV (a quoted multi-line CSV field reports the line
  // where its record starts); the position in the list for an explicit email list.
  int line = 0;
};

// Every parser below stops as soon as it has found more than `max_entries` entries (SPEC §10: a
// bulk's memory is bounded by --bulk_max_addresses, whatever the input holds). A result of
// max_entries + 1 entries therefore means "more than max_entries", and the rest of the input was
// not looked at (so, for CSV, a malformed record further on is not reported).

// Splits free text into addresses separated by newlines, commas or semicolons, in input order.
// Each entry's `line` is the 1-based line it sits on; lines end at LF, so CRLF text works (the
// CR is trimmed with the other whitespace). Blank entries are dropped (neither kept nor counted),
// and so is a UTF-8 BOM at the very start, which editors add and which would otherwise make the
// first address invalid. Never fails; runs in time linear in `text`.
std::vector<BulkEntry> ParseBulkText(absl::string_view text, size_t max_entries);

// Parses an RFC 4180 CSV file: quoted fields, "" inside quotes for a quote, LF or CRLF record
// ends, a UTF-8 BOM at the start skipped. Spaces or tabs around a quoted field are tolerated
// because spreadsheet users write `"a", "b"`.
//
// Layout, decided by the first non-blank record:
// - If a column's trimmed, case-insensitive name is "email", "e-mail", "email address" or
//   "email_address", that record is the header (not an entry) and the first such column supplies
//   the addresses; other columns are ignored. A later record too short to reach that column is
//   INVALID_ARGUMENT naming its line.
// - Otherwise the file must be one column of addresses without a header: a record with a second
//   non-blank column is INVALID_ARGUMENT that names the header the caller should add.
// Records whose fields are all blank, and blank email fields, are skipped (neither kept nor
// counted), and the header is not an entry. Each entry's `line` is the 1-based line where its
// record starts.
//
// Malformed CSV (an unterminated quoted field, a quote inside an unquoted field, text after a
// closing quote) is INVALID_ARGUMENT whose message starts "csv: line N: " with the line of the
// offending character (for an unterminated field, the line its opening quote is on).
// Empty input, or a header alone, yields an empty vector. Runs in time linear in `csv` and holds
// at most one field beyond the result, whatever the width of a record.
absl::StatusOr<std::vector<BulkEntry>> ParseBulkCsv(absl::string_view csv, size_t max_entries);

// Turns the explicit list into entries: element i (0-based) gets `line` i + 1, its `input` is the
// element with surrounding ASCII whitespace trimmed. Blank elements are kept (and counted) so
// that they are reported as invalid addresses at their position rather than vanishing.
std::vector<BulkEntry> ParseBulkEmailList(const std::vector<std::string>& emails,
                                          size_t max_entries);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_BULK_INPUT_H_
