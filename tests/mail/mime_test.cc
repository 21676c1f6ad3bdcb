// The MIME building blocks: nothing a caller passes can end a header line or escape its field.
#include "server/mail/mime.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations::mail {
namespace {

using ::securelink::testing::IsOk;
using ::securelink::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Decodes a quoted-printable body (RFC 2045 §6.7) back to its text with "\n" line ends.
std::string DecodeQuotedPrintable(absl::string_view qp) {
  std::string out;
  for (size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] == '=' && qp.substr(i, 3) == "=\r\n") {
      i += 2;
    } else if (qp[i] == '=') {
      out.push_back(static_cast<char>(std::stoi(std::string(qp.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (qp.substr(i, 2) == "\r\n") {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(qp[i]);
    }
  }
  return out;
}

// Decodes a header value made of RFC 2047 B-encoded UTF-8 words (as EncodeUnstructuredHeader
// writes them): whitespace between adjacent encoded words is dropped.
std::string DecodeEncodedWords(absl::string_view value) {
  std::string out;
  for (absl::string_view word : absl::StrSplit(value, absl::ByAnyChar(" \r\n"), absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(word, "=?UTF-8?B?") && absl::EndsWith(word, "?=")) << word;
    std::string decoded;
    EXPECT_TRUE(absl::Base64Unescape(word.substr(10, word.size() - 12), &decoded)) << word;
    out += decoded;
  }
  return out;
}

// Every line break in a header value is CRLF followed by white space (a fold), never a new line.
void ExpectOnlyFolds(absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(value[i - 1], '\r') << "bare LF in " << value;
      ASSERT_LT(i + 1, value.size()) << value;
      EXPECT_EQ(value[i + 1], ' ') << "a line break not followed by a space in " << value;
    }
    if (value[i] == '\r') {
      EXPECT_EQ(value.substr(i, 2), "\r\n") << value;
    }
  }
}

TEST(ValidateMailAddressTest, AcceptsOrdinaryAddresses) {
  for (const char* address : {"alice@example.com", "o'brien+vpn@mail.example.co.uk",
                              "first.last@sub-domain.example.org", "x@a.io"}) {
    EXPECT_THAT(ValidateMailAddress(address, "to"), IsOk()) << address;
  }
}

TEST(ValidateMailAddressTest, RejectsAnythingThatCouldBreakAHeaderOrEnvelope) {
  for (const char* address :
       {"", "alice@example.com\r\nBcc: eve@evil.example", "alice@example.com\n",
        "alice@example.com\rX: y", "alice @example.com", "alice@example.com>", "<alice@example.com",
        "\"alice\"@example.com", "alice@@example.com", "alice@example", "a,b@example.com",
        "alice@exa_mple.com", ".alice@example.com", "al..ice@example.com", "alice@-example.com",
        "alice@example.com\t"}) {
    EXPECT_THAT(ValidateMailAddress(address, "to"), StatusIs(absl::StatusCode::kInvalidArgument))
        << absl::CEscape(address);
  }
}

TEST(ValidateMailAddressTest, NonAsciiAddressIsRejectedWithAHintAboutPunycode) {
  const absl::Status status = ValidateMailAddress("jörg@bücher.example", "to");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status.message(), HasSubstr("punycode"));
  EXPECT_THAT(status.message(), HasSubstr("to:"));
  EXPECT_THAT(ValidateMailAddress("jorg@xn--bcher-kva.example", "to"), IsOk());
}

TEST(ParseMailboxTest, ReadsTheFormsAnOperatorWrites) {
  absl::StatusOr<Mailbox> bare = ParseMailbox("noreply@example.com");
  ASSERT_THAT(bare, IsOk());
  EXPECT_EQ(bare->display_name, "");
  EXPECT_EQ(bare->address, "noreply@example.com");

  absl::StatusOr<Mailbox> named = ParseMailbox(" SecureLink Invitations <noreply@example.com> ");
  ASSERT_THAT(named, IsOk());
  EXPECT_EQ(named->display_name, "SecureLink Invitations");
  EXPECT_EQ(named->address, "noreply@example.com");

  absl::StatusOr<Mailbox> quoted = ParseMailbox("\"ACME, Inc. \\\"IT\\\"\" <it@acme.example>");
  ASSERT_THAT(quoted, IsOk());
  EXPECT_EQ(quoted->display_name, "ACME, Inc. \"IT\"");

  absl::StatusOr<Mailbox> angle = ParseMailbox("<it@acme.example>");
  ASSERT_THAT(angle, IsOk());
  EXPECT_EQ(angle->address, "it@acme.example");
}

TEST(ParseMailboxTest, RejectsLineBreaksAndMalformedNames) {
  for (const char* from : {"SecureLink <noreply@example.com>\r\nBcc: eve@evil.example",
                           "Secure\nLink <noreply@example.com>", "noreply@example.com>",
                           "Secure<Link <noreply@example.com>", "SecureLink"}) {
    EXPECT_THAT(ParseMailbox(from), StatusIs(absl::StatusCode::kInvalidArgument))
        << absl::CEscape(from);
  }
}

TEST(FormatMailboxTest, WritesAtomsQuotedStringsOrEncodedWords) {
  EXPECT_EQ(FormatMailbox({"", "a@example.com"}, 6), "a@example.com");
  EXPECT_EQ(FormatMailbox({"SecureLink Invitations", "a@example.com"}, 6),
            "SecureLink Invitations <a@example.com>");
  EXPECT_EQ(FormatMailbox({"ACME, Inc. \"IT\"", "a@example.com"}, 6),
            "\"ACME, Inc. \\\"IT\\\"\" <a@example.com>");
  const std::string encoded = FormatMailbox({"Sécurité Zürich", "a@example.com"}, 6);
  EXPECT_TRUE(absl::StartsWith(encoded, "=?UTF-8?B?")) << encoded;
  EXPECT_TRUE(absl::EndsWith(encoded, " <a@example.com>")) << encoded;
  EXPECT_EQ(DecodeEncodedWords(encoded.substr(0, encoded.find(" <"))), "Sécurité Zürich");
}

TEST(NormalizeMessageIdTest, AddsBracketsAndRejectsAnythingButADotAtomPair) {
  EXPECT_EQ(*NormalizeMessageId("abc.123@mail.example.com"), "<abc.123@mail.example.com>");
  EXPECT_EQ(*NormalizeMessageId("<abc.123@mail.example.com>"), "<abc.123@mail.example.com>");
  for (const char* id : {"", "<>", "abc", "a@b@c", "abc@example.com\r\nBcc: x@y.example",
                         "a b@example.com", "<a@example.com", "a@example.com>", "a@"}) {
    EXPECT_THAT(NormalizeMessageId(id), StatusIs(absl::StatusCode::kInvalidArgument))
        << absl::CEscape(id);
  }
}

TEST(MakeMessageIdTest, IsStableAndAlwaysValid) {
  const std::string id = MakeMessageId("outbox-17/invitation 42", "example.com");
  EXPECT_EQ(id, MakeMessageId("outbox-17/invitation 42", "example.com"));
  EXPECT_THAT(NormalizeMessageId(id), IsOk()) << id;
  EXPECT_THAT(NormalizeMessageId(MakeMessageId("\r\n<>", "\"evil\"")), IsOk());
}

TEST(CleanDisplayTextTest, TurnsLineBreaksAndControlsIntoSingleSpaces) {
  EXPECT_EQ(CleanDisplayText("Alice\r\nBcc: eve@evil.example"), "Alice Bcc: eve@evil.example");
  EXPECT_EQ(CleanDisplayText("  a\t\tb\x7f c\xc2\x85" "d  "), "a b c d");
  // U+2028 LINE SEPARATOR and U+202E RIGHT-TO-LEFT OVERRIDE.
  EXPECT_EQ(CleanDisplayText("a\u2028b\u202Ec"), "a b c");
  EXPECT_EQ(CleanDisplayText("Zoë 田中"), "Zoë 田中");
}

TEST(CleanDisplayTextTest, ReplacesInvalidUtf8) {
  EXPECT_EQ(CleanDisplayText("a\xff" "b\xc3"), "a\uFFFDb\uFFFD");
  EXPECT_TRUE(IsValidUtf8(CleanDisplayText("\xed\xa0\x80\xc0\xaf")));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));  // overlong '/'
  EXPECT_TRUE(IsValidUtf8("Zoë \uFFFD"));
}

