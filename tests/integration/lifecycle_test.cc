// The invitation lifecycle of SPEC §2/§3 over real gRPC, against a real MariaDB.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace pb = ::securelink::invitations::v1;

class LifecycleTest : public ::testing::Test {
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

  pb::InvitationService::Stub& stub() { return server_->stub(); }

  grpc::Status Create(const pb::CreateInvitationRequest& req, pb::CreateInvitationResponse* resp) {
    return stub().CreateInvitation(Context().get(), req, resp);
  }

  pb::CreateInvitationResponse MustCreate(const std::string& email,
                                          pb::Role role = pb::ROLE_VPN_USER,
                                          const std::string& tenant = "acme") {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(role);
    req.set_tenant_id(tenant);
    pb::CreateInvitationResponse resp;
    grpc::Status s = Create(req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  grpc::Status Validate(const std::string& token, pb::ValidateInvitationTokenResponse* resp = nullptr) {
    pb::ValidateInvitationTokenRequest req;
    req.set_token(token);
    pb::ValidateInvitationTokenResponse ignored;
    return stub().ValidateInvitationToken(Context().get(), req, resp ? resp : &ignored);
  }

  grpc::Status Get(const std::string& id, pb::GetInvitationResponse* resp) {
    pb::GetInvitationRequest req;
    req.set_id(id);
    return stub().GetInvitation(Context().get(), req, resp);
  }

  grpc::Status Resend(const std::string& id, pb::ResendInvitationResponse* resp) {
    pb::ResendInvitationRequest req;
    req.set_id(id);
    return stub().ResendInvitation(Context().get(), req, resp);
  }

  grpc::Status Revoke(const std::string& id, pb::RevokeInvitationResponse* resp,
                      const std::string& reason = "") {
    pb::RevokeInvitationRequest req;
    req.set_id(id);
    req.set_reason(reason);
    return stub().RevokeInvitation(Context().get(), req, resp);
  }

  static TestServer* server_;
};

TestServer* LifecycleTest::server_ = nullptr;

TEST_F(LifecycleTest, CreateReturnsAPendingInvitationAndAWorkingLink) {
  const std::string email = UniqueEmail();
  pb::CreateInvitationResponse created = MustCreate(email, pb::ROLE_TENANT_ADMIN, "acme");
  const pb::Invitation& inv = created.invitation();
  EXPECT_EQ(inv.email(), email);
  EXPECT_EQ(inv.role(), pb::ROLE_TENANT_ADMIN);
  EXPECT_EQ(inv.tenant_id(), "acme");
  EXPECT_EQ(inv.state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(inv.send_count(), 1);
  EXPECT_EQ(inv.email_delivery_state(), pb::EMAIL_DELIVERY_STATE_QUEUED);
  EXPECT_EQ(inv.expire_time().seconds() - inv.create_time().seconds(), 168 * 3600);
  EXPECT_TRUE(absl::StartsWith(created.registration_url(),
                               "https://register.example.test/register?token="));
  pb::ValidateInvitationTokenResponse valid;
  ASSERT_THAT(Validate(TokenOf(created.registration_url()), &valid), IsOk());
  EXPECT_EQ(valid.invitation_id(), inv.id());
  EXPECT_EQ(valid.email(), email);
  EXPECT_EQ(valid.role(), pb::ROLE_TENANT_ADMIN);
  EXPECT_EQ(valid.tenant_id(), "acme");
}

TEST_F(LifecycleTest, SuppressedEmailCountsNoSend) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail());
  req.set_role(pb::ROLE_SUPER_ADMIN);
  req.set_suppress_email(true);
  pb::CreateInvitationResponse resp;
  ASSERT_THAT(Create(req, &resp), IsOk());
  EXPECT_EQ(resp.invitation().send_count(), 0);
  EXPECT_EQ(resp.invitation().email_delivery_state(), pb::EMAIL_DELIVERY_STATE_SUPPRESSED);
  EXPECT_EQ(resp.invitation().tenant_id(), "");
}

TEST_F(LifecycleTest, EmailsAreTrimmedAndComparedCaseInsensitively) {
  const std::string email = UniqueEmail("Mixed.Case");
  pb::CreateInvitationResponse first = MustCreate(absl::StrCat("  ", email, " "));
  EXPECT_EQ(first.invitation().email(), absl::AsciiStrToLower(email));

  pb::CreateInvitationRequest again;
  std::string upper = email;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  again.set_email(upper);
  again.set_role(pb::ROLE_VPN_USER);
  again.set_tenant_id("other-tenant");
  pb::CreateInvitationResponse resp;
  grpc::Status s = Create(again, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(ErrorReason(s), "ACTIVE_INVITATION_EXISTS");
  EXPECT_EQ(ErrorMetadata(s, "invitation_id"), first.invitation().id());
  EXPECT_THAT(s.error_message(), HasSubstr(first.invitation().id()));
}

struct BadCreate {
  std::string name;
  std::function<void(pb::CreateInvitationRequest&)> mutate;
  std::string field;
};

TEST_F(LifecycleTest, BadFieldsAreInvalidArgumentNamingTheField) {
  const std::vector<BadCreate> cases = {
      {"bad email", [](auto& r) { r.set_email("not-an-email"); }, "email"},
      {"empty email", [](auto& r) { r.set_email(""); }, "email"},
      {"email with space", [](auto& r) { r.set_email("a b@example.com"); }, "email"},
      {"overlong email", [](auto& r) { r.set_email(std::string(250, 'a') + "@ex.com"); }, "email"},
      {"no role", [](auto& r) { r.set_role(pb::ROLE_UNSPECIFIED); }, "role"},
      {"unknown role", [](auto& r) { r.set_role(static_cast<pb::Role>(42)); }, "role"},
      {"vpn user without tenant", [](auto& r) { r.set_tenant_id(""); }, "tenant_id"},
      {"tenant admin without tenant",
       [](auto& r) {
         r.set_role(pb::ROLE_TENANT_ADMIN);
         r.set_tenant_id("");
       },
       "tenant_id"},
      {"bad tenant characters", [](auto& r) { r.set_tenant_id("acme corp"); }, "tenant_id"},
      {"overlong tenant", [](auto& r) { r.set_tenant_id(std::string(65, 't')); }, "tenant_id"},
      {"ttl too short", [](auto& r) { r.mutable_ttl()->set_seconds(60); }, "ttl"},
      {"ttl too long", [](auto& r) { r.mutable_ttl()->set_seconds(721 * 3600); }, "ttl"},
      {"negative ttl", [](auto& r) { r.mutable_ttl()->set_seconds(-3600); }, "ttl"},
      {"overlong request_id", [](auto& r) { r.set_request_id(std::string(129, 'r')); },
       "request_id"},
  };
  for (const BadCreate& c : cases) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail());
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id("acme");
    c.mutate(req);
    pb::CreateInvitationResponse resp;
    grpc::Status s = Create(req, &resp);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << c.name;
    EXPECT_THAT(ViolatedFields(s), Contains(c.field)) << c.name;
    EXPECT_THAT(s.error_message(), HasSubstr(c.field)) << c.name;
  }
  // Nothing half-written: the valid-looking addresses used above were never stored.
  pb::ListInvitationsRequest list;
  list.set_email_query("not-an-email");
  pb::ListInvitationsResponse listed;
  ASSERT_THAT(stub().ListInvitations(Context().get(), list, &listed), IsOk());
  EXPECT_EQ(listed.total_size(), 0);
}

