// GetTenantPolicy / UpdateTenantPolicy over real gRPC on a real MariaDB (SPEC §11): the defaults
// of a tenant without a policy, a round trip of every field, update masks, etags, field errors
// naming the field, and POLICY_UPDATED on the event feed.
#include <grpcpp/grpcpp.h>

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/mysql_tenant_policy_store.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TenantPolicyApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static pb::InvitationService::Stub& stub() { return server_->stub(); }

  static grpc::Status Update(const pb::TenantPolicy& policy, std::vector<std::string> paths,
                             pb::TenantPolicy* out) {
    pb::UpdateTenantPolicyRequest req;
    *req.mutable_policy() = policy;
    for (std::string& p : paths) req.mutable_update_mask()->add_paths(p);
    pb::UpdateTenantPolicyResponse resp;
    grpc::Status s = stub().UpdateTenantPolicy(Context().get(), req, &resp);
    if (out != nullptr) *out = resp.policy();
    return s;
  }
  static pb::TenantPolicy MustGet(const std::string& tenant) {
    pb::GetTenantPolicyRequest req;
    req.set_tenant_id(tenant);
    pb::GetTenantPolicyResponse resp;
    EXPECT_THAT(stub().GetTenantPolicy(Context().get(), req, &resp), IsOk());
    return resp.policy();
  }

  static inline TestServer* server_ = nullptr;
};

TEST_F(TenantPolicyApiTest, ATenantWithoutAPolicyReadsAsTheDefaults) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy p = MustGet(tenant);
  EXPECT_EQ(p.tenant_id(), tenant);
  EXPECT_TRUE(p.allowed_email_domains().empty());
  EXPECT_EQ(p.max_pending_invitations(), 0);
  EXPECT_FALSE(p.has_default_ttl());
  EXPECT_FALSE(p.has_reminder_before_expiry());
  EXPECT_EQ(p.default_locale(), "");
  EXPECT_EQ(p.etag(), "");
  EXPECT_FALSE(p.has_update_time());
}

TEST_F(TenantPolicyApiTest, EveryFieldRoundTripsNormalisedAndOnlyMaskedFieldsChange) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy want;
  want.set_tenant_id(tenant);
  want.add_allowed_email_domains("Example.COM");
  want.add_allowed_email_domains("bücher.de");
  want.set_max_pending_invitations(3);
  want.mutable_default_ttl()->set_seconds(48 * 3600);
  want.mutable_reminder_before_expiry()->set_seconds(6 * 3600);
  want.set_default_locale("de-at");
  pb::TenantPolicy stored;
  ASSERT_THAT(Update(want,
                     {"allowed_email_domains", "max_pending_invitations", "default_ttl",
                      "reminder_before_expiry", "default_locale"},
                     &stored),
              IsOk());
  EXPECT_THAT(stored.allowed_email_domains(), ElementsAre("example.com", "xn--bcher-kva.de"));
  EXPECT_EQ(stored.default_locale(), "de-AT");
  EXPECT_EQ(stored.updated_by(), "auth-disabled");
  EXPECT_FALSE(stored.etag().empty());
  pb::TenantPolicy read = MustGet(tenant);
  EXPECT_EQ(read.SerializeAsString(), stored.SerializeAsString());

  pb::TenantPolicy only_quota;
  only_quota.set_tenant_id(tenant);
  only_quota.set_max_pending_invitations(7);
  only_quota.set_default_locale("fr");  // not in the mask: unchanged
  pb::TenantPolicy after;
  ASSERT_THAT(Update(only_quota, {"max_pending_invitations"}, &after), IsOk());
  EXPECT_EQ(after.max_pending_invitations(), 7);
  EXPECT_EQ(after.default_locale(), "de-AT");
  EXPECT_EQ(after.default_ttl().seconds(), 48 * 3600);
  EXPECT_NE(after.etag(), stored.etag());
}

TEST_F(TenantPolicyApiTest, AStaleEtagIsAbortedAndTheCurrentOneWorks) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.set_max_pending_invitations(1);
  pb::TenantPolicy first;
  ASSERT_THAT(Update(p, {"max_pending_invitations"}, &first), IsOk());
  pb::TenantPolicy second;
  p.set_etag(first.etag());
  p.set_max_pending_invitations(2);
  ASSERT_THAT(Update(p, {"max_pending_invitations"}, &second), IsOk());
  p.set_etag(first.etag());  // stale now
  p.set_max_pending_invitations(3);
  grpc::Status stale = Update(p, {"max_pending_invitations"}, nullptr);
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED) << stale.error_message();
  EXPECT_THAT(stale.error_message(), HasSubstr("read it again"));
  EXPECT_EQ(MustGet(tenant).max_pending_invitations(), 2);
  p.set_etag("not-an-etag");
  grpc::Status foreign = Update(p, {"max_pending_invitations"}, nullptr);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(foreign.error_message(), HasSubstr("policy.etag"));
}