TEST(CleanDisplayTextTest, CutsLongTextWithAnEllipsis) {
  const std::string cut = CleanDisplayText(std::string(500, 'x'), 10);
  EXPECT_EQ(cut, "xxxxxxxxx\u2026");
}

TEST(EncodeUnstructuredHeaderTest, PlainAsciiIsFoldedAtSpaces) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "word" + std::to_string(i) + " ";
  const std::string value = EncodeUnstructuredHeader(text, 9);
  ExpectOnlyFolds(value);
  const std::vector<std::string> lines = absl::StrSplit(value, "\r\n");
  EXPECT_GT(lines.size(), 1u);
  EXPECT_LE(lines[0].size() + 9, 78u);
  for (const std::string& line : lines) EXPECT_LE(line.size(), 78u) << line;
  std::string unfolded = absl::StrReplaceAll(value, {{"\r\n", ""}});
  EXPECT_EQ(unfolded, CleanDisplayText(text));
}

TEST(EncodeUnstructuredHeaderTest, LineBreaksInTheTextCannotStartAHeader) {
  const std::string value =
      EncodeUnstructuredHeader("Invitation\r\nBcc: eve@evil.example\r\n\r\nbody", 9);
  ExpectOnlyFolds(value);
  EXPECT_THAT(value, Not(HasSubstr("\r\nBcc")));
}