TEST_F(LifecycleTest, EveryBadFieldIsReportedAtOnce) {
  pb::CreateInvitationRequest req;
  req.set_email("nope");
  req.set_role(pb::ROLE_UNSPECIFIED);
  req.set_tenant_id("bad tenant");
  pb::CreateInvitationResponse resp;
  grpc::Status s = Create(req, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ViolatedFields(s), ElementsAre("email", "role", "tenant_id"));
}

TEST_F(LifecycleTest, SuperAdminMayCarryATenant) {
  pb::CreateInvitationResponse resp = MustCreate(UniqueEmail(), pb::ROLE_SUPER_ADMIN, "acme");
  EXPECT_EQ(resp.invitation().tenant_id(), "acme");
}

TEST_F(LifecycleTest, PerRequestTtlSetsTheExpiry) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail());
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id("acme");
  req.mutable_ttl()->set_seconds(2 * 3600);
  pb::CreateInvitationResponse resp;
  ASSERT_THAT(Create(req, &resp), IsOk());
  EXPECT_EQ(resp.invitation().expire_time().seconds() - resp.invitation().create_time().seconds(),
            2 * 3600);
}

TEST_F(LifecycleTest, RetriedCreateWithTheSameRequestIdReturnsTheFirstResult) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail());
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id("acme");
  req.set_request_id(absl::StrCat("req-", UniqueTenant()));
  pb::CreateInvitationResponse first, second;
  ASSERT_THAT(Create(req, &first), IsOk());
  ASSERT_THAT(Create(req, &second), IsOk());
  EXPECT_EQ(second.invitation().id(), first.invitation().id());
  EXPECT_EQ(second.registration_url(), first.registration_url());
  EXPECT_EQ(second.invitation().send_count(), 1);
}