TEST_F(TenantPolicyApiTest, BadInputNamesEachFieldAndChangesNothing) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.add_allowed_email_domains("not a domain");
  p.set_max_pending_invitations(-5);
  p.mutable_default_ttl()->set_seconds(1);
  p.set_default_locale("de_AT");
  grpc::Status s = Update(p,
                          {"allowed_email_domains", "max_pending_invitations", "default_ttl",
                           "default_locale", "etag"},
                          nullptr);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (const char* field : {"policy.allowed_email_domains[0]", "policy.max_pending_invitations",
                            "policy.default_ttl", "policy.default_locale", "update_mask"}) {
    EXPECT_THAT(s.error_message(), HasSubstr(field));
  }
  EXPECT_EQ(MustGet(tenant).etag(), "") << "nothing was stored";
  grpc::Status no_tenant = Update(pb::TenantPolicy(), {"max_pending_invitations"}, nullptr);
  EXPECT_EQ(no_tenant.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(no_tenant.error_message(), HasSubstr("policy.tenant_id"));
}

TEST_F(TenantPolicyApiTest, EachChangeIsAPolicyUpdatedEventOnTheFeed) {
  const std::string tenant = UniqueTenant();
  absl::StatusOr<invitations::EventFeed::Placement> before = server_->event_feed().Place("");
  ASSERT_TRUE(before.ok()) << before.status();
  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.set_max_pending_invitations(4);
  ASSERT_THAT(Update(p, {"max_pending_invitations"}, nullptr), IsOk());
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> unsequenced = SharedMariaDb().Query(
        server_->database(), "SELECT COUNT(*) FROM invitation_events WHERE seq IS NULL");
    return unsequenced.ok() && absl::StripAsciiWhitespace(*unsequenced) == "0";
  }));
  pb::WatchInvitationEventsRequest req;
  req.set_tenant_id(tenant);
  req.set_after_event_id(absl::StrCat(before->newest));
  req.set_replay_only(true);
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  auto reader = stub().WatchInvitationEvents(ctx.get(), req);
  std::vector<pb::InvitationEvent> events;
  pb::WatchInvitationEventsResponse resp;
  while (reader->Read(&resp)) events.push_back(resp.event());
  ASSERT_THAT(reader->Finish(), IsOk());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type(), pb::INVITATION_EVENT_TYPE_POLICY_UPDATED);
  EXPECT_EQ(events[0].tenant_id(), tenant);
  EXPECT_EQ(events[0].actor(), "auth-disabled");
  EXPECT_EQ(events[0].invitation_id(), "");
}

