// BulkInvite (SPEC §3) over real gRPC against a real MariaDB: outcomes per address in
// input order, one summary that adds up, chunked atomic writes, flow control and cancellation.
#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using ::testing::HasSubstr;

struct BulkRun {
  std::vector<pb::BulkInviteResult> results;
  std::vector<pb::BulkInviteSummary> summaries;
  grpc::Status status;
};

BulkRun RunBulk(TestServer& server, const pb::BulkInviteRequest& req) {
  BulkRun run;
  auto ctx = Context(absl::Seconds(120));
  auto reader = server.stub().BulkInvite(ctx.get(), req);
  pb::BulkInviteResponse resp;
  while (reader->Read(&resp)) {
    if (resp.has_result()) {
      EXPECT_TRUE(run.summaries.empty()) << "a result after the summary";
      run.results.push_back(resp.result());
    } else {
      run.summaries.push_back(resp.summary());
    }
  }
  run.status = reader->Finish();
  return run;
}

int64_t CountRows(TestServer& server, const std::string& where) {
  absl::StatusOr<std::string> out = SharedMariaDb().Query(
      server.database(), absl::StrCat("SELECT COUNT(*) FROM invitations WHERE ", where));
  EXPECT_TRUE(out.ok()) << out.status();
  int64_t n = -1;
  if (out.ok()) (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &n);
  return n;
}


class BulkInviteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TestServerOptions options;
    options.bulk_max_addresses = 20000;
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() { delete server_; }

  std::string CreatePending(const std::string& email, const std::string& tenant) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    pb::CreateInvitationResponse resp;
    grpc::Status s = server_->stub().CreateInvitation(Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.invitation().id();
  }

  static TestServer* server_;
};

TestServer* BulkInviteTest::server_ = nullptr;

TEST_F(BulkInviteTest, TenThousandMixedAddressesEachGetTheirOutcomeInInputOrder) {
  const std::string tenant = UniqueTenant();
  const std::string prefix = absl::StrCat("bulk.", tenant);
  // 50 addresses already invited (in another tenant: the rule is across tenants).
  std::map<std::string, std::string> pending;
  for (int i = 0; i < 50; ++i) {
    std::string email = absl::StrCat(prefix, ".old", i, "@example.com");
    pending[email] = CreatePending(email, "elsewhere");
  }
  struct Expect {
    std::string input;
    pb::BulkInviteOutcome outcome;
  };
  std::vector<Expect> expected;
  std::string csv = "name,Email,team\r\n";
  int line = 1;
  auto add = [&](const std::string& input, pb::BulkInviteOutcome outcome) {
    expected.push_back({input, outcome});
    absl::StrAppend(&csv, "\"Person, ", line, "\",", input, ",ops\r\n");
    ++line;
  };
  int fresh = 0;
  for (int i = 0; expected.size() < 10000; ++i) {
    if (i % 200 == 7) {
      add(absl::StrCat(prefix, ".old", (i / 200) % 50, "@example.com"),
          pb::BULK_INVITE_OUTCOME_SKIPPED_PENDING);
    } else if (i % 97 == 3) {
      add(absl::StrCat("not-an-address-", i), pb::BULK_INVITE_OUTCOME_INVALID_EMAIL);
    } else if (i % 101 == 5 && fresh > 0) {
      // The same address as the previous fresh one, in upper case.
      add(absl::AsciiStrToUpper(absl::StrCat(prefix, ".new", fresh - 1, "@example.com")),
          pb::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE);
    } else {
      add(absl::StrCat(prefix, ".new", fresh++, "@example.com"), pb::BULK_INVITE_OUTCOME_CREATED);
    }
  }
  pb::BulkInviteRequest req;
  req.set_csv(csv);
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  BulkRun run = RunBulk(*server_, req);
  ASSERT_THAT(run.status, IsOk());
  ASSERT_EQ(run.results.size(), expected.size());
  ASSERT_EQ(run.summaries.size(), 1u);
  int created = 0, skipped = 0, invalid = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const pb::BulkInviteResult& r = run.results[i];
    ASSERT_EQ(r.input(), expected[i].input) << i;
    ASSERT_EQ(r.line(), static_cast<int>(i) + 2) << i;  // line 1 is the header
    ASSERT_EQ(r.outcome(), expected[i].outcome) << i << " " << r.input() << " " << r.message();
    switch (r.outcome()) {
      case pb::BULK_INVITE_OUTCOME_CREATED:
        ++created;
        EXPECT_EQ(r.invitation_id().size(), 36u);
        EXPECT_EQ(r.email(), absl::AsciiStrToLower(r.input()));
        break;
      case pb::BULK_INVITE_OUTCOME_SKIPPED_PENDING:
        ++skipped;
        EXPECT_EQ(r.invitation_id(), pending[r.input()]);
        break;
      case pb::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE:
        ++skipped;
        EXPECT_THAT(r.message(), HasSubstr("line"));
        break;
      case pb::BULK_INVITE_OUTCOME_INVALID_EMAIL:
        ++invalid;
        EXPECT_FALSE(r.message().empty());
        break;
      default:
        ADD_FAILURE() << "unexpected outcome for " << r.input() << ": " << r.message();
    }
  }
  const pb::BulkInviteSummary& summary = run.summaries[0];
  EXPECT_EQ(summary.total(), 10000);
  EXPECT_EQ(summary.created(), created);
  EXPECT_EQ(summary.skipped(), skipped);
  EXPECT_EQ(summary.invalid(), invalid);
  EXPECT_EQ(summary.failed(), 0);
  EXPECT_EQ(summary.created() + summary.skipped() + summary.invalid() + summary.failed(), 10000);
  EXPECT_EQ(CountRows(*server_, absl::StrCat("tenant_id = '", tenant, "' AND state = 'PENDING'")),
            created);
  absl::StatusOr<std::string> events = SharedMariaDb().Query(
      server_->database(), absl::StrCat("SELECT COUNT(*) FROM invitation_events WHERE tenant_id = '",
                                        tenant, "' AND type = 'CREATED'"));
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*events)), absl::StrCat(created));
}