TEST_F(LifecycleTest, ConcurrentRetriesWithOneRequestIdCreateOneInvitation) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail());
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id("acme");
  req.set_request_id(absl::StrCat("req-", UniqueTenant()));
  std::vector<std::thread> threads;
  std::vector<pb::CreateInvitationResponse> responses(8);
  std::vector<grpc::Status> statuses(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { statuses[i] = Create(req, &responses[i]); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    ASSERT_THAT(statuses[i], IsOk());
    ids.insert(responses[i].invitation().id());
  }
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(LifecycleTest, ReusingARequestIdForAnotherEmailIsRefused) {
  const std::string request_id = absl::StrCat("req-", UniqueTenant());
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail());
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id("acme");
  req.set_request_id(request_id);
  pb::CreateInvitationResponse first;
  ASSERT_THAT(Create(req, &first), IsOk());
  req.set_email(UniqueEmail());
  pb::CreateInvitationResponse second;
  grpc::Status s = Create(req, &second);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(ErrorReason(s), "REQUEST_ID_REUSED");
}

TEST_F(LifecycleTest, TwentyConcurrentCreatesOfOneEmailYieldExactlyOne) {
  const std::string email = UniqueEmail("race");
  std::atomic<int> ok{0}, exists{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      pb::CreateInvitationRequest req;
      // Mixed case: the race is on the normalised address.
      req.set_email(i % 2 ? email : absl::AsciiStrToUpper(email));
      req.set_role(pb::ROLE_VPN_USER);
      req.set_tenant_id(absl::StrCat("tenant-", i));
      pb::CreateInvitationResponse resp;
      grpc::Status s = Create(req, &resp);
      if (s.ok()) {
        ++ok;
      } else if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
        ++exists;
      } else {
        ++other;
        ADD_FAILURE() << s.error_code() << " " << s.error_message();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(exists.load(), 19);
  absl::StatusOr<std::string> rows = SharedMariaDb().Query(
      server_->database(), absl::StrCat("SELECT COUNT(*) FROM invitations WHERE email = '",
                                        email, "'"));
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(*rows)), "1");
}

TEST_F(LifecycleTest, GetReturnsTheInvitationAndNotFoundForUnknownIds) {
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  pb::GetInvitationResponse got;
  ASSERT_THAT(Get(created.invitation().id(), &got), IsOk());
  EXPECT_EQ(got.invitation().id(), created.invitation().id());
  EXPECT_EQ(got.invitation().email(), created.invitation().email());

  grpc::Status missing = Get("00000000-0000-4000-8000-000000000000", &got);
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ErrorReason(missing), "INVITATION_NOT_FOUND");
  EXPECT_THAT(Get("not-a-uuid", &got), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Get("", &got), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LifecycleTest, ResendKillsThePreviousLink) {
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  const std::string old_token = TokenOf(created.registration_url());
  pb::ResendInvitationResponse resent;
  ASSERT_THAT(Resend(created.invitation().id(), &resent), IsOk());
  const std::string new_token = TokenOf(resent.registration_url());
  EXPECT_NE(new_token, old_token);
  EXPECT_EQ(resent.invitation().send_count(), 2);
  EXPECT_EQ(resent.invitation().state(), pb::INVITATION_STATE_PENDING);

  grpc::Status old_status = Validate(old_token);
  EXPECT_THAT(old_status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ErrorReason(old_status), "INVITATION_TOKEN_INVALID");
  EXPECT_THAT(Validate(new_token), IsOk());
}

