#include "server/domain/bulk_input.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Header names that mark the address column; compared case-insensitively after trimming.
constexpr absl::string_view kEmailHeaders[] = {"email", "e-mail", "email address", "email_address"};

bool IsEmailHeader(absl::string_view trimmed_name) {
  for (absl::string_view header : kEmailHeaders) {
    if (absl::EqualsIgnoreCase(trimmed_name, header)) return true;
  }
  return false;
}

absl::Status CsvError(int line, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("csv: line ", line, ": ", problem));
}

// One CSV field. `value` points into the input or into the reader's scratch buffer, so it is
// valid only until the next call to CsvFieldReader::Next.
struct CsvField {
  absl::string_view value;
  bool ends_record = false;
};

// Pulls CSV fields one at a time. Working field by field rather than record by record keeps memory
// bounded by the longest field even when a hostile record has millions of columns.
class CsvFieldReader {
 public:
  explicit CsvFieldReader(absl::string_view csv) : in_(csv) {}

  // True once every record has been read. A trailing record end does not start another record,
  // but a trailing comma does (its empty last field is still to come).
  bool done() const { return pos_ >= in_.size() && !in_record_; }

  // The 1-based line the reader is on: before a record is read, the line where it starts.
  int line() const { return line_; }

  // Reads the next field. Requires !done(). INVALID_ARGUMENT for malformed CSV.
  absl::StatusOr<CsvField> Next() {
    in_record_ = true;
    // Blanks before an opening quote are tolerated; anywhere else they are field content.
    size_t p = pos_;
    while (p < in_.size() && (in_[p] == ' ' || in_[p] == '\t')) ++p;
    if (p < in_.size() && in_[p] == '"') return NextQuoted(p);
    return NextUnquoted();
  }

 private:
  absl::StatusOr<CsvField> NextUnquoted() {
    const size_t start = pos_;
    size_t p = start;
    while (p < in_.size() && in_[p] != ',' && in_[p] != '\n' && in_[p] != '"') ++p;
    if (p < in_.size() && in_[p] == '"') {
      return CsvError(line_,
                      "quote in the middle of an unquoted field; quote the whole field and "
                      "write \"\" for a quote inside it");
    }
    CsvField field;
    field.value = in_.substr(start, p - start);
    if (p < in_.size() && in_[p] == ',') {
      pos_ = p + 1;
      return field;
    }
    if (p < in_.size()) {  // '\n'; the CR of a CRLF is left in the value and trimmed with blanks.
      ++line_;
      ++p;
    }
    pos_ = p;
    EndRecord(field);
    return field;
  }

  // `quote` is the position of the opening quote.
  absl::StatusOr<CsvField> NextQuoted(size_t quote) {
    const int opened_on = line_;
    size_t p = quote + 1;
    size_t segment = p;  // start of text not yet copied to scratch_
    bool escaped = false;
    scratch_.clear();
    size_t close;
    while (true) {
      close = in_.find('"', p);
      if (close == absl::string_view::npos) {
        return CsvError(opened_on,
                        "unterminated quoted field; a field that starts with \" must end with "
                        "\", and a quote inside it is written \"\"");
      }
      line_ += static_cast<int>(std::count(in_.begin() + p, in_.begin() + close, '\n'));
      if (close + 1 < in_.size() && in_[close + 1] == '"') {
        // "" is one literal quote: copy up to and including the first of the pair.
        scratch_.append(in_.data() + segment, close + 1 - segment);
        escaped = true;
        p = close + 2;
        segment = p;
        continue;
      }
      break;
    }
    CsvField field;
    if (escaped) {
      scratch_.append(in_.data() + segment, close - segment);
      field.value = scratch_;
    } else {
      field.value = in_.substr(quote + 1, close - quote - 1);
    }
    // Only blanks (including the CR of a CRLF) may sit between the closing quote and the
    // separator.
    p = close + 1;
    while (p < in_.size() && (in_[p] == ' ' || in_[p] == '\t' || in_[p] == '\r')) ++p;
    if (p == in_.size()) {
      pos_ = p;
      EndRecord(field);
      return field;
    }
    if (in_[p] == ',') {
      pos_ = p + 1;
      return field;
    }
    if (in_[p] == '\n') {
      ++line_;
      pos_ = p + 1;
      EndRecord(field);
      return field;
    }
    return CsvError(line_,
                    "text after the closing quote of a field; a quoted field must be followed "
                    "by a comma or the end of the line (write \"\" for a quote inside it)");
  }