TEST_F(BulkInviteTest, TextAndListSourcesReportLinesAndPositions) {
  const std::string tenant = UniqueTenant();
  pb::BulkInviteRequest req;
  req.set_text(absl::StrCat("a.", tenant, "@example.com, b.", tenant, "@example.com\n\n",
                            "c.", tenant, "@example.com;bad\n"));
  req.set_role(pb::ROLE_TENANT_ADMIN);
  req.set_tenant_id(tenant);
  BulkRun run = RunBulk(*server_, req);
  ASSERT_THAT(run.status, IsOk());
  ASSERT_EQ(run.results.size(), 4u);
  EXPECT_EQ(run.results[0].line(), 1);
  EXPECT_EQ(run.results[1].line(), 1);
  EXPECT_EQ(run.results[2].line(), 3);
  EXPECT_EQ(run.results[3].line(), 3);
  EXPECT_EQ(run.results[3].outcome(), pb::BULK_INVITE_OUTCOME_INVALID_EMAIL);

  pb::BulkInviteRequest list;
  list.mutable_emails()->add_emails(absl::StrCat("d.", tenant, "@example.com"));
  list.mutable_emails()->add_emails("");
  list.mutable_emails()->add_emails(absl::StrCat("a.", tenant, "@example.com"));
  list.set_role(pb::ROLE_VPN_USER);
  list.set_tenant_id(tenant);
  BulkRun listed = RunBulk(*server_, list);
  ASSERT_THAT(listed.status, IsOk());
  ASSERT_EQ(listed.results.size(), 3u);
  EXPECT_EQ(listed.results[0].outcome(), pb::BULK_INVITE_OUTCOME_CREATED);
  EXPECT_EQ(listed.results[1].line(), 2);
  EXPECT_EQ(listed.results[1].outcome(), pb::BULK_INVITE_OUTCOME_INVALID_EMAIL);
  EXPECT_EQ(listed.results[2].outcome(), pb::BULK_INVITE_OUTCOME_SKIPPED_PENDING);
  EXPECT_EQ(listed.results[2].invitation_id(), run.results[0].invitation_id());
}

