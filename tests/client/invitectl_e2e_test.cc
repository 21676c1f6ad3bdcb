// The built invitectl binary against the real invitation_server and a real MariaDB: what each
// command prints, its exit code, and that what it reports is what the database holds.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "tests/client/e2e_support.h"

namespace securelink::testing::e2e {
namespace {

namespace v1 = ::securelink::invitations::v1;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// invitectl's exit codes (client/invitectl/args.h), spelled out as a script would see them.
constexpr int kOk = 0;
constexpr int kCallFailed = 1;
constexpr int kBulkIncomplete = 3;

// The value of `key: value` in invitectl's key/value output (keys are padded with spaces), or "".
std::string Field(const std::string& out, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::ConsumePrefix(&line, key) && absl::ConsumePrefix(&line, ":")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

// The token of a registration URL (`...?token=X`).
std::string TokenOf(const std::string& url) {
  const size_t at = url.find("?token=");
  return at == std::string::npos ? "" : url.substr(at + 7);
}

// The rows of `list`'s table: each row's whitespace-separated columns, header excluded.
std::vector<std::vector<std::string>> TableRows(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> columns = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (header) {
      EXPECT_THAT(columns, ElementsAre("STATE", "EMAIL", "ROLE", "TENANT", "EXPIRES", "ID"));
      header = false;
      continue;
    }
    rows.push_back(std::move(columns));
  }
  EXPECT_FALSE(header) << "no table header in:\n" << out;
  return rows;
}

// Column 1 (EMAIL) of each row.
std::vector<std::string> EmailsOf(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> emails;
  for (const auto& row : rows) emails.push_back(row.size() > 1 ? row[1] : "?");
  return emails;
}

// One line of `bulk` output: "LINE  OUTCOME  INPUT  [ID]  [(message)]".
struct BulkLine {
  int line = 0;
  std::string outcome;
  std::string input;
  std::string invitation_id;
  std::string message;
};

// The result lines of `bulk` output, and the summary line (the last one).
std::vector<BulkLine> BulkLines(const std::string& out, std::string* summary) {
  std::vector<BulkLine> lines;
  std::vector<std::string> raw = absl::StrSplit(out, '\n', absl::SkipEmpty());
  if (raw.empty()) return lines;
  *summary = raw.back();
  raw.pop_back();
  for (const std::string& text : raw) {
    BulkLine line;
    const size_t paren = text.find("  (");
    if (paren != std::string::npos) {
      line.message = text.substr(paren + 3, text.size() - paren - 4);  // without the ( )
    }
    const std::vector<std::string> words =
        absl::StrSplit(text.substr(0, paren), ' ', absl::SkipEmpty());
    EXPECT_GE(words.size(), 3u) << text;
    if (words.size() < 3) continue;
    EXPECT_TRUE(absl::SimpleAtoi(words[0], &line.line)) << text;
    line.outcome = words[1];
    line.input = words[2];
    if (words.size() > 3) line.invitation_id = words[3];
    lines.push_back(line);
  }
  return lines;
}

class InvitectlEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MariaDbServer& db = SharedDb();
    database_ = new std::string(UniqueName("ctl"));
    if (absl::Status s = db.CreateDatabase(*database_); !s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    ServerProcess::Options options;
    options.mysql_uri = db.Uri(*database_);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
    if (!server.ok()) {
      start_error_ = new std::string(server.status().ToString());
      return;
    }
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << (start_error_ != nullptr ? *start_error_ : "");
  }

  // Runs invitectl against the server through $INVITATIONS_ADDRESS.
  static ProgramResult Ctl(const std::vector<std::string>& args) {
    return RunProgram(INVITECTL_PATH, args,
                      {absl::StrCat("INVITATIONS_ADDRESS=", server_->address())});
  }

  // `mariadb -N -B` output of `sql` on the server's database, without the final newline.
  static std::string Sql(absl::string_view sql) {
    absl::StatusOr<std::string> out = SharedDb().Query(*database_, sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out)) : "";
  }

  struct Created {
    std::string id;
    std::string token;
  };

  // `invitectl create` of a VPN user; fails the test unless it succeeds.
  static Created Create(const std::string& email, const std::string& tenant) {
    const ProgramResult r =
        Ctl({"create", "--email", email, "--role", "vpn-user", "--tenant", tenant});
    EXPECT_EQ(r.exit_code, kOk) << r.err;
    return {Field(r.out, "id"), TokenOf(Field(r.out, "registration_url"))};
  }

