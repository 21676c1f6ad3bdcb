#include "server/domain/bulk_input.h"

#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace securelink::invitations {
namespace {

using std::string_literals::operator""s;

// (input, line) pairs compare and print well in gtest, unlike BulkEntry.
using Entries = std::vector<std::pair<std::string, int>>;

constexpr absl::string_view kBom = "\xEF\xBB\xBF";

Entries Flatten(const std::vector<BulkEntry>& entries) {
  Entries out;
  for (const BulkEntry& e : entries) out.emplace_back(e.input, e.line);
  return out;
}

// For the tests of splitting rather than of the maximum.
constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

Entries Text(absl::string_view text, size_t max_entries = kNoLimit) {
  return Flatten(ParseBulkText(text, max_entries));
}

// The entries of a CSV that must parse; a parse error fails the calling test.
Entries Csv(absl::string_view csv, size_t max_entries = kNoLimit) {
  absl::StatusOr<std::vector<BulkEntry>> parsed = ParseBulkCsv(csv, max_entries);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return {};
  return Flatten(*parsed);
}

// The error of a CSV that must not parse.
absl::Status CsvError(absl::string_view csv, size_t max_entries = kNoLimit) {
  absl::StatusOr<std::vector<BulkEntry>> parsed = ParseBulkCsv(csv, max_entries);
  EXPECT_FALSE(parsed.ok()) << "parsed into " << parsed->size() << " entries";
  return parsed.status();
}

Entries List(const std::vector<std::string>& emails, size_t max_entries = kNoLimit) {
  return Flatten(ParseBulkEmailList(emails, max_entries));
}

// --- free text -----------------------------------------------------------------------------

TEST(BulkTextTest, TextSplitsOnNewlinesWithOneLinePerAddress) {
  EXPECT_EQ(Text("a@x.com\nb@x.com\nc@x.com"),
            (Entries{{"a@x.com", 1}, {"b@x.com", 2}, {"c@x.com", 3}}));
}

TEST(BulkTextTest, TextSplitsOnCommasAndSemicolonsWithinALine) {
  EXPECT_EQ(Text("a@x.com,b@x.com;c@x.com"),
            (Entries{{"a@x.com", 1}, {"b@x.com", 1}, {"c@x.com", 1}}));
}

TEST(BulkTextTest, TextMixedSeparatorsKeepTheLineOfEachAddress) {
  const Entries expected = {{"a@x.com", 1}, {"b@x.com", 1}, {"c@x.com", 2},
                            {"d@x.com", 2}, {"e@x.com", 2}, {"f@x.com", 3}};
  EXPECT_EQ(Text("a@x.com, b@x.com\nc@x.com; d@x.com,e@x.com\nf@x.com"), expected);
}

TEST(BulkTextTest, TextSkipsBlankLinesAndEmptyTokensButStillCountsTheirLines) {
  EXPECT_EQ(Text("\n\na@x.com,,;\n   \n ; , \nb@x.com\n\n"),
            (Entries{{"a@x.com", 3}, {"b@x.com", 6}}));
}

TEST(BulkTextTest, TextCrlfLineEndsLeaveNoCarriageReturnInEntries) {
  EXPECT_EQ(Text("a@x.com\r\nb@x.com,c@x.com\r\n\r\nd@x.com\r\n"),
            (Entries{{"a@x.com", 1}, {"b@x.com", 2}, {"c@x.com", 2}, {"d@x.com", 4}}));
}

TEST(BulkTextTest, TextTrimsSurroundingWhitespaceButKeepsInnerSpaces) {
  EXPECT_EQ(Text(" \t a@x.com \t,\v jane doe@x.com \f"),
            (Entries{{"a@x.com", 1}, {"jane doe@x.com", 1}}));
}

TEST(BulkTextTest, TextEmptyOrBlankInputYieldsNoEntries) {
  EXPECT_EQ(Text(""), Entries{});
  EXPECT_EQ(Text(" \r\n\t,;\n"), Entries{});
}

TEST(BulkTextTest, TextSkipsALeadingUtf8Bom) {
  EXPECT_EQ(Text(absl::StrCat(kBom, "a@x.com\nb@x.com")),
            (Entries{{"a@x.com", 1}, {"b@x.com", 2}}));
}

TEST(BulkTextTest, TextPassesNulBytesAndInvalidUtf8Through) {
  EXPECT_EQ(Text("a\0b@x.com\n\xFF\xFE@x.com;\xC3"s),
            (Entries{{"a\0b@x.com"s, 1}, {"\xFF\xFE@x.com", 2}, {"\xC3", 2}}));
}

TEST(BulkTextTest, TextHugeSingleLineOfManyAddressesIsSplitCompletely) {
  std::string text;
  constexpr size_t kCount = 400000;  // 5.2 MB on one line
  for (size_t i = 0; i < kCount; ++i) absl::StrAppend(&text, "u", i % 10, "@x.com;");
  std::vector<BulkEntry> entries = ParseBulkText(text, kNoLimit);
  ASSERT_EQ(entries.size(), kCount);
  EXPECT_EQ(entries.front().input, "u0@x.com");
  EXPECT_EQ(entries.back().input, "u9@x.com");
  EXPECT_EQ(entries.back().line, 1);
}

TEST(BulkTextTest, TextHugeSingleTokenIsKeptWhole) {
  const std::string token(5 << 20, 'a');
  EXPECT_EQ(Text(absl::StrCat("b@x.com\n ", token, " \nc@x.com")),
            (Entries{{"b@x.com", 1}, {token, 2}, {"c@x.com", 3}}));
}

// --- CSV: layout ---------------------------------------------------------------------------

TEST(BulkCsvTest, CsvEmailHeaderAmongOtherColumnsSelectsThatColumn) {
  EXPECT_EQ(Csv("first,last,email,team\n"
                "Ann,Lee,ann@x.com,red\n"
                "Bob,Ray,bob@x.com,blue\n"),
            (Entries{{"ann@x.com", 2}, {"bob@x.com", 3}}));
}

TEST(BulkCsvTest, CsvEmailHeaderNameIsTrimmedAndCaseInsensitiveInEveryAcceptedSpelling) {
  for (absl::string_view header :
       {" EMAIL ", "Email", "E-Mail", "\tEmail Address", "EMAIL_ADDRESS", "e-mail"}) {
    SCOPED_TRACE(header);
    EXPECT_EQ(Csv(absl::StrCat("name,", header, "\nAnn,ann@x.com\n")), (Entries{{"ann@x.com", 2}}));
  }
}

TEST(BulkCsvTest, CsvQuotedHeaderIsRecognised) {
  EXPECT_EQ(Csv("\"Name\",\"Email\"\n\"Ann\",\"ann@x.com\"\n"), (Entries{{"ann@x.com", 2}}));
}

TEST(BulkCsvTest, CsvFirstEmailHeaderColumnWinsWhenSeveralMatch) {
  EXPECT_EQ(Csv("e-mail,email\nfirst@x.com,second@x.com\n"), (Entries{{"first@x.com", 2}}));
}

TEST(BulkCsvTest, CsvSingleColumnWithoutHeaderMakesEveryRecordAnEntry) {
  EXPECT_EQ(Csv("ann@x.com\nbob@x.com\n"), (Entries{{"ann@x.com", 1}, {"bob@x.com", 2}}));
}

TEST(BulkCsvTest, CsvSingleEmailHeaderColumnIsNotAnEntry) {
  EXPECT_EQ(Csv("Email\nann@x.com\n"), (Entries{{"ann@x.com", 2}}));
}

TEST(BulkCsvTest, CsvHeaderAloneYieldsNoEntries) { EXPECT_EQ(Csv("name,email\n"), Entries{}); }

TEST(BulkCsvTest, CsvLeadingUtf8BomIsSkippedSoTheHeaderStillMatches) {
  EXPECT_EQ(Csv(absl::StrCat(kBom, "email,name\nann@x.com,Ann\n")), (Entries{{"ann@x.com", 2}}));
  EXPECT_EQ(Csv(absl::StrCat(kBom, "ann@x.com\n")), (Entries{{"ann@x.com", 1}}));
}

TEST(BulkCsvTest, CsvBlankLinesBeforeTheHeaderAreSkippedAndCounted) {
  EXPECT_EQ(Csv("\n,,\nname,email\nAnn,ann@x.com\n"), (Entries{{"ann@x.com", 4}}));
}

TEST(BulkCsvTest, CsvEmptyInputYieldsNoEntriesAndOk) {
  EXPECT_EQ(Csv(""), Entries{});
  EXPECT_EQ(Csv(kBom), Entries{});
  EXPECT_EQ(Csv("\n\r\n  \n"), Entries{});
}

TEST(BulkCsvTest, CsvSkipsBlankRecordsAndBlankEmailFields) {
  EXPECT_EQ(Csv("name,email\n"
                "Ann,ann@x.com\n"
                "\n"
                ",,,\n"
                "Bob,\n"
                "Cy,  \n"
                "Dee,\"\"\n"
                "Eve,eve@x.com\n"),
            (Entries{{"ann@x.com", 2}, {"eve@x.com", 8}}));
}

TEST(BulkCsvTest, CsvFieldsAreTrimmed) {
  EXPECT_EQ(Csv("name , email \nAnn,  ann@x.com\t\n"), (Entries{{"ann@x.com", 2}}));
}

// --- CSV: RFC 4180 syntax ------------------------------------------------------------------

TEST(BulkCsvTest, CsvQuotedFieldsKeepCommasAndUnescapeDoubledQuotes) {
  EXPECT_EQ(Csv("name,email\n"
                "\"Doe, Jane\",\"\"\"odd\"\"@x.com\"\n"
                "\"Roe, \"\"Rick\"\"\",\"a,b@x.com\"\n"),
            (Entries{{"\"odd\"@x.com", 2}, {"a,b@x.com", 3}}));
}

TEST(BulkCsvTest, CsvCrlfRecordEndsAreAccepted) {
  EXPECT_EQ(Csv("name,email\r\nAnn,ann@x.com\r\n\"Bob\",\"bob@x.com\"\r\nCy,cy@x.com"),
            (Entries{{"ann@x.com", 2}, {"bob@x.com", 3}, {"cy@x.com", 4}}));
}

TEST(BulkCsvTest, CsvQuotedMultilineFieldReportsRecordStartLine) {
  EXPECT_EQ(Csv("note,email\n"
                "\"first\nsecond\r\nthird\",ann@x.com\n"
                "plain,bob@x.com\n"
                "\"x\",\"cy\n@x.com\"\n"
                "after,dee@x.com\n"),
            (Entries{{"ann@x.com", 2}, {"bob@x.com", 5}, {"cy\n@x.com", 6}, {"dee@x.com", 8}}));
}

TEST(BulkCsvTest, CsvMultilineFieldBeforeTheEmailColumnStillReportsRecordStartLine) {
  // The email field itself starts on line 4, but the record starts on line 2.
  EXPECT_EQ(Csv("a,b,email\n\"1\n2\",\"3\n4\",ann@x.com\n"), (Entries{{"ann@x.com", 2}}));
}

TEST(BulkCsvTest, CsvTrailingNewlineDoesNotChangeTheEntries) {
  const Entries expected = {{"ann@x.com", 2}, {"bob@x.com", 3}};
  EXPECT_EQ(Csv("email\nann@x.com\nbob@x.com"), expected);
  EXPECT_EQ(Csv("email\nann@x.com\nbob@x.com\n"), expected);
  EXPECT_EQ(Csv("email\nann@x.com\n\"bob@x.com\""), expected);
  EXPECT_EQ(Csv("email\nann@x.com\n\"bob@x.com\"\r\n"), expected);
}

TEST(BulkCsvTest, CsvTrailingCommaAtEndOfInputIsAnEmptyLastField) {
  EXPECT_EQ(Csv("email,name\nann@x.com,"), (Entries{{"ann@x.com", 2}}));
  EXPECT_EQ(Csv("name,email\nAnn,"), Entries{});
}

TEST(BulkCsvTest, CsvBlanksAroundQuotedFieldsAreTolerated) {
  EXPECT_EQ(Csv("\"name\", \"email\"\n  \"Ann\" ,\t\"ann@x.com\"  \r\n"),
            (Entries{{"ann@x.com", 2}}));
}

TEST(BulkCsvTest, CsvPassesNulBytesAndInvalidUtf8Through) {
  EXPECT_EQ(Csv("name,email\nA\0n,a\0b@x.com\nB,\"\xFF\0\"\n"s),
            (Entries{{"a\0b@x.com"s, 2}, {"\xFF\0"s, 3}}));
}

// --- CSV: malformed input names the right line ----------------------------------------------

TEST(BulkCsvTest, CsvUnterminatedQuoteNamesTheLineWhereTheQuoteOpens) {
  absl::Status status = CsvError("email\nann@x.com\n\"bob@x.com\ncy@x.com\ndee@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "csv: line 3: unterminated quoted field"))
      << status;
}

TEST(BulkCsvTest, CsvUnterminatedQuoteSpanningLinesAndEscapedQuotesNamesTheOpeningLine) {
  absl::Status status = CsvError("email\n\"ann\n\"\"\n@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "csv: line 2: unterminated quoted field"))
      << status;
}

TEST(BulkCsvTest, CsvQuoteInsideAnUnquotedFieldNamesItsLine) {
  absl::Status status = CsvError("name,email\nAnn,ann@x.com\nBob,bob\"@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(status.message(), "csv: line 3: quote in the middle of an unquoted field"))
      << status;
}

TEST(BulkCsvTest, CsvTextAfterAClosingQuoteNamesItsLine) {
  absl::Status status = CsvError("name,email\n\"Ann\"x,ann@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(status.message(), "csv: line 2: text after the closing quote of a field"))
      << status;
}

TEST(BulkCsvTest, CsvErrorAfterAMultilineFieldCountsTheLinesInsideIt) {
  // The bad quote is on line 5: lines 2-4 hold one record with a three-line field.
  absl::Status status = CsvError("note,email\n\"a\nb\nc\",ann@x.com\nBob,b\"ob@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(status.message(), "csv: line 5: quote in the middle of an unquoted field"))
      << status;
  // Text after a closing quote that ends a multi-line field: on the line of the closing quote.
  status = CsvError("note,email\n\"a\nb\"c,ann@x.com\n");
  EXPECT_TRUE(
      absl::StartsWith(status.message(), "csv: line 3: text after the closing quote of a field"))
      << status;
}

TEST(BulkCsvTest, CsvSeveralColumnsWithoutEmailHeaderIsRejectedNamingTheExpectedHeader) {
  absl::Status status = CsvError("name,mail\nAnn,ann@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "csv: line 1: 2 columns but no email header"))
      << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "\"email\"")) << status;
}

TEST(BulkCsvTest, CsvHeaderlessFirstRecordWithTwoAddressesIsRejected) {
  absl::Status status = CsvError("\nann@x.com,bob@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "csv: line 2: 2 columns but no email header"))
      << status;
}

TEST(BulkCsvTest, CsvHeaderlessFileWithASecondColumnLaterIsRejectedRatherThanTruncated) {
  absl::Status status = CsvError("ann@x.com\nbob@x.com,cy@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "csv: line 2: 2 columns")) << status;
}

TEST(BulkCsvTest, CsvHeaderlessFileToleratesTrailingEmptyCells) {
  EXPECT_EQ(Csv("ann@x.com,,\nbob@x.com, \n"), (Entries{{"ann@x.com", 1}, {"bob@x.com", 2}}));
}

TEST(BulkCsvTest, CsvRecordShorterThanTheEmailColumnIsRejectedNamingItsLine) {
  absl::Status status = CsvError("first,last,email\nAnn,Lee,ann@x.com\nBob,Ray\nCy,Oh,cy@x.com\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(),
                               "csv: line 3: 2 column(s), but the email column "
                               "is column 3 of the header on line 1"))
      << status;
}

// --- CSV: hostile sizes --------------------------------------------------------------------

TEST(BulkCsvTest, CsvHugeUnquotedFieldIsKeptWhole) {
  const std::string big(5 << 20, 'a');
  EXPECT_EQ(Csv(absl::StrCat("email\n", big, "\nbob@x.com\n")),
            (Entries{{big, 2}, {"bob@x.com", 3}}));
}

TEST(BulkCsvTest, CsvHugeQuotedFieldFullOfEscapedQuotesIsUnescapedWhole) {
  std::string quoted = "\"";
  std::string expected;
  for (int i = 0; i < (1 << 20); ++i) {  // 4 MB of input
    quoted += "a\"\"";
    expected += "a\"";
  }
  quoted += "\"";
  EXPECT_EQ(Csv(absl::StrCat("email\n", quoted, "\nbob@x.com")),
            (Entries{{expected, 2}, {"bob@x.com", 3}}));
}

TEST(BulkCsvTest, CsvHugeRecordsOfManyColumnsParse) {
  // A million columns, the email column last: 2 MB lines.
  constexpr int kColumns = 1000000;
  std::string header;
  std::string row;
  for (int i = 1; i < kColumns; ++i) {
    header += "c,";
    row += "x,";
  }
  header += "email";
  row += "ann@x.com";
  EXPECT_EQ(Csv(absl::StrCat(header, "\n", row, "\n", row, "\n")),
            (Entries{{"ann@x.com", 2}, {"ann@x.com", 3}}));
}

TEST(BulkCsvTest, CsvHugeUnterminatedQuoteFailsWithItsLine) {
  absl::Status status = CsvError(absl::StrCat("email\nann@x.com\n\"", std::string(5 << 20, '\n')));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "csv: line 3: unterminated quoted field"))
      << status;
}

// --- explicit list -------------------------------------------------------------------------

TEST(BulkEmailListTest, EmailListUsesOneBasedPositionAsLine) {
  EXPECT_EQ(List({"a@x.com", "b@x.com", "c@x.com"}),
            (Entries{{"a@x.com", 1}, {"b@x.com", 2}, {"c@x.com", 3}}));
}

TEST(BulkEmailListTest, EmailListKeepsBlankEntriesAtTheirPosition) {
  EXPECT_EQ(List({"a@x.com", "", "  ", "b@x.com"}),
            (Entries{{"a@x.com", 1}, {"", 2}, {"", 3}, {"b@x.com", 4}}));
}

TEST(BulkEmailListTest, EmailListTrimsWhitespaceButDoesNotSplit) {
  EXPECT_EQ(List({" a@x.com\r\n", "b@x.com, c@x.com"}),
            (Entries{{"a@x.com", 1}, {"b@x.com, c@x.com", 2}}));
}

TEST(BulkEmailListTest, EmailListPassesNulBytesThrough) {
  EXPECT_EQ(List({"a\0b@x.com"s}), (Entries{{"a\0b@x.com"s, 1}}));
}

TEST(BulkEmailListTest, EmptyEmailListYieldsNoEntries) {
  EXPECT_EQ(List({}), Entries{});
}

// --- the maximum (SPEC §10: memory bounded by --bulk_max_addresses) ---------------------------

// "a0@x.com\n" ... for `count` addresses, one per line.
std::string Lines(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) absl::StrAppend(&text, "a", i, "@x.com\n");
  return text;
}

TEST(BulkMaximumTest, TextStopsOneEntryPastTheMaximum) {
  EXPECT_EQ(Text(Lines(10), 3),
            (Entries{{"a0@x.com", 1}, {"a1@x.com", 2}, {"a2@x.com", 3}, {"a3@x.com", 4}}));
}

TEST(BulkMaximumTest, TextOfExactlyTheMaximumIsWhole) {
  EXPECT_EQ(Text(Lines(3), 3).size(), 3u);
  EXPECT_EQ(Text("", 0), Entries{});
}

TEST(BulkMaximumTest, TextBlankEntriesAreNeitherKeptNorCounted) {
  // A million blank lines and empty tokens around two addresses stay within a maximum of two.
  const std::string blanks(1 << 20, '\n');
  EXPECT_EQ(Text(absl::StrCat(blanks, ",, ;a@x.com\n", blanks, "b@x.com;;\n", blanks), 2),
            (Entries{{"a@x.com", (1 << 20) + 1}, {"b@x.com", (2 << 20) + 2}}));
}

TEST(BulkMaximumTest, TextRepeatedEntriesCount) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += "same@x.com\n";
  EXPECT_EQ(Text(text, 4).size(), 5u);
}

TEST(BulkMaximumTest, CsvStopsOneEntryPastTheMaximumAndTheHeaderIsNoEntry) {
  EXPECT_EQ(Csv(absl::StrCat("email\n", Lines(10)), 2),
            (Entries{{"a0@x.com", 2}, {"a1@x.com", 3}, {"a2@x.com", 4}}));
}

TEST(BulkMaximumTest, CsvBlankRecordsAndBlankEmailFieldsAreNotCounted) {
  EXPECT_EQ(Csv("name,email\n,,\n\nann,\n,a@x.com\n\n,b@x.com\n", 2),
            (Entries{{"a@x.com", 5}, {"b@x.com", 7}}));
}

TEST(BulkMaximumTest, CsvProblemsPastTheMaximumAreNotLookedAt) {
  // Parsing stops at the third address: the unterminated quote on line 4 is never reached, and
  // the call is refused for its size instead.
  EXPECT_EQ(Csv("a@x.com\nb@x.com\nc@x.com\n\"broken\n", 2).size(), 3u);
  // Before the maximum, the same problem is reported as ever.
  EXPECT_TRUE(absl::StartsWith(CsvError("a@x.com\n\"broken\n", 2).message(),
                               "csv: line 2: unterminated quoted field"));
}

TEST(BulkMaximumTest, EmailListStopsOneElementPastTheMaximum) {
  EXPECT_EQ(List({"a@x.com", "b@x.com", "c@x.com", "d@x.com"}, 2),
            (Entries{{"a@x.com", 1}, {"b@x.com", 2}, {"c@x.com", 3}}));
  EXPECT_EQ(List({"a@x.com", "b@x.com"}, 2).size(), 2u);
}

TEST(BulkMaximumTest, EmailListBlankElementsCountBecauseEachIsReported) {
  const std::vector<std::string> blanks(2'000'000, "");
  EXPECT_EQ(List(blanks, 100).size(), 101u);
  EXPECT_EQ(List({"", " "}, 0), (Entries{{"", 1}}));
}

}  // namespace
}  // namespace securelink::invitations