TEST_F(BulkInviteTest, ValidateOnlyDecidesEverythingAndWritesNothing) {
  const std::string tenant = UniqueTenant();
  const std::string existing = absl::StrCat("exists.", tenant, "@example.com");
  CreatePending(existing, tenant);
  const int64_t before = CountRows(*server_, "1=1");
  pb::BulkInviteRequest req;
  req.set_text(absl::StrCat("new.", tenant, "@example.com\n", existing, "\nnope\nNEW.", tenant,
                            "@example.com"));
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  req.set_validate_only(true);
  BulkRun run = RunBulk(*server_, req);
  ASSERT_THAT(run.status, IsOk());
  ASSERT_EQ(run.results.size(), 4u);
  EXPECT_EQ(run.results[0].outcome(), pb::BULK_INVITE_OUTCOME_CREATED);
  EXPECT_EQ(run.results[0].invitation_id(), "");
  EXPECT_EQ(run.results[1].outcome(), pb::BULK_INVITE_OUTCOME_SKIPPED_PENDING);
  EXPECT_EQ(run.results[2].outcome(), pb::BULK_INVITE_OUTCOME_INVALID_EMAIL);
  EXPECT_EQ(run.results[3].outcome(), pb::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE);
  ASSERT_EQ(run.summaries.size(), 1u);
  EXPECT_EQ(run.summaries[0].created(), 1);
  EXPECT_EQ(CountRows(*server_, "1=1"), before);
}

TEST_F(BulkInviteTest, RequestLevelProblemsFailTheCallBeforeAnyResult) {
  struct Case {
    std::string name;
    std::function<void(pb::BulkInviteRequest&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"no source", [](auto& r) { r.clear_source(); }, "source"},
      {"no role", [](auto& r) { r.set_role(pb::ROLE_UNSPECIFIED); }, "role"},
      {"no tenant for vpn users", [](auto& r) { r.set_tenant_id(""); }, "tenant_id"},
      {"bad tenant", [](auto& r) { r.set_tenant_id("a b"); }, "tenant_id"},
      {"bad ttl", [](auto& r) { r.mutable_ttl()->set_seconds(5); }, "ttl"},
      {"unterminated quote",
       [](auto& r) { r.set_csv("email\nok@example.com\n\"broken@example.com\nmore\n"); }, "csv"},
      {"too many addresses",
       [](auto& r) {
         std::string text;
         for (int i = 0; i < 20001; ++i) absl::StrAppend(&text, "x", i, "@example.com\n");
         r.set_text(text);
       },
       "text"},
  };
  for (const Case& c : cases) {
    pb::BulkInviteRequest req;
    req.set_text("someone@example.com");
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id("acme");
    c.mutate(req);
    BulkRun run = RunBulk(*server_, req);
    EXPECT_THAT(run.status, StatusIs(absl::StatusCode::kInvalidArgument)) << c.name;
    EXPECT_THAT(ViolatedFields(run.status), ::testing::Contains(c.field)) << c.name;
    EXPECT_TRUE(run.results.empty()) << c.name;
    EXPECT_TRUE(run.summaries.empty()) << c.name;
    if (c.name == "unterminated quote") {
      EXPECT_THAT(run.status.error_message(), HasSubstr("line 3")) << c.name;
    }
  }
}

TEST_F(BulkInviteTest, AnEmptyInputStillGetsASummary) {
  pb::BulkInviteRequest req;
  req.set_text("\n\n");
  req.set_role(pb::ROLE_SUPER_ADMIN);
  BulkRun run = RunBulk(*server_, req);
  ASSERT_THAT(run.status, IsOk());
  EXPECT_TRUE(run.results.empty());
  ASSERT_EQ(run.summaries.size(), 1u);
  EXPECT_EQ(run.summaries[0].total(), 0);
}

std::string ManyAddresses(const std::string& tag, int n) {
  std::string text;
  for (int i = 0; i < n; ++i) absl::StrAppend(&text, tag, ".", i, "@example.com\n");
  return text;
}