// SPEC §10: a retried Resend (same request_id) returns the first result and sends nothing more.
TEST_F(LifecycleTest, RetriedResendWithTheSameRequestIdReturnsTheSameLinkAndSendsOnce) {
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  const std::string id = created.invitation().id();
  pb::ResendInvitationRequest req;
  req.set_id(id);
  req.set_request_id(absl::StrCat("resend-", UniqueTenant()));
  pb::ResendInvitationResponse first, retried;
  ASSERT_THAT(stub().ResendInvitation(Context().get(), req, &first), IsOk());
  ASSERT_THAT(stub().ResendInvitation(Context().get(), req, &retried), IsOk());
  EXPECT_EQ(retried.registration_url(), first.registration_url());
  EXPECT_THAT(Validate(TokenOf(retried.registration_url())), IsOk());
  EXPECT_EQ(retried.invitation().send_count(), 2) << "one resend, one more email";
  const std::string queued = SharedMariaDb()
                                 .Query(server_->database(),
                                        absl::StrCat("SELECT COUNT(*) FROM email_outbox WHERE "
                                                     "invitation_id = '", id,
                                                     "' AND state = 'PENDING'"))
                                 .value_or("?");
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(queued)), "1");
  const std::string resent_events =
      SharedMariaDb()
          .Query(server_->database(),
                 absl::StrCat("SELECT COUNT(*) FROM invitation_events WHERE invitation_id = '", id,
                              "' AND type = 'RESENT'"))
          .value_or("?");
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(resent_events)), "1");

  // A later resend without the id supersedes that link: the retry no longer hands it out.
  pb::ResendInvitationResponse later;
  ASSERT_THAT(Resend(id, &later), IsOk());
  pb::ResendInvitationResponse stale;
  ASSERT_THAT(stub().ResendInvitation(Context().get(), req, &stale), IsOk());
  EXPECT_EQ(stale.registration_url(), "");
  EXPECT_EQ(stale.invitation().send_count(), 3);
}

TEST_F(LifecycleTest, ConcurrentRetriesOfOneResendResendOnce) {
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  pb::ResendInvitationRequest req;
  req.set_id(created.invitation().id());
  req.set_request_id(absl::StrCat("resend-", UniqueTenant()));
  std::vector<std::thread> threads;
  std::vector<pb::ResendInvitationResponse> responses(8);
  std::vector<grpc::Status> statuses(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] = stub().ResendInvitation(Context().get(), req, &responses[i]);
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> urls;
  for (int i = 0; i < 8; ++i) {
    ASSERT_THAT(statuses[i], IsOk());
    urls.insert(responses[i].registration_url());
  }
  EXPECT_EQ(urls.size(), 1u);
  pb::GetInvitationResponse got;
  ASSERT_THAT(Get(created.invitation().id(), &got), IsOk());
  EXPECT_EQ(got.invitation().send_count(), 2);
}