TEST(EncodeUnstructuredHeaderTest, NonAsciiBecomesEncodedWordsThatDecodeBack) {
  const std::string text = "Einladung für Zoë: 田中さんのテナント — " + std::string(60, 'x');
  const std::string value = EncodeUnstructuredHeader(text, 9);
  ExpectOnlyFolds(value);
  for (unsigned char c : value) EXPECT_LT(c, 0x80);
  for (absl::string_view line : absl::StrSplit(value, "\r\n")) {
    EXPECT_LE(line.size(), 78u) << line;
  }
  EXPECT_EQ(DecodeEncodedWords(value), text);
}

TEST(EncodeUnstructuredHeaderTest, TextThatLooksLikeAnEncodedWordIsEncoded) {
  // Otherwise a reader would decode the attacker's "=?...?=" into something else.
  const std::string value = EncodeUnstructuredHeader("=?UTF-8?B?SGk=?=", 9);
  EXPECT_EQ(DecodeEncodedWords(value), "=?UTF-8?B?SGk=?=");
}

TEST(FormatRfc5322DateTest, IsUtcWithEnglishNames) {
  const absl::Time t = absl::FromCivil(absl::CivilSecond(2024, 5, 14, 9, 30, 5),
                                       absl::UTCTimeZone());
  EXPECT_EQ(FormatRfc5322Date(t), "Tue, 14 May 2024 09:30:05 +0000");
}

TEST(EncodeQuotedPrintableTest, RoundTripsWithCrlfHardBreaksAndShortLines) {
  const std::string text =
      "Hello Zoë,\n\nline with trailing space \nline with tab\t\n" + std::string(200, 'a') +
      "=b\n.leading dot\nFrom the top\n-- \nend";
  const std::string qp = EncodeQuotedPrintable(text);
  EXPECT_EQ(DecodeQuotedPrintable(qp), text + "\n");
  for (absl::string_view line : absl::StrSplit(qp, "\r\n")) {
    EXPECT_LE(line.size(), 76u) << line;
    EXPECT_FALSE(absl::StartsWith(line, ".")) << line;
    EXPECT_FALSE(absl::StartsWith(line, "From ")) << line;
    EXPECT_FALSE(absl::EndsWith(line, " ") || absl::EndsWith(line, "\t")) << line;
  }
  for (unsigned char c : qp) EXPECT_LT(c, 0x80);
  EXPECT_THAT(qp, Not(HasSubstr("\n\n")));  // every break is CRLF
}

TEST(EncodeQuotedPrintableTest, NormalisesEveryKindOfLineEnd) {
  EXPECT_EQ(EncodeQuotedPrintable("a\r\nb\nc\rd"), "a\r\nb\r\nc\r\nd\r\n");
}

TEST(EncodeQuotedPrintableTest, NeverContainsTheBoundaryMarker) {
  EXPECT_THAT(EncodeQuotedPrintable("--=_SecureLink_0123 =_ ==_"), Not(HasSubstr("=_")));
}

TEST(HtmlEscapeTest, EscapesMarkupAndQuotes) {
  EXPECT_EQ(HtmlEscape("<script>alert('x&y')</script>\""),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;&quot;");
}

}  // namespace
}  // namespace securelink::invitations::mail