// A reader that stops reading holds the server back: it does not decide (and write) the whole
// bulk ahead of the reader, and resumes when the reader does.
TEST_F(BulkInviteTest, ASlowReaderHoldsProductionBack) {
  const std::string tenant = UniqueTenant();
  grpc::ChannelArguments args;
  args.SetInt("grpc.http2.lookahead_bytes", 16 * 1024);  // a small receive window
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto channel = grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
  auto stub = pb::InvitationService::NewStub(channel);
  pb::BulkInviteRequest req;
  req.set_text(ManyAddresses(absl::StrCat("slow.", tenant), 10000));
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  auto ctx = Context(absl::Seconds(120));
  auto reader = stub->BulkInvite(ctx.get(), req);
  pb::BulkInviteResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  // Let the server run until it stops making progress on its own.
  const std::string where = absl::StrCat("tenant_id = '", tenant, "'");
  int64_t last = -1;
  ASSERT_TRUE(WaitFor([&] {
    int64_t now = CountRows(*server_, where);
    bool stable = now == last && server_->pool().in_use() == 0;
    last = now;
    if (!stable) absl::SleepFor(absl::Milliseconds(300));
    return stable;
  }));
  EXPECT_LT(last, 5000) << "the server decided most of the bulk ahead of a stalled reader";
  int results = 1;
  bool summary = false;
  while (reader->Read(&resp)) {
    if (resp.has_result()) ++results;
    if (resp.has_summary()) summary = true;
  }
  EXPECT_THAT(reader->Finish(), IsOk());
  EXPECT_EQ(results, 10000);
  EXPECT_TRUE(summary);
  EXPECT_EQ(CountRows(*server_, where), 10000);
}

// Cancelling mid-stream stops the work, leaves whole chunks only, and the server keeps serving.
TEST_F(BulkInviteTest, CancellationMidStreamLeavesWholeChunksAndAHealthyServer) {
  const std::string tenant = UniqueTenant();
  pb::BulkInviteRequest req;
  req.set_text(ManyAddresses(absl::StrCat("cancel.", tenant), 10000));
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  grpc::ClientContext ctx;
  auto reader = server_->stub().BulkInvite(&ctx, req);
  pb::BulkInviteResponse resp;
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(reader->Read(&resp));
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  ASSERT_TRUE(WaitFor([&] {
    return server_->pool().in_use() == 0 && server_->workers().queue_depth() == 0;
  }));
  const int64_t written = CountRows(*server_, absl::StrCat("tenant_id = '", tenant, "'"));
  EXPECT_GE(written, 600);
  EXPECT_LT(written, 10000);
  EXPECT_EQ(written % 500, 0) << "a chunk was half-written";
  CreatePending(UniqueEmail("after-cancel"), tenant);
}

// Bulk and single creates racing on the same addresses: each address ends with exactly one
// active invitation, and the bulk reports the others as skipped, never as failed.
TEST_F(BulkInviteTest, RacingCreatesNeverYieldTwoActiveInvitations) {
  const std::string tenant = UniqueTenant();
  const std::string tag = absl::StrCat("race.", tenant);
  pb::BulkInviteRequest req;
  req.set_text(ManyAddresses(tag, 2000));
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  std::thread singles([&] {
    for (int i = 1999; i >= 0; i -= 7) {
      pb::CreateInvitationRequest c;
      c.set_email(absl::StrCat(tag, ".", i, "@example.com"));
      c.set_role(pb::ROLE_VPN_USER);
      c.set_tenant_id("singles");
      pb::CreateInvitationResponse r;
      grpc::Status s = server_->stub().CreateInvitation(Context().get(), c, &r);
      EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
    }
  });
  BulkRun run = RunBulk(*server_, req);
  singles.join();
  ASSERT_THAT(run.status, IsOk());
  ASSERT_EQ(run.summaries.size(), 1u);
  EXPECT_EQ(run.summaries[0].failed(), 0);
  for (const auto& r : run.results) {
    if (r.outcome() == pb::BULK_INVITE_OUTCOME_FAILED) {
      ADD_FAILURE() << "line " << r.line() << ": " << r.message();
      break;
    }
  }
  EXPECT_EQ(run.summaries[0].created() + run.summaries[0].skipped(), 2000);
  EXPECT_EQ(CountRows(*server_, absl::StrCat("email LIKE '", tag, ".%' AND state = 'PENDING'")), 2000);
}

}  // namespace
}  // namespace securelink::testing
