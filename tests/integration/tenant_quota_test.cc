// The pending quota (SPEC §11) against a real MariaDB over real gRPC: never more than
// max_pending_invitations PENDING invitations per tenant, under concurrent Creates from one
// replica and concurrent BulkInvites from two server processes on one database; accept, revoke
// and expiry free places; Resend of an expired invitation needs one; lowering the limit below
// today's count refuses new invitations and touches none that exist.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/e2e_support.h"
#include "tests/integration/accept_environment.h"
#include "tests/ops/ops_support.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

grpc::Status SetQuota(pb::InvitationService::Stub& stub, const std::string& tenant, int limit) {
  pb::UpdateTenantPolicyRequest req;
  req.mutable_policy()->set_tenant_id(tenant);
  req.mutable_policy()->set_max_pending_invitations(limit);
  req.mutable_update_mask()->add_paths("max_pending_invitations");
  pb::UpdateTenantPolicyResponse resp;
  return stub.UpdateTenantPolicy(Context().get(), req, &resp);
}

grpc::Status Create(pb::InvitationService::Stub& stub, const std::string& tenant,
                    pb::Invitation* out = nullptr) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("quota"));
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  req.set_suppress_email(true);
  pb::CreateInvitationResponse resp;
  grpc::Status s = stub.CreateInvitation(Context().get(), req, &resp);
  if (out != nullptr) *out = resp.invitation();
  return s;
}

void ExpectLimitReached(const grpc::Status& s) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("max_pending_invitations"));
  EXPECT_THAT(s.error_details(), HasSubstr("TENANT_PENDING_LIMIT_REACHED"));
}

struct BulkOutcomes {
  std::map<pb::BulkInviteOutcome, int> counts;
  pb::BulkInviteSummary summary;
  grpc::Status status;
};

BulkOutcomes Bulk(pb::InvitationService::Stub& stub, const std::string& tenant,
                  const std::vector<std::string>& emails, bool validate_only = false) {
  pb::BulkInviteRequest req;
  for (const std::string& e : emails) req.mutable_emails()->add_emails(e);
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  req.set_suppress_email(true);
  req.set_validate_only(validate_only);
  std::unique_ptr<grpc::ClientContext> ctx = Context(absl::Seconds(60));
  auto reader = stub.BulkInvite(ctx.get(), req);
  BulkOutcomes out;
  pb::BulkInviteResponse resp;
  while (reader->Read(&resp)) {
    if (resp.has_result()) ++out.counts[resp.result().outcome()];
    if (resp.has_summary()) out.summary = resp.summary();
  }
  out.status = reader->Finish();
  return out;
}

class TenantQuotaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { env_ = AcceptEnvironment::Start().release(); }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(env_, nullptr); }

  static pb::InvitationService::Stub& stub() { return env_->stub(); }
  static int64_t Pending(const std::string& tenant) {
    int64_t n = -1;
    EXPECT_TRUE(absl::SimpleAtoi(
        env_->QueryValue(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE tenant_id = '",
                                      tenant, "' AND state = 'PENDING'")),
        &n));
    return n;
  }

  static inline AcceptEnvironment* env_ = nullptr;
};

