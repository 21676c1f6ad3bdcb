// invitectl's command-line grammar and the requests it builds.
#include "args.h"

#include "gtest/gtest.h"

namespace securelink::invitations::invitectl {
namespace {

absl::StatusOr<Invocation> Parse(std::vector<std::string> argv) { return ParseCommandLine(argv); }

FileReader Files(std::map<std::string, std::string> files) {
  return [files](const std::string& path) -> absl::StatusOr<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError("cannot read " + path + ": no such file");
    return it->second;
  };
}

TEST(ParseCommandLineTest, TakesFlagsAsSeparateOrInlineValuesAndBooleans) {
  absl::StatusOr<Invocation> parsed = Parse(
      {"create", "--email", "a@b.c", "--role=vpn-user", "--suppress-email", "--tenant", "t1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, "create");
  EXPECT_EQ(parsed->Get("email"), "a@b.c");
  EXPECT_EQ(parsed->Get("role"), "vpn-user");
  EXPECT_EQ(parsed->Get("tenant"), "t1");
  EXPECT_TRUE(parsed->GetBool("suppress-email"));
  EXPECT_FALSE(parsed->Has("ttl"));
}

TEST(ParseCommandLineTest, GlobalAndCommandFlagsMayPrecedeTheCommand) {
  absl::StatusOr<Invocation> parsed =
      Parse({"--address", "h:1", "--reason", "left", "revoke", "inv-1", "--json"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, "revoke");
  EXPECT_EQ(parsed->args, std::vector<std::string>{"inv-1"});
  EXPECT_EQ(parsed->Get("address"), "h:1");
  EXPECT_EQ(parsed->Get("reason"), "left");
  EXPECT_TRUE(parsed->GetBool("json"));
}

TEST(ParseCommandLineTest, BooleanFlagsAcceptExplicitValues) {
  absl::StatusOr<Invocation> parsed = Parse({"list", "--all=false", "--json=true"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->GetBool("all"));
  EXPECT_TRUE(parsed->GetBool("json"));
  EXPECT_FALSE(Parse({"list", "--all=maybe"}).ok());
}

TEST(ParseCommandLineTest, DoubleDashEndsFlagsSoATokenMayStartWithADash) {
  absl::StatusOr<Invocation> parsed = Parse({"validate", "--", "-abc_def"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->args, std::vector<std::string>{"-abc_def"});
}

TEST(ParseCommandLineTest, ATokenStartingWithOneDashIsAnArgumentWithoutDoubleDash) {
  absl::StatusOr<Invocation> parsed = Parse({"validate", "-5v1o_secret"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->args, std::vector<std::string>{"-5v1o_secret"});
  parsed = Parse({"accept", "-tok", "--first-name", "Ada"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->args, std::vector<std::string>{"-tok"});
  EXPECT_EQ(parsed->flags.at("first-name"), "Ada");
}

TEST(ParseCommandLineTest, HelpForms) {
  EXPECT_EQ(Parse({})->command, "help");
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_EQ(Parse({"help", "bulk"})->args, std::vector<std::string>{"bulk"});
  // --help wins over missing arguments.
  absl::StatusOr<Invocation> parsed = Parse({"get", "--help"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help);
  EXPECT_TRUE(Parse({"get", "-h"})->help);
}

TEST(ParseCommandLineTest, UsageErrorsNameTheProblem) {
  struct Case {
    std::vector<std::string> argv;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {{"frobnicate"}, "unknown command \"frobnicate\""},
      {{"get"}, "`get` needs ID"},
      {{"get", "a", "b"}, "unexpected argument \"b\""},
      {{"list", "--emails", "x"}, "unknown flag --emails for `list`"},
      {{"--emails", "x", "list"}, "unknown flag --emails for `list`"},
      {{"create", "--email"}, "--email needs a value"},
      {{"create", "-e", "x"}, "unexpected argument \"-e\" for `create`"},
      {{"create", "--nope"}, "unknown flag --nope"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Invocation> parsed = Parse(c.argv);
    ASSERT_FALSE(parsed.ok()) << c.argv[0];
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(c.message_part), std::string::npos)
        << parsed.status().message();
  }
}

TEST(ParseRoleTest, AcceptsCliAndEnumSpellings) {
  EXPECT_EQ(*ParseRole("vpn-user"), v1::ROLE_VPN_USER);
  EXPECT_EQ(*ParseRole("TENANT_ADMIN"), v1::ROLE_TENANT_ADMIN);
  EXPECT_EQ(*ParseRole("ROLE_SUPER_ADMIN"), v1::ROLE_SUPER_ADMIN);
  EXPECT_EQ(*ParseRole("Super-Admin"), v1::ROLE_SUPER_ADMIN);
  EXPECT_FALSE(ParseRole("admin").ok());
  EXPECT_FALSE(ParseRole("").ok());
}

TEST(ParseStatesTest, CommaListWithoutDuplicates) {
  absl::StatusOr<std::vector<v1::InvitationState>> states =
      ParseStates("pending, EXPIRED,pending,invitation_state_revoked");
  ASSERT_TRUE(states.ok()) << states.status();
  EXPECT_EQ(*states, (std::vector<v1::InvitationState>{v1::INVITATION_STATE_PENDING,
                                                       v1::INVITATION_STATE_EXPIRED,
                                                       v1::INVITATION_STATE_REVOKED}));
  EXPECT_FALSE(ParseStates("pending,gone").ok());
  EXPECT_FALSE(ParseStates(",").ok());
}

TEST(ParseDurationFlagTest, AbslSyntaxPlusDays) {
  EXPECT_EQ(*ParseDurationFlag("48h"), absl::Hours(48));
  EXPECT_EQ(*ParseDurationFlag("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("7d"), absl::Hours(168));
  EXPECT_FALSE(ParseDurationFlag("0s").ok());
  EXPECT_FALSE(ParseDurationFlag("-1h").ok());
  EXPECT_FALSE(ParseDurationFlag("48").ok());
  EXPECT_FALSE(ParseDurationFlag("inf").ok());
  EXPECT_FALSE(ParseDurationFlag("soon").ok());
}

TEST(BuildCreateRequestTest, FillsEveryFlag) {
  absl::StatusOr<v1::CreateInvitationRequest> request = BuildCreateRequest(
      *Parse({"create", "--email", "a@b.c", "--role", "tenant-admin", "--tenant", "acme", "--ttl",
              "48h", "--request-id", "r-1", "--suppress-email"}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->email(), "a@b.c");
  EXPECT_EQ(request->role(), v1::ROLE_TENANT_ADMIN);
  EXPECT_EQ(request->tenant_id(), "acme");
  EXPECT_EQ(request->ttl().seconds(), 48 * 3600);
  EXPECT_EQ(request->request_id(), "r-1");
  EXPECT_TRUE(request->suppress_email());
}

TEST(BuildCreateRequestTest, WithoutTtlTheFieldIsAbsentSoTheServerDefaultApplies) {
  absl::StatusOr<v1::CreateInvitationRequest> request = BuildCreateRequest(
      *Parse({"create", "--email", "a@b.c", "--role", "vpn-user", "--tenant", "acme"}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_FALSE(request->has_ttl());
}

TEST(BuildCreateRequestTest, EmailAndRoleAreRequiredTenantIsLeftToTheServer) {
  EXPECT_FALSE(BuildCreateRequest(*Parse({"create", "--role", "vpn-user"})).ok());
  EXPECT_FALSE(BuildCreateRequest(*Parse({"create", "--email", "a@b.c"})).ok());
  EXPECT_FALSE(
      BuildCreateRequest(*Parse({"create", "--email", "a@b.c", "--role", "vpn-user", "--ttl", "x"}))
          .ok());
  EXPECT_TRUE(
      BuildCreateRequest(*Parse({"create", "--email", "a@b.c", "--role", "vpn-user"})).ok());
}

TEST(BuildListRequestTest, FiltersAndPaging) {
  absl::StatusOr<v1::ListInvitationsRequest> request =
      BuildListRequest(*Parse({"list", "--tenant", "t", "--state", "pending,expired",
                               "--email-query", "bob", "--page-size", "20", "--page-token", "p"}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->tenant_id(), "t");
  ASSERT_EQ(request->states_size(), 2);
  EXPECT_EQ(request->states(1), v1::INVITATION_STATE_EXPIRED);
  EXPECT_EQ(request->email_query(), "bob");
  EXPECT_EQ(request->page_size(), 20);
  EXPECT_EQ(request->page_token(), "p");
  EXPECT_FALSE(BuildListRequest(*Parse({"list", "--page-size", "0"})).ok());
  EXPECT_FALSE(BuildListRequest(*Parse({"list", "--page-size", "ten"})).ok());
}

TEST(BuildBulkRequestTest, TakesExactlyOneSource) {
  const FileReader files = Files({{"in.csv", "email\na@b.c\n"}, {"in.txt", "a@b.c; c@d.e"}});
  absl::StatusOr<v1::BulkInviteRequest> csv = BuildBulkRequest(
      *Parse({"bulk", "--csv", "in.csv", "--role", "vpn-user", "--tenant", "t", "--validate-only"}),
      files);
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(csv->csv(), "email\na@b.c\n");
  EXPECT_TRUE(csv->validate_only());

  absl::StatusOr<v1::BulkInviteRequest> text =
      BuildBulkRequest(*Parse({"bulk", "--text", "in.txt", "--role", "vpn-user"}), files);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->text(), "a@b.c; c@d.e");

  absl::StatusOr<v1::BulkInviteRequest> list =
      BuildBulkRequest(*Parse({"bulk", "--emails", "a@b.c, c@d.e,,", "--role", "vpn-user"}), files);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->emails().emails_size(), 2);
  EXPECT_EQ(list->emails().emails(1), "c@d.e");

  EXPECT_FALSE(BuildBulkRequest(*Parse({"bulk", "--role", "vpn-user"}), files).ok());
  EXPECT_FALSE(
      BuildBulkRequest(
          *Parse({"bulk", "--csv", "in.csv", "--emails", "a@b.c", "--role", "vpn-user"}), files)
          .ok());
  absl::StatusOr<v1::BulkInviteRequest> missing =
      BuildBulkRequest(*Parse({"bulk", "--csv", "nope.csv", "--role", "vpn-user"}), files);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.csv"), std::string::npos);
}

TEST(BuildAcceptRequestTest, PasswordIsTheFilesFirstLine) {
  const FileReader files = Files({{"pw", "s3cret pass\r\nignored\n"}, {"empty", "\n"}});
  absl::StatusOr<v1::AcceptInvitationRequest> request =
      BuildAcceptRequest(*Parse({"accept", "tok", "--password-file", "pw", "--first-name", "Ada",
                                 "--last-name", "Lovelace", "--username", "ada"}),
                         files);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->token(), "tok");
  EXPECT_EQ(request->password(), "s3cret pass");
  EXPECT_EQ(request->first_name(), "Ada");
  EXPECT_EQ(request->last_name(), "Lovelace");
  EXPECT_EQ(request->username(), "ada");
  EXPECT_FALSE(BuildAcceptRequest(*Parse({"accept", "tok", "--password-file", "empty",
                                          "--first-name", "A", "--last-name", "L"}),
                                  files)
                   .ok());
  EXPECT_FALSE(
      BuildAcceptRequest(*Parse({"accept", "tok", "--first-name", "A", "--last-name", "L"}), files)
          .ok());
}

TEST(EstimateBulkAddressesTest, CountsWhatTheServerWillReport) {
  v1::BulkInviteRequest request;
  request.set_text("a@b.c\n\nc@d.e, e@f.g;\n");
  EXPECT_EQ(EstimateBulkAddresses(request), 3);
  request.set_csv("Email,Name\na@b.c,A\nc@d.e,C\n");
  EXPECT_EQ(EstimateBulkAddresses(request), 2);
  request.set_csv("a@b.c\nc@d.e");
  EXPECT_EQ(EstimateBulkAddresses(request), 2);
  request.mutable_emails()->add_emails("x");
  EXPECT_EQ(EstimateBulkAddresses(request), 1);
}

TEST(BuildWatchRequestTest, EventsStopsAfterTheReplayUnlessFollowing) {
  absl::StatusOr<Invocation> listed = Parse({"events", "--after", "42", "--tenant", "acme"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  absl::StatusOr<v1::WatchInvitationEventsRequest> once = BuildWatchRequest(*listed);
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->after_event_id(), "42");
  EXPECT_EQ(once->tenant_id(), "acme");
  EXPECT_TRUE(once->replay_only());

  absl::StatusOr<Invocation> followed = Parse({"events", "--follow"});
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_FALSE(BuildWatchRequest(*followed)->replay_only());
  absl::StatusOr<Invocation> watched = Parse({"watch"});
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_FALSE(BuildWatchRequest(*watched)->replay_only());
}



}  // namespace
}  // namespace securelink::invitations::invitectl