  static std::string* database_;
  static std::string* start_error_;
  static ServerProcess* server_;
};

std::string* InvitectlEndToEnd::database_ = nullptr;
std::string* InvitectlEndToEnd::start_error_ = nullptr;
ServerProcess* InvitectlEndToEnd::server_ = nullptr;

TEST_F(InvitectlEndToEnd, CreatePrintsTheInvitationAndALinkThatValidates) {
  const std::string email = UniqueEmail("create");
  const std::string tenant = UniqueName("acme");
  const ProgramResult created =
      Ctl({"create", "--email", absl::StrCat("  ", absl::AsciiStrToUpper(email), " "), "--role",
           "tenant-admin", "--tenant", tenant});
  ASSERT_EQ(created.exit_code, kOk) << created.err;
  const std::string id = Field(created.out, "id");
  EXPECT_EQ(Field(created.out, "email"), email);  // trimmed and lower-cased by the server
  EXPECT_EQ(Field(created.out, "role"), "tenant-admin");
  EXPECT_EQ(Field(created.out, "tenant"), tenant);
  EXPECT_EQ(Field(created.out, "state"), "pending");
  const std::string url = Field(created.out, "registration_url");
  EXPECT_TRUE(absl::StartsWith(url, "https://register.example.test/register?token=")) << url;
  EXPECT_EQ(Sql(absl::StrCat(
                "SELECT id, email, role, tenant_id, state FROM invitations WHERE id = '", id, "'")),
            absl::StrCat(id, "\t", email, "\tTENANT_ADMIN\t", tenant, "\tPENDING"));

  const ProgramResult got = Ctl({"get", id});
  ASSERT_EQ(got.exit_code, kOk) << got.err;
  EXPECT_EQ(Field(got.out, "id"), id);
  EXPECT_EQ(Field(got.out, "email"), email);
  EXPECT_EQ(Field(got.out, "state"), "pending");
  EXPECT_THAT(got.out, Not(HasSubstr(TokenOf(url))));  // Get never returns the link

  const ProgramResult got_json = Ctl({"get", id, "--json"});
  ASSERT_EQ(got_json.exit_code, kOk) << got_json.err;
  v1::GetInvitationResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(got_json.out, &parsed).ok())
      << got_json.out;
  EXPECT_EQ(parsed.invitation().id(), id);
  EXPECT_EQ(parsed.invitation().state(), v1::INVITATION_STATE_PENDING);

  const ProgramResult valid = Ctl({"validate", TokenOf(url)});
  ASSERT_EQ(valid.exit_code, kOk) << valid.err;
  EXPECT_EQ(Field(valid.out, "valid"), "yes");
  EXPECT_EQ(Field(valid.out, "invitation_id"), id);
  EXPECT_EQ(Field(valid.out, "email"), email);
}

TEST_F(InvitectlEndToEnd, GetOfAnUnknownIdFailsWithNotFound) {
  const ProgramResult r = Ctl({"get", "00000000-0000-4000-8000-000000000000"});
  EXPECT_EQ(r.exit_code, kCallFailed);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(r.out, "");
}