TEST_F(LifecycleTest, AResendRequestIdIsBoundToItsInvitation) {
  pb::CreateInvitationResponse one = MustCreate(UniqueEmail());
  pb::CreateInvitationResponse two = MustCreate(UniqueEmail());
  pb::ResendInvitationRequest req;
  req.set_id(one.invitation().id());
  req.set_request_id(absl::StrCat("resend-", UniqueTenant()));
  pb::ResendInvitationResponse resp;
  ASSERT_THAT(stub().ResendInvitation(Context().get(), req, &resp), IsOk());
  req.set_id(two.invitation().id());
  grpc::Status s = stub().ResendInvitation(Context().get(), req, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(ErrorReason(s), "REQUEST_ID_REUSED");
  pb::GetInvitationResponse got;
  ASSERT_THAT(Get(two.invitation().id(), &got), IsOk());
  EXPECT_EQ(got.invitation().send_count(), 1) << "the refused resend sent nothing";

  req.set_request_id(std::string(129, 'r'));
  s = stub().ResendInvitation(Context().get(), req, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.error_message(), HasSubstr("request_id"));
}

TEST_F(LifecycleTest, DeadLinksAllLookAlike) {
  grpc::Status unknown = Validate(std::string(43, 'A'));
  grpc::Status malformed = Validate("short");
  grpc::Status empty = Validate("");
  for (const grpc::Status& s : {unknown, malformed, empty}) {
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
    EXPECT_EQ(ErrorReason(s), "INVITATION_TOKEN_INVALID");
    EXPECT_EQ(s.error_message(), unknown.error_message());
  }
}

TEST_F(LifecycleTest, RevokeIsFinal) {
  const std::string email = UniqueEmail();
  pb::CreateInvitationResponse created = MustCreate(email);
  pb::RevokeInvitationResponse revoked;
  ASSERT_THAT(Revoke(created.invitation().id(), &revoked, "sent to the wrong person"), IsOk());
  EXPECT_EQ(revoked.invitation().state(), pb::INVITATION_STATE_REVOKED);
  EXPECT_TRUE(revoked.invitation().has_revoke_time());
  EXPECT_EQ(revoked.invitation().revoke_reason(), "sent to the wrong person");

  grpc::Status link = Validate(TokenOf(created.registration_url()));
  EXPECT_THAT(link, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(link), "INVITATION_REVOKED");

  pb::ResendInvitationResponse resent;
  grpc::Status resend = Resend(created.invitation().id(), &resent);
  EXPECT_THAT(resend, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(resend), "INVITATION_REVOKED");

  grpc::Status again = Revoke(created.invitation().id(), &revoked);
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ErrorReason(again), "INVITATION_REVOKED");

  // Re-inviting means a new invitation, which the revoked one no longer blocks.
  pb::CreateInvitationResponse fresh = MustCreate(email);
  EXPECT_NE(fresh.invitation().id(), created.invitation().id());
}