TEST_F(TenantQuotaTest, FortyConcurrentCreatesLeaveExactlyTheLimitPending) {
  const std::string tenant = UniqueTenant();
  constexpr int kLimit = 10, kThreads = 8, kPerThread = 5;
  ASSERT_THAT(SetQuota(stub(), tenant, kLimit), IsOk());

  std::atomic<int> created{0}, refused{0};
  absl::Mutex mu;
  std::map<int, int> other_codes;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        grpc::Status s = Create(stub(), tenant);
        if (s.ok()) {
          ++created;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                   s.error_details().find("TENANT_PENDING_LIMIT_REACHED") != std::string::npos) {
          ++refused;
        } else {
          absl::MutexLock lock(&mu);
          ++other_codes[s.error_code()];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(created.load(), kLimit);
  EXPECT_EQ(refused.load(), kThreads * kPerThread - kLimit);
  EXPECT_THAT(other_codes, IsEmpty());
  EXPECT_EQ(Pending(tenant), kLimit);
}

TEST_F(TenantQuotaTest, RevokeAcceptAndExpiryFreePlaces) {
  const std::string tenant = UniqueTenant();
  ASSERT_THAT(SetQuota(stub(), tenant, 2), IsOk());
  auto [first, first_token] = env_->Invite(pb::ROLE_VPN_USER, tenant);
  auto [second, second_token] = env_->Invite(pb::ROLE_VPN_USER, tenant);
  ExpectLimitReached(Create(stub(), tenant));

  ASSERT_THAT(env_->Revoke(first.id()), IsOk());
  pb::Invitation third;
  ASSERT_THAT(Create(stub(), tenant, &third), IsOk()) << "a revoke frees a place";
  ExpectLimitReached(Create(stub(), tenant));

  ASSERT_THAT(env_->Accept(AcceptRequest(second_token)), IsOk());
  ASSERT_THAT(Create(stub(), tenant), IsOk()) << "an accept frees a place";
  ExpectLimitReached(Create(stub(), tenant));

  // `third` runs out of time; nothing has swept it yet, so its row still holds the place until
  // the next invitation that needs one expires it.
  env_->QueryValue(absl::StrCat(
      "UPDATE invitations SET expire_time = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE id = '",
      third.id(), "'"));
  ASSERT_THAT(Create(stub(), tenant), IsOk()) << "an expired invitation is not pending";
  EXPECT_EQ(env_->Get(third.id()).state(), pb::INVITATION_STATE_EXPIRED);
  EXPECT_EQ(env_->QueryValue(absl::StrCat(
                "SELECT COUNT(*) FROM invitation_events WHERE invitation_id = '", third.id(),
                "' AND type = 'EXPIRED'")),
            "1");
  ExpectLimitReached(Create(stub(), tenant));
  EXPECT_EQ(Pending(tenant), 2);
}

TEST_F(TenantQuotaTest, ResendingAnExpiredInvitationNeedsAPlace) {
  const std::string tenant = UniqueTenant();
  ASSERT_THAT(SetQuota(stub(), tenant, 1), IsOk());
  auto [old_one, old_token] = env_->Invite(pb::ROLE_VPN_USER, tenant);
  env_->QueryValue(absl::StrCat(
      "UPDATE invitations SET expire_time = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE id = '",
      old_one.id(), "'"));
  pb::Invitation newer;
  ASSERT_THAT(Create(stub(), tenant, &newer), IsOk());

  grpc::Status resend = env_->Resend(old_one.id());
  ExpectLimitReached(resend);
  EXPECT_EQ(env_->Get(old_one.id()).state(), pb::INVITATION_STATE_EXPIRED)
      << "a refused resend changes nothing";

  ASSERT_THAT(env_->Revoke(newer.id()), IsOk());
  ASSERT_THAT(env_->Resend(old_one.id()), IsOk());
  EXPECT_EQ(env_->Get(old_one.id()).state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(Pending(tenant), 1);
}

TEST_F(TenantQuotaTest, LoweringTheLimitBelowTheCountRefusesNewOnesAndKeepsTheOthers) {
  const std::string tenant = UniqueTenant();
  ASSERT_THAT(SetQuota(stub(), tenant, 5), IsOk());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(env_->Invite(pb::ROLE_VPN_USER, tenant).first.id());
  ASSERT_THAT(SetQuota(stub(), tenant, 2), IsOk());
  ExpectLimitReached(Create(stub(), tenant));
  for (const std::string& id : ids) {
    EXPECT_EQ(env_->Get(id).state(), pb::INVITATION_STATE_PENDING) << "untouched";
  }
  ASSERT_THAT(env_->Revoke(ids[0]), IsOk());
  ASSERT_THAT(env_->Revoke(ids[1]), IsOk());
  ExpectLimitReached(Create(stub(), tenant));  // 2 pending, limit 2
  ASSERT_THAT(env_->Revoke(ids[2]), IsOk());
  ASSERT_THAT(Create(stub(), tenant), IsOk());

  ASSERT_THAT(SetQuota(stub(), tenant, 0), IsOk());
  for (int i = 0; i < 3; ++i) ASSERT_THAT(Create(stub(), tenant), IsOk()) << "0: no limit";
  EXPECT_EQ(Pending(tenant), 5);
}

// Tenants without a limit are not counted (their writers never meet on one row), so setting a
// limit counts the tenant's pending invitations. Creates running at that moment are either
// counted by it or see the limit: the count stays exact, round after round.
TEST_F(TenantQuotaTest, SettingALimitWhileCreatesRunCountsEveryOneOfThem) {
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(round);
    const std::string tenant = UniqueTenant();
    std::atomic<int> created{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> creators;
    for (int t = 0; t < 6; ++t) {
      creators.emplace_back([&] {
        while (!stop.load()) {
          if (Create(stub(), tenant).ok()) ++created;
        }
      });
    }
    while (created.load() < 10) std::this_thread::yield();
    ASSERT_THAT(SetQuota(stub(), tenant, 100000), IsOk());
    const int at_limit = created.load();
    while (created.load() < at_limit + 10) std::this_thread::yield();
    stop = true;
    for (std::thread& t : creators) t.join();
    EXPECT_EQ(env_->QueryValue(absl::StrCat(
                  "SELECT pending FROM tenant_pending_counts WHERE tenant_id = '", tenant, "'")),
              absl::StrCat(Pending(tenant)));
  }
}

TEST_F(TenantQuotaTest, BulkInviteFillsTheHeadroomAndReportsTheRest) {
  const std::string tenant = UniqueTenant();
  ASSERT_THAT(SetQuota(stub(), tenant, 3), IsOk());
  ASSERT_THAT(Create(stub(), tenant), IsOk());
  std::vector<std::string> emails;
  for (int i = 0; i < 5; ++i) emails.push_back(UniqueEmail("bulk-quota"));

  BulkOutcomes predicted = Bulk(stub(), tenant, emails, /*validate_only=*/true);
  ASSERT_THAT(predicted.status, IsOk());
  EXPECT_EQ(predicted.counts[pb::BULK_INVITE_OUTCOME_CREATED], 2);
  EXPECT_EQ(predicted.counts[pb::BULK_INVITE_OUTCOME_PENDING_LIMIT_REACHED], 3);

  BulkOutcomes done = Bulk(stub(), tenant, emails);
  ASSERT_THAT(done.status, IsOk());
  EXPECT_EQ(done.counts[pb::BULK_INVITE_OUTCOME_CREATED], 2);
  EXPECT_EQ(done.counts[pb::BULK_INVITE_OUTCOME_PENDING_LIMIT_REACHED], 3);
  EXPECT_EQ(done.summary.created(), 2);
  EXPECT_EQ(done.summary.failed(), 3) << "a refused place counts as failed";
  EXPECT_EQ(Pending(tenant), 3);
}

// Two server processes on one database, one BulkInvite each at the same moment, 40 distinct
// addresses apiece for 25 places: exactly 25 are created between them. Their /metrics count
// every refusal by reason and method.
TEST(TenantQuotaReplicas, TwoConcurrentBulksOnTwoReplicasShareTheLimitExactly) {
  const std::string database = absl::StrCat("quota_replicas_", getpid());
  ASSERT_TRUE(SharedMariaDb().CreateDatabase(database).ok());
  e2e::ServerProcess::Options options;
  options.mysql_uri = SharedMariaDb().Uri(database);
  options.env = {absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                              e2e::WriteTempFile("sealing.key",
                                                 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")),
                 "INVITATIONS_AUTH=disabled"};
  auto replicas = e2e::ServerProcess::StartTogether({options, options});
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  std::vector<std::unique_ptr<pb::InvitationService::Stub>> stubs;
  for (auto& r : *replicas) {
    stubs.push_back(pb::InvitationService::NewStub(
        grpc::CreateChannel(r->address(), grpc::InsecureChannelCredentials())));
  }
  const std::string tenant = UniqueTenant();
  constexpr int kLimit = 25, kPerBulk = 40;
  ASSERT_THAT(SetQuota(*stubs[0], tenant, kLimit), IsOk());

  BulkOutcomes results[2];
  std::vector<std::thread> callers;
  for (int r = 0; r < 2; ++r) {
    callers.emplace_back([&, r] {
      std::vector<std::string> emails;
      for (int i = 0; i < kPerBulk; ++i) emails.push_back(UniqueEmail(absl::StrCat("rep", r)));
      results[r] = Bulk(*stubs[r], tenant, emails);
    });
  }
  for (std::thread& t : callers) t.join();
  int created = 0, refused = 0;
  for (BulkOutcomes& r : results) {
    ASSERT_THAT(r.status, IsOk());
    created += r.counts[pb::BULK_INVITE_OUTCOME_CREATED];
    refused += r.counts[pb::BULK_INVITE_OUTCOME_PENDING_LIMIT_REACHED];
  }
  EXPECT_EQ(created, kLimit);
  EXPECT_EQ(refused, 2 * kPerBulk - kLimit);
  absl::StatusOr<std::string> pending = SharedMariaDb().Query(
      database, absl::StrCat("SELECT COUNT(*) FROM invitations WHERE tenant_id = '", tenant,
                             "' AND state = 'PENDING'"));
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*pending), absl::StrCat(kLimit));

  ExpectLimitReached(Create(*stubs[1], tenant));
  const std::string guarded = UniqueTenant();
  pb::UpdateTenantPolicyRequest domains;
  domains.mutable_policy()->set_tenant_id(guarded);
  domains.mutable_policy()->add_allowed_email_domains("example.org");
  domains.mutable_update_mask()->add_paths("allowed_email_domains");
  pb::UpdateTenantPolicyResponse updated;
  ASSERT_THAT(stubs[0]->UpdateTenantPolicy(Context().get(), domains, &updated), IsOk());
  EXPECT_EQ(Create(*stubs[1], guarded).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "UniqueEmail is @example.com";

  auto refusals = [&](const std::string& reason, const std::string& method) {
    double sum = 0;
    for (auto& r : *replicas) {
      absl::StatusOr<std::string> page = ops::HttpGet(r->metrics_port());
      EXPECT_TRUE(page.ok()) << page.status();
      if (page.ok()) {
        sum += ops::Sample(*page, "invitations_policy_refusals_total",
                           {{"reason", reason}, {"method", method}})
                   .value_or(-1000);
      }
    }
    return sum;
  };
  EXPECT_EQ(refusals("TENANT_PENDING_LIMIT_REACHED", "BulkInvite"), 2 * kPerBulk - kLimit);
  EXPECT_EQ(refusals("TENANT_PENDING_LIMIT_REACHED", "CreateInvitation"), 1);
  EXPECT_EQ(refusals("EMAIL_DOMAIN_NOT_ALLOWED", "CreateInvitation"), 1);
  EXPECT_EQ(refusals("EMAIL_DOMAIN_NOT_ALLOWED", "ResendInvitation"), 0) << "present at zero";
}

}  // namespace
}  // namespace securelink::testing