TEST_F(InvitectlEndToEnd, ListPrintsATableNewestFirstAndFollowsPagesWithAll) {
  const std::string tenant = UniqueName("listed");
  std::vector<std::string> newest_first;
  for (int i = 0; i < 5; ++i) {
    const std::string email = UniqueEmail("list");
    Create(email, tenant);
    newest_first.insert(newest_first.begin(), email);
  }

  const ProgramResult all = Ctl({"list", "--tenant", tenant});
  ASSERT_EQ(all.exit_code, kOk) << all.err;
  const auto rows = TableRows(all.out);
  EXPECT_THAT(EmailsOf(rows), ElementsAreArray(newest_first));
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 6u);
    EXPECT_EQ(row[0], "pending");
    EXPECT_EQ(row[2], "vpn-user");
    EXPECT_EQ(row[3], tenant);
  }
  EXPECT_THAT(all.err, HasSubstr("5 of 5 invitations"));

  // One page of two, then the next page through the printed token.
  const ProgramResult first = Ctl({"list", "--tenant", tenant, "--page-size", "2"});
  ASSERT_EQ(first.exit_code, kOk) << first.err;
  EXPECT_THAT(EmailsOf(TableRows(first.out)), ElementsAre(newest_first[0], newest_first[1]));
  EXPECT_THAT(first.err, HasSubstr("2 of 5 invitations; next page: --page-token "));
  std::string token(first.err.substr(first.err.find("--page-token ") + 13));
  token = token.substr(0, token.find(' '));
  const ProgramResult second =
      Ctl({"list", "--tenant", tenant, "--page-size", "2", "--page-token", token});
  ASSERT_EQ(second.exit_code, kOk) << second.err;
  EXPECT_THAT(EmailsOf(TableRows(second.out)), ElementsAre(newest_first[2], newest_first[3]));

  const ProgramResult followed = Ctl({"list", "--tenant", tenant, "--page-size", "2", "--all"});
  ASSERT_EQ(followed.exit_code, kOk) << followed.err;
  EXPECT_THAT(EmailsOf(TableRows(followed.out)), ElementsAreArray(newest_first));
  EXPECT_THAT(followed.err, HasSubstr("5 of 5 invitations"));
  EXPECT_THAT(followed.err, Not(HasSubstr("next page")));

  const ProgramResult json =
      Ctl({"list", "--tenant", tenant, "--page-size", "2", "--all", "--json"});
  ASSERT_EQ(json.exit_code, kOk) << json.err;
  v1::ListInvitationsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok()) << json.out;
  std::vector<std::string> json_emails;
  for (const v1::Invitation& inv : parsed.invitations()) {
    json_emails.push_back(inv.email());
    EXPECT_EQ(inv.tenant_id(), tenant);
    EXPECT_EQ(inv.role(), v1::ROLE_VPN_USER);
  }
  EXPECT_THAT(json_emails, ElementsAreArray(newest_first));
  EXPECT_EQ(parsed.total_size(), 5);
  EXPECT_EQ(parsed.next_page_token(), "");
}

TEST_F(InvitectlEndToEnd, ResendKillsThePreviousLink) {
  const Created created = Create(UniqueEmail("resend"), UniqueName("t"));
  const ProgramResult resent = Ctl({"resend", created.id});
  ASSERT_EQ(resent.exit_code, kOk) << resent.err;
  EXPECT_EQ(Field(resent.out, "state"), "pending");
  EXPECT_EQ(Field(resent.out, "emails_sent"), "2");
  const std::string new_token = TokenOf(Field(resent.out, "registration_url"));
  ASSERT_FALSE(new_token.empty()) << resent.out;
  EXPECT_NE(new_token, created.token);

  const ProgramResult old_link = Ctl({"validate", created.token});
  EXPECT_EQ(old_link.exit_code, kCallFailed);
  EXPECT_THAT(old_link.err, HasSubstr("NOT_FOUND"));
  EXPECT_THAT(old_link.err, HasSubstr("reason: INVITATION_TOKEN_INVALID"));
  EXPECT_EQ(old_link.out, "");

  const ProgramResult new_link = Ctl({"validate", new_token});
  EXPECT_EQ(new_link.exit_code, kOk) << new_link.err;
  EXPECT_EQ(Field(new_link.out, "invitation_id"), created.id);
}