  void EndRecord(CsvField& field) {
    field.ends_record = true;
    in_record_ = false;
  }

  absl::string_view in_;
  size_t pos_ = 0;
  int line_ = 1;
  // Set between a record's first field and its end, so that "a," at the end of the input still
  // yields its empty second field.
  bool in_record_ = false;
  // Holds a quoted field that contained "" (it cannot be a view into the input).
  std::string scratch_;
};

}  // namespace

std::vector<BulkEntry> ParseBulkText(absl::string_view text, size_t max_entries) {
  absl::ConsumePrefix(&text, kUtf8Bom);
  std::vector<BulkEntry> entries;
  int line = 1;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    const bool at_end = i == text.size();
    if (!at_end && text[i] != '\n' && text[i] != ',' && text[i] != ';') continue;
    absl::string_view token = absl::StripAsciiWhitespace(text.substr(start, i - start));
    if (!token.empty()) {
      entries.push_back(BulkEntry{std::string(token), line});
      if (entries.size() > max_entries) break;
    }
    if (!at_end && text[i] == '\n') ++line;
    start = i + 1;
  }
  return entries;
}

absl::StatusOr<std::vector<BulkEntry>> ParseBulkCsv(absl::string_view csv, size_t max_entries) {
  absl::ConsumePrefix(&csv, kUtf8Bom);
  enum class Layout { kUndecided, kEmailColumn, kSingleColumn };
  Layout layout = Layout::kUndecided;
  size_t email_column = 0;  // 0-based; column 0 while undecided and for a single-column file
  int header_line = 0;
  std::vector<BulkEntry> entries;
  CsvFieldReader reader(csv);
  while (!reader.done()) {
    const int line = reader.line();
    size_t field_count = 0;
    size_t width = 0;  // index of the last non-blank field + 1; 0 for a blank record
    std::string email;
    std::optional<size_t> header_column;
    bool ends_record = false;
    while (!ends_record) {
      ASSIGN_OR_RETURN(const CsvField field, reader.Next());
      const absl::string_view value = absl::StripAsciiWhitespace(field.value);
      if (!value.empty()) width = field_count + 1;
      if (layout == Layout::kUndecided && !header_column.has_value() && IsEmailHeader(value)) {
        header_column = field_count;
      }
      if (field_count == email_column) email = std::string(value);
      ++field_count;
      ends_record = field.ends_record;
    }
    if (width == 0) continue;  // blank line, or a spreadsheet's row of empty cells

    switch (layout) {
      case Layout::kUndecided:
        if (header_column.has_value()) {
          layout = Layout::kEmailColumn;
          email_column = *header_column;
          header_line = line;
          continue;  // the header row is not an entry
        }
        if (width > 1) {
          return CsvError(
              line, absl::StrCat(width,
                                 " columns but no email header; add a header row that names the "
                                 "address column \"email\" (or \"e-mail\", \"email address\", "
                                 "\"email_address\"), or send a single column of addresses "
                                 "without a header"));
        }
        layout = Layout::kSingleColumn;
        break;
      case Layout::kSingleColumn:
        // Silently taking the first column would drop the rest of the row's addresses.
        if (width > 1) {
          return CsvError(
              line, absl::StrCat(width,
                                 " columns, but a file without an \"email\" header must have a "
                                 "single column of addresses; add a header row that names the "
                                 "address column \"email\""));
        }
        break;
      case Layout::kEmailColumn:
        if (field_count <= email_column) {
          return CsvError(line,
                          absl::StrCat(field_count, " column(s), but the email column is column ",
                                       email_column + 1, " of the header on line ", header_line));
        }
        break;
    }
    if (!email.empty()) {
      entries.push_back(BulkEntry{std::move(email), line});
      if (entries.size() > max_entries) break;
    }
  }
  return entries;
}

std::vector<BulkEntry> ParseBulkEmailList(const std::vector<std::string>& emails,
                                          size_t max_entries) {
  // One more than allowed is enough to tell the caller the list is too long.
  const size_t count = max_entries < emails.size() ? max_entries + 1 : emails.size();
  std::vector<BulkEntry> entries;
  entries.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    entries.push_back(
        BulkEntry{std::string(absl::StripAsciiWhitespace(emails[i])), static_cast<int>(i + 1)});
  }
  return entries;
}

}  // namespace securelink::invitations