TEST_F(LifecycleTest, ResendAndRevokeOfUnknownIdsAreNotFound) {
  pb::ResendInvitationResponse resent;
  EXPECT_THAT(Resend("00000000-0000-4000-8000-000000000001", &resent),
              StatusIs(absl::StatusCode::kNotFound));
  pb::RevokeInvitationResponse revoked;
  EXPECT_THAT(Revoke("00000000-0000-4000-8000-000000000001", &revoked),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LifecycleTest, TheTokenAppearsNeitherInReadsNorInTheDatabase) {
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  const std::string token = TokenOf(created.registration_url());
  ASSERT_EQ(token.size(), 43u);
  pb::GetInvitationResponse got;
  ASSERT_THAT(Get(created.invitation().id(), &got), IsOk());
  EXPECT_EQ(got.SerializeAsString().find(token), std::string::npos);
  pb::ListInvitationsRequest list_req;
  list_req.set_email_query(created.invitation().email());
  pb::ListInvitationsResponse listed;
  ASSERT_THAT(stub().ListInvitations(Context().get(), list_req, &listed), IsOk());
  ASSERT_EQ(listed.invitations_size(), 1);
  EXPECT_EQ(listed.SerializeAsString().find(token), std::string::npos);
  absl::StatusOr<std::string> dump = SharedMariaDb().Dump(server_->database());
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_NE(dump->find(created.invitation().id()), std::string::npos);  // the dump is real
  EXPECT_EQ(dump->find(token), std::string::npos);
}

// The sealed copy of a link (for the outbox and replays) is kept only while the link may still
// be mailed or handed back: a revoked invitation's is gone, a resent one's is the new link's.
TEST_F(LifecycleTest, TheSealedCopyOfALinkIsDroppedOnceItCanNoLongerBeUsed) {
  auto sealed = [&](const std::string& id) {
    absl::StatusOr<std::string> v = SharedMariaDb().Query(
        server_->database(),
        absl::StrCat("SELECT IFNULL(sealed_token, 'NULL') FROM invitations WHERE id = '", id, "'"));
    return v.ok() ? std::string(absl::StripAsciiWhitespace(*v)) : "?";
  };
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  const std::string id = created.invitation().id();
  const std::string first = sealed(id);
  EXPECT_NE(first, "NULL");
  pb::ResendInvitationResponse resent;
  ASSERT_THAT(Resend(id, &resent), IsOk());
  EXPECT_NE(sealed(id), first) << "the old link's copy was kept";
  EXPECT_NE(sealed(id), "NULL");
  pb::RevokeInvitationResponse revoked;
  ASSERT_THAT(Revoke(id, &revoked), IsOk());
  EXPECT_EQ(sealed(id), "NULL");
}

TEST_F(LifecycleTest, ListFiltersCombineAndComeNewestFirst) {
  const std::string tenant = UniqueTenant();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(MustCreate(UniqueEmail("lst"), pb::ROLE_VPN_USER, tenant).invitation().id());
  pb::RevokeInvitationResponse revoked;
  ASSERT_THAT(Revoke(ids[1], &revoked), IsOk());
  MustCreate(UniqueEmail("lst"), pb::ROLE_VPN_USER, UniqueTenant());  // another tenant

  pb::ListInvitationsRequest req;
  req.set_tenant_id(tenant);
  pb::ListInvitationsResponse all;
  ASSERT_THAT(stub().ListInvitations(Context().get(), req, &all), IsOk());
  ASSERT_EQ(all.invitations_size(), 4);
  EXPECT_EQ(all.total_size(), 4);
  EXPECT_EQ(all.invitations(0).id(), ids[3]);
  EXPECT_EQ(all.invitations(3).id(), ids[0]);
  EXPECT_EQ(all.next_page_token(), "");

  req.add_states(pb::INVITATION_STATE_PENDING);
  pb::ListInvitationsResponse pending;
  ASSERT_THAT(stub().ListInvitations(Context().get(), req, &pending), IsOk());
  EXPECT_EQ(pending.total_size(), 3);
  for (const auto& inv : pending.invitations()) EXPECT_NE(inv.id(), ids[1]);

  req.clear_states();
  req.add_states(pb::INVITATION_STATE_REVOKED);
  pb::ListInvitationsResponse revoked_only;
  ASSERT_THAT(stub().ListInvitations(Context().get(), req, &revoked_only), IsOk());
  ASSERT_EQ(revoked_only.invitations_size(), 1);
  EXPECT_EQ(revoked_only.invitations(0).id(), ids[1]);

  req.clear_states();
  req.set_email_query("NO-SUCH-ADDRESS");
  pb::ListInvitationsResponse none;
  ASSERT_THAT(stub().ListInvitations(Context().get(), req, &none), IsOk());
  EXPECT_EQ(none.total_size(), 0);
}

// A caller's '_' and '%' are letters of the address, not wildcards. (The query carries its own
// ESCAPE character: MySQL 8 drops backslash as LIKE's escape under NO_BACKSLASH_ESCAPES.)
TEST_F(LifecycleTest, EmailQueryWildcardsAreLiteral) {
  const std::string tag = absl::AsciiStrToLower(UniqueTenant());
  for (const char* local : {"a_b", "axb", "c!d"}) {
    pb::CreateInvitationRequest req;
    req.set_email(absl::StrCat(local, "-", tag, "@example.com"));
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id("acme");
    pb::CreateInvitationResponse resp;
    ASSERT_THAT(stub().CreateInvitation(Context().get(), req, &resp), IsOk());
  }
  auto matches = [&](const std::string& query) {
    pb::ListInvitationsRequest req;
    req.set_email_query(query);
    pb::ListInvitationsResponse resp;
    EXPECT_THAT(stub().ListInvitations(Context().get(), req, &resp), IsOk());
    std::vector<std::string> emails;
    for (const pb::Invitation& inv : resp.invitations()) emails.push_back(inv.email());
    return emails;
  };
  EXPECT_THAT(matches(absl::StrCat("a_b-", tag)),
              ElementsAre(absl::StrCat("a_b-", tag, "@example.com")));
  EXPECT_THAT(matches(absl::StrCat("c!d-", tag)),
              ElementsAre(absl::StrCat("c!d-", tag, "@example.com")));
  EXPECT_THAT(matches(absl::StrCat("%-", tag)), ::testing::IsEmpty());
}

TEST_F(LifecycleTest, PaginationReturnsEveryRowExactlyOnceWhileRowsAreInserted) {
  const std::string tenant = UniqueTenant();
  std::set<std::string> original;
  for (int i = 0; i < 23; ++i) {
    original.insert(MustCreate(UniqueEmail("page"), pb::ROLE_VPN_USER, tenant).invitation().id());
  }
  pb::ListInvitationsRequest req;
  req.set_tenant_id(tenant);
  req.set_page_size(5);
  std::multiset<std::string> seen;
  int pages = 0;
  while (true) {
    pb::ListInvitationsResponse page;
    ASSERT_THAT(stub().ListInvitations(Context().get(), req, &page), IsOk());
    ASSERT_LE(page.invitations_size(), 5);
    for (const auto& inv : page.invitations()) seen.insert(inv.id());
    ++pages;
    // Rows inserted between pages must neither shift nor repeat what is still to come.
    MustCreate(UniqueEmail("page"), pb::ROLE_VPN_USER, tenant);
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
    ASSERT_LT(pages, 20);
  }
  EXPECT_EQ(pages, 5);
  for (const std::string& id : original) EXPECT_EQ(seen.count(id), 1u) << id;
  EXPECT_EQ(seen.size(), original.size());
}

TEST_F(LifecycleTest, PageSizeIsCappedAndPageTokensAreBoundToTheirFilters) {
  const std::string tenant = UniqueTenant();
  for (int i = 0; i < 3; ++i) MustCreate(UniqueEmail("cap"), pb::ROLE_VPN_USER, tenant);
  pb::ListInvitationsRequest req;
  req.set_tenant_id(tenant);
  req.set_page_size(2);
  pb::ListInvitationsResponse first;
  ASSERT_THAT(stub().ListInvitations(Context().get(), req, &first), IsOk());
  ASSERT_FALSE(first.next_page_token().empty());

  pb::ListInvitationsRequest other = req;
  other.set_tenant_id(UniqueTenant());
  other.set_page_token(first.next_page_token());
  pb::ListInvitationsResponse resp;
  grpc::Status s = stub().ListInvitations(Context().get(), other, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ViolatedFields(s), ElementsAre("page_token"));

  req.set_page_token("garbage!");
  EXPECT_THAT(stub().ListInvitations(Context().get(), req, &resp),
              StatusIs(absl::StatusCode::kInvalidArgument));
  req.clear_page_token();
  req.set_page_size(-1);
  EXPECT_THAT(stub().ListInvitations(Context().get(), req, &resp),
              StatusIs(absl::StatusCode::kInvalidArgument));
  req.set_page_size(100000);
  ASSERT_THAT(stub().ListInvitations(Context().get(), req, &resp), IsOk());
  EXPECT_EQ(resp.invitations_size(), 3);
}


TEST_F(LifecycleTest, AcceptWithoutAnIdentityProviderIsUnavailableAndLeavesItPending) {
  pb::CreateInvitationResponse created = MustCreate(UniqueEmail());
  pb::AcceptInvitationRequest req;
  req.set_token(TokenOf(created.registration_url()));
  req.set_password("a long enough password");
  pb::AcceptInvitationResponse resp;
  EXPECT_THAT(stub().AcceptInvitation(Context().get(), req, &resp),
              StatusIs(absl::StatusCode::kUnavailable));
  pb::GetInvitationResponse got;
  ASSERT_THAT(Get(created.invitation().id(), &got), IsOk());
  EXPECT_EQ(got.invitation().state(), pb::INVITATION_STATE_PENDING);
}

TEST_F(LifecycleTest, OversizedRequestsAreRefusedWithoutHarm) {
  pb::CreateInvitationRequest req;
  req.set_email(std::string(5 * 1024 * 1024, 'a'));
  req.set_role(pb::ROLE_VPN_USER);
  pb::CreateInvitationResponse resp;
  EXPECT_THAT(Create(req, &resp), StatusIs(absl::StatusCode::kResourceExhausted));
  MustCreate(UniqueEmail());  // still serving
}

}  // namespace
}  // namespace securelink::testing