TEST_F(InvitectlEndToEnd, RevokedLinkFailsValidationWithTheReason) {
  const Created created = Create(UniqueEmail("revoke"), UniqueName("t"));
  const ProgramResult revoked = Ctl({"revoke", created.id, "--reason", "left the company"});
  ASSERT_EQ(revoked.exit_code, kOk) << revoked.err;
  EXPECT_EQ(Field(revoked.out, "state"), "revoked");
  EXPECT_EQ(Field(revoked.out, "revoke_reason"), "left the company");
  EXPECT_EQ(Sql(absl::StrCat("SELECT state FROM invitations WHERE id = '", created.id, "'")),
            "REVOKED");

  const ProgramResult link = Ctl({"validate", created.token});
  EXPECT_EQ(link.exit_code, kCallFailed);
  EXPECT_THAT(link.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(link.err, HasSubstr("reason: INVITATION_REVOKED"));

  // Revoking again is refused: revoke is allowed from PENDING only.
  const ProgramResult again = Ctl({"revoke", created.id});
  EXPECT_EQ(again.exit_code, kCallFailed);
  EXPECT_THAT(again.err, HasSubstr("FAILED_PRECONDITION"));
}

// `policy set` changes only the flags given and prints the policy with its etag; `policy get`
// shows it; a stale --etag is refused, and so is a bad value, naming the field.
TEST_F(InvitectlEndToEnd, PolicySetChangesOnlyTheFlagsGivenAndGetShowsIt) {
  const std::string tenant = UniqueName("pol");
  const ProgramResult fresh = Ctl({"policy", "get", tenant});
  ASSERT_EQ(fresh.exit_code, kOk) << fresh.err;
  EXPECT_EQ(Field(fresh.out, "allowed_email_domains"), "any");
  EXPECT_EQ(Field(fresh.out, "etag"), "-");

  const ProgramResult set = Ctl({"policy", "set", tenant, "--domains", "Example.com, bücher.de",
                                 "--locale", "de-at", "--default-ttl", "2d"});
  ASSERT_EQ(set.exit_code, kOk) << set.err;
  EXPECT_EQ(Field(set.out, "allowed_email_domains"), "example.com,xn--bcher-kva.de");
  EXPECT_EQ(Field(set.out, "default_locale"), "de-AT");
  EXPECT_EQ(Field(set.out, "default_ttl"), "48h");
  EXPECT_EQ(Field(set.out, "max_pending_invitations"), "no limit");
  const std::string etag = Field(set.out, "etag");
  ASSERT_NE(etag, "-");

  const ProgramResult quota = Ctl({"policy", "set", tenant, "--max-pending", "5", "--etag", etag});
  ASSERT_EQ(quota.exit_code, kOk) << quota.err;
  const ProgramResult got = Ctl({"policy", "get", tenant});
  EXPECT_EQ(Field(got.out, "max_pending_invitations"), "5");
  EXPECT_EQ(Field(got.out, "default_locale"), "de-AT") << "untouched by the second set";
  EXPECT_EQ(Sql(absl::StrCat("SELECT version FROM tenant_policies WHERE tenant_id = '", tenant,
                             "'")),
            "2");

  const ProgramResult stale = Ctl({"policy", "set", tenant, "--max-pending", "6", "--etag", etag});
  EXPECT_EQ(stale.exit_code, kCallFailed);
  EXPECT_THAT(stale.err, HasSubstr("ABORTED"));
  EXPECT_THAT(stale.err, HasSubstr("POLICY_ETAG_MISMATCH"));

  const ProgramResult bad = Ctl({"policy", "set", tenant, "--domains", "not a domain"});
  EXPECT_EQ(bad.exit_code, kCallFailed);
  EXPECT_THAT(bad.err, HasSubstr("policy.allowed_email_domains[0]"));

  const ProgramResult nothing = Ctl({"policy", "set", tenant});
  EXPECT_EQ(nothing.exit_code, 2) << "a usage error";
  EXPECT_THAT(nothing.err, HasSubstr("needs at least one of"));
}

TEST_F(InvitectlEndToEnd, BadEmailPrintsTheFieldViolation) {
  const std::string tenant = UniqueName("t");
  const ProgramResult r =
      Ctl({"create", "--email", "not-an-email", "--role", "vpn-user", "--tenant", tenant});
  EXPECT_EQ(r.exit_code, kCallFailed);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(r.err, HasSubstr("field email: "));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE tenant_id = '", tenant, "'")),
            "0");
}

TEST_F(InvitectlEndToEnd, ServicesListsTheInvitationServiceThroughReflection) {
  const ProgramResult r = Ctl({"services"});
  ASSERT_EQ(r.exit_code, kOk) << r.err;
  const std::vector<std::string> services = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  EXPECT_THAT(services, ::testing::Contains("securelink.invitations.v1.InvitationService"));
}

// `invitectl health` is the container HEALTHCHECK (deploy/Dockerfile): a migrated server
// answers SERVING for the InvitationService; a name the server does not serve is an error.
TEST_F(InvitectlEndToEnd, HealthIsServingForTheInvitationService) {
  const ProgramResult r = Ctl({"health"});
  EXPECT_EQ(r.exit_code, kOk) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  const ProgramResult unknown = Ctl({"health", "--service", "no.such.Service"});
  EXPECT_EQ(unknown.exit_code, kCallFailed);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
}