// Create follows the tenant's policy: an address outside its domains is refused naming the
// field and the reason, its subdomains and internationalised spellings are let in, and without
// a ttl in the request the tenant's default_ttl sets the expiry.
TEST_F(TenantPolicyApiTest, CreateFollowsTheTenantsDomainsAndDefaultTtl) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.add_allowed_email_domains("example.com");
  p.add_allowed_email_domains("xn--bcher-kva.de");
  p.mutable_default_ttl()->set_seconds(2 * 3600);
  ASSERT_THAT(Update(p, {"allowed_email_domains", "default_ttl"}, nullptr), IsOk());

  auto create = [&](const std::string& email, std::optional<int64_t> ttl_seconds,
                    pb::CreateInvitationResponse* out) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    if (ttl_seconds.has_value()) req.mutable_ttl()->set_seconds(*ttl_seconds);
    return stub().CreateInvitation(Context().get(), req, out);
  };
  pb::CreateInvitationResponse created;
  grpc::Status refused = create(absl::StrCat("out-", tenant, "@example.org"), std::nullopt,
                                &created);
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("email: is in a domain tenant"));
  EXPECT_THAT(refused.error_details(), HasSubstr("EMAIL_DOMAIN_NOT_ALLOWED"));

  ASSERT_THAT(create(absl::StrCat("ann-", tenant, "@eu.example.com"), std::nullopt, &created),
              IsOk());
  const pb::Invitation& inv = created.invitation();
  EXPECT_EQ(inv.expire_time().seconds() - inv.create_time().seconds(), 2 * 3600)
      << "the tenant's default_ttl";
  ASSERT_THAT(create(absl::StrCat("bo-", tenant, "@bücher.de"), 3 * 3600, &created), IsOk());
  EXPECT_EQ(created.invitation().expire_time().seconds() -
                created.invitation().create_time().seconds(),
            3 * 3600)
      << "a ttl in the request wins";
  EXPECT_EQ(create(absl::StrCat("cy-", tenant, "@notexample.com"), std::nullopt, &created)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Another replica changes the policy (here: straight through the store, behind this server's
// back): this server's next Create follows the new policy at once, whichever way it changed.
TEST_F(TenantPolicyApiTest, APolicyChangedElsewhereTakesEffectAtOnce) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.add_allowed_email_domains("example.com");
  p.mutable_default_ttl()->set_seconds(2 * 3600);
  ASSERT_THAT(Update(p, {"allowed_email_domains", "default_ttl"}, nullptr), IsOk());
  auto create = [&](const std::string& email, pb::CreateInvitationResponse* out) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    return stub().CreateInvitation(Context().get(), req, out);
  };
  pb::CreateInvitationResponse created;
  ASSERT_THAT(create(absl::StrCat("a-", tenant, "@example.com"), &created), IsOk());

  invitations::MysqlTenantPolicyStore elsewhere(server_->pool());
  invitations::TenantPolicy changed;
  changed.tenant_id = tenant;
  changed.allowed_email_domains = {"example.org"};
  changed.default_ttl = absl::Hours(3);
  ASSERT_TRUE(elsewhere.Put(changed, std::nullopt, "other-replica", "", absl::Now()).ok());
  grpc::Status refused = create(absl::StrCat("b-", tenant, "@example.com"), &created);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_THAT(refused.error_details(), HasSubstr("EMAIL_DOMAIN_NOT_ALLOWED"));
  ASSERT_THAT(create(absl::StrCat("c-", tenant, "@example.org"), &created), IsOk());
  EXPECT_EQ(created.invitation().expire_time().seconds() -
                created.invitation().create_time().seconds(),
            3 * 3600)
      << "the new default_ttl";

  changed.allowed_email_domains = {"example.com"};
  ASSERT_TRUE(elsewhere.Put(changed, std::nullopt, "other-replica", "", absl::Now()).ok());
  EXPECT_THAT(create(absl::StrCat("d-", tenant, "@example.com"), &created), IsOk())
      << "a domain allowed again is allowed at once";
}

// Resend follows the policy as it is now: an invitation whose domain the tenant no longer allows
// is FAILED_PRECONDITION (and keeps its link), and without a ttl the tenant's default applies.
TEST_F(TenantPolicyApiTest, ResendFollowsThePolicyAsItIsNow) {
  const std::string tenant = UniqueTenant();
  auto create = [&](const std::string& email) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    pb::CreateInvitationResponse resp;
    EXPECT_THAT(stub().CreateInvitation(Context().get(), req, &resp), IsOk());
    return resp.invitation();
  };
  const pb::Invitation kept = create(absl::StrCat("kim-", tenant, "@example.com"));
  const pb::Invitation dropped = create(absl::StrCat("lou-", tenant, "@example.org"));

  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.add_allowed_email_domains("example.com");
  p.mutable_default_ttl()->set_seconds(5 * 3600);
  ASSERT_THAT(Update(p, {"allowed_email_domains", "default_ttl"}, nullptr), IsOk());

  auto resend = [&](const std::string& id, pb::ResendInvitationResponse* out) {
    pb::ResendInvitationRequest req;
    req.set_id(id);
    return stub().ResendInvitation(Context().get(), req, out);
  };
  pb::ResendInvitationResponse resent;
  grpc::Status refused = resend(dropped.id(), &resent);
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("no longer allows"));
  EXPECT_THAT(refused.error_details(), HasSubstr("EMAIL_DOMAIN_NOT_ALLOWED"));
  pb::GetInvitationRequest get;
  get.set_id(dropped.id());
  pb::GetInvitationResponse got;
  ASSERT_THAT(stub().GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().send_count(), dropped.send_count()) << "nothing was resent";

  ASSERT_THAT(resend(kept.id(), &resent), IsOk());
  EXPECT_EQ(resent.invitation().expire_time().seconds() -
                resent.invitation().update_time().seconds(),
            5 * 3600);
}