TEST_F(InvitectlEndToEnd, BulkCsvStreamsEveryOutcomeAndItsSummaryMatchesTheDatabase) {
  const std::string tenant = UniqueName("bulk");
  const std::string new1 = UniqueEmail("new1");
  const std::string new2 = UniqueEmail("new2");
  const std::string new3 = UniqueEmail("new3");
  const std::string pending = UniqueEmail("pending");
  // The active invitation lives in another tenant: one active invitation per email, across all.
  const Created existing = Create(pending, UniqueName("other"));

  const std::string csv = absl::StrCat(
      "name,email,team\r\n",                   // line 1
      "\"Lovelace, Ada\",", new1, ",eng\r\n",  // line 2: created
      "Pat Pending,", pending, ",ops\r\n",     // line 3: skipped (pending)
      "\"Ada \"\"again\"\"\",", absl::AsciiStrToUpper(new1), ",eng\r\n",  // line 4: duplicate
      "Bad,not-an-email,eng\r\n",                                         // line 5: invalid
      "Grace,", new2, ",\"multi\r\nline team\"\r\n",                      // lines 6-7: created
      "Linus,\"", new3, "\",eng\r\n");                                    // line 8: created
  const std::string file = WriteTempFile("bulk.csv", csv);

  const ProgramResult r =
      Ctl({"bulk", "--csv", file, "--role", "vpn-user", "--tenant", tenant, "--suppress-email"});
  EXPECT_EQ(r.exit_code, kBulkIncomplete) << r.err;
  std::string summary;
  const std::vector<BulkLine> lines = BulkLines(r.out, &summary);
  ASSERT_EQ(lines.size(), 6u) << r.out;

  const std::vector<std::pair<int, std::string>> expected = {
      {2, "created"},       {3, "skipped-pending"}, {4, "skipped-duplicate"},
      {5, "invalid-email"}, {6, "created"},         {8, "created"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(lines[i].line, expected[i].first) << r.out;
    EXPECT_EQ(lines[i].outcome, expected[i].second) << r.out;
  }
  EXPECT_EQ(lines[0].input, new1);
  EXPECT_EQ(lines[4].input, new2);
  EXPECT_EQ(lines[5].input, new3);
  EXPECT_THAT(lines[3].message, HasSubstr("email"));  // says what is wrong with the address
  EXPECT_EQ(summary, "total 6: created 3, skipped 2, invalid 1, failed 0");

  // What the summary claims is what the database holds: three new rows in the tenant, carrying
  // the ids the results reported, and the existing invitation untouched.
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE tenant_id = '", tenant, "'")),
            "3");
  const std::string rows =
      Sql(absl::StrCat("SELECT email, state, role FROM invitations WHERE tenant_id = '", tenant,
                       "' ORDER BY email"));
  EXPECT_THAT(std::vector<std::string>(absl::StrSplit(rows, '\n')),
              UnorderedElementsAre(absl::StrCat(new1, "\tPENDING\tVPN_USER"),
                                   absl::StrCat(new2, "\tPENDING\tVPN_USER"),
                                   absl::StrCat(new3, "\tPENDING\tVPN_USER")));
  for (size_t i : {0, 4, 5}) {
    EXPECT_EQ(Sql(absl::StrCat("SELECT email FROM invitations WHERE id = '", lines[i].invitation_id,
                               "'")),
              lines[i].input)
        << "result " << i << " reported id " << lines[i].invitation_id;
  }
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE email = '", pending, "'")),
            "1");
  EXPECT_EQ(Sql(absl::StrCat("SELECT state FROM invitations WHERE id = '", existing.id, "'")),
            "PENDING");
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM invitations WHERE email LIKE 'not-an-email%'"), "0");
}

TEST_F(InvitectlEndToEnd, BulkTextOfOnlyNewAddressesExitsZero) {
  const std::string tenant = UniqueName("text");
  std::vector<std::string> emails;
  for (int i = 0; i < 4; ++i) emails.push_back(UniqueEmail("text"));
  const std::string file = WriteTempFile(
      "bulk.txt",
      absl::StrCat(emails[0], "\n\n", emails[1], ", ", emails[2], ";", emails[3], "\n"));

  const ProgramResult r = Ctl({"bulk", "--text", file, "--role", "vpn-user", "--tenant", tenant});
  EXPECT_EQ(r.exit_code, kOk) << r.err;
  std::string summary;
  const std::vector<BulkLine> lines = BulkLines(r.out, &summary);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].outcome, "created") << r.out;
    EXPECT_EQ(lines[i].input, emails[i]) << r.out;
  }
  EXPECT_EQ(lines[0].line, 1);
  EXPECT_EQ(lines[3].line, 3);
  EXPECT_EQ(summary, "total 4: created 4, skipped 0, invalid 0, failed 0");
  EXPECT_EQ(Sql(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE tenant_id = '", tenant,
                             "' AND state = 'PENDING'")),
            "4");
}

}  // namespace
}  // namespace securelink::testing::e2e