// BulkInvite follows the tenant's policy per address, from every source: one outside its domains
// is DOMAIN_NOT_ALLOWED and counted as invalid, the others are created with the tenant's ttl.
TEST_F(TenantPolicyApiTest, BulkInviteRefusesEachAddressOutsideTheDomainsFromEverySource) {
  const std::string tenant = UniqueTenant();
  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.add_allowed_email_domains("example.com");
  p.mutable_default_ttl()->set_seconds(3 * 3600);
  ASSERT_THAT(Update(p, {"allowed_email_domains", "default_ttl"}, nullptr), IsOk());

  for (const std::string source : {"text", "emails", "csv"}) {
    SCOPED_TRACE(source);
    const std::string in = absl::StrCat("in-", source, "-", tenant, "@example.com");
    const std::string out = absl::StrCat("out-", source, "-", tenant, "@example.net");
    pb::BulkInviteRequest req;
    if (source == "text") req.set_text(absl::StrCat(in, "\n", out, "\nnot-an-address\n"));
    if (source == "csv") req.set_csv(absl::StrCat("email\n", in, "\n", out, "\nnot-an-address\n"));
    if (source == "emails") {
      for (const std::string& e : {in, out, std::string("not-an-address")}) {
        req.mutable_emails()->add_emails(e);
      }
    }
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    auto reader = stub().BulkInvite(ctx.get(), req);
    std::vector<pb::BulkInviteResult> results;
    pb::BulkInviteSummary summary;
    pb::BulkInviteResponse resp;
    while (reader->Read(&resp)) {
      if (resp.has_result()) results.push_back(resp.result());
      if (resp.has_summary()) summary = resp.summary();
    }
    ASSERT_THAT(reader->Finish(), IsOk());
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].outcome(), pb::BULK_INVITE_OUTCOME_CREATED);
    EXPECT_EQ(results[1].outcome(), pb::BULK_INVITE_OUTCOME_DOMAIN_NOT_ALLOWED);
    EXPECT_THAT(results[1].message(), HasSubstr("does not allow"));
    EXPECT_EQ(results[2].outcome(), pb::BULK_INVITE_OUTCOME_INVALID_EMAIL);
    EXPECT_EQ(summary.created(), 1);
    EXPECT_EQ(summary.invalid(), 2);

    pb::GetInvitationRequest get;
    get.set_id(results[0].invitation_id());
    pb::GetInvitationResponse got;
    ASSERT_THAT(stub().GetInvitation(Context().get(), get, &got), IsOk());
    EXPECT_EQ(got.invitation().expire_time().seconds() - got.invitation().create_time().seconds(),
              3 * 3600);
  }
}

// An invitation's language: the request's locale (canonical case, falling back by subtag to a
// language the templates offer), else the tenant's default_locale, else English; BulkInvite's
// locale the same for every address. Invitation.locale shows what was chosen.
TEST_F(TenantPolicyApiTest, LocaleComesFromTheRequestThenTheTenantThenEnglish) {
  const std::string tenant = UniqueTenant();
  auto create = [&](const std::string& locale, pb::Invitation* out) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("lang"));
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    req.set_locale(locale);
    pb::CreateInvitationResponse resp;
    grpc::Status s = stub().CreateInvitation(Context().get(), req, &resp);
    *out = resp.invitation();
    return s;
  };
  pb::Invitation inv;
  ASSERT_THAT(create("", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "en") << "no locale, no policy";
  ASSERT_THAT(create("DE", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "de");
  ASSERT_THAT(create("fr-ca", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "fr") << "fr-CA falls back to the French templates";
  ASSERT_THAT(create("ja", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "en") << "a language without templates, no tenant default";

  grpc::Status bad = create("not a tag!", &inv);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("locale"));

  pb::TenantPolicy p;
  p.set_tenant_id(tenant);
  p.set_default_locale("fr");
  ASSERT_THAT(Update(p, {"default_locale"}, nullptr), IsOk());
  ASSERT_THAT(create("", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "fr") << "the tenant's default";
  ASSERT_THAT(create("ja", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "fr") << "an unavailable request falls back to the tenant's default";
  ASSERT_THAT(create("de-AT", &inv), IsOk());
  EXPECT_EQ(inv.locale(), "de") << "the request wins over the tenant's default";

  pb::BulkInviteRequest bulk;
  bulk.set_text(absl::StrCat(UniqueEmail("bulk-lang"), "\n"));
  bulk.set_role(pb::ROLE_VPN_USER);
  bulk.set_tenant_id(tenant);
  bulk.set_suppress_email(true);
  bulk.set_locale("de-CH");
  std::unique_ptr<grpc::ClientContext> ctx = Context();
  auto reader = stub().BulkInvite(ctx.get(), bulk);
  pb::BulkInviteResponse resp;
  std::string id;
  while (reader->Read(&resp)) {
    if (resp.has_result()) id = resp.result().invitation_id();
  }
  ASSERT_THAT(reader->Finish(), IsOk());
  pb::GetInvitationRequest get;
  get.set_id(id);
  pb::GetInvitationResponse got;
  ASSERT_THAT(stub().GetInvitation(Context().get(), get, &got), IsOk());
  EXPECT_EQ(got.invitation().locale(), "de");

  bulk.set_locale("de_CH");
  std::unique_ptr<grpc::ClientContext> ctx2 = Context();
  auto refused = stub().BulkInvite(ctx2.get(), bulk);
  while (refused->Read(&resp)) {
  }
  grpc::Status s = refused->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("locale"));
}

}  // namespace
}  // namespace securelink::testing
