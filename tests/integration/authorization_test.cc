// SPEC §6 over real gRPC: a real Authenticator (RS256 JWTs checked against a PEM public key file,
// issuer and audience set) in front of the invitation server on a real MariaDB. Every caller kind
// against every admin RPC, own and other tenant; every kind of forged token; the token RPCs'
// per-peer rate limit.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/jwt_verifier.h"
#include "server/authenticator.h"
#include "tests/auth/jwt_test_keys.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using Code = grpc::StatusCode;

constexpr Code kOk = Code::OK;
constexpr Code kDenied = Code::PERMISSION_DENIED;
constexpr Code kUnauthenticated = Code::UNAUTHENTICATED;
constexpr Code kInvalid = Code::INVALID_ARGUMENT;
constexpr Code kNotFound = Code::NOT_FOUND;
constexpr char kUnknownId[] = "0b7e6f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
constexpr char kMalformedId[] = "not-an-id";

// The callers of the matrix. The tenant admin and the VPN user both belong to tenant A.
enum class Who { kSuperAdmin, kTenantAdmin, kVpnUser, kNobody };

std::string WhoName(Who who) {
  switch (who) {
    case Who::kSuperAdmin: return "SuperAdmin";
    case Who::kTenantAdmin: return "TenantAdmin(A)";
    case Who::kVpnUser: return "VpnUser(A)";
    case Who::kNobody: return "no token";
  }
  return "?";
}

std::string Subject(Who who) {
  switch (who) {
    case Who::kSuperAdmin: return "sub-super-admin-0001";
    case Who::kTenantAdmin: return "sub-tenant-admin-a-0002";
    case Who::kVpnUser: return "sub-vpn-user-a-0003";
    case Who::kNobody: return "";
  }
  return "";
}

// A tenant relative to the caller: A (own), B (other) or none at all.
enum class Tenant { kOwn, kOther, kNone };

std::string TenantName(Tenant t) {
  switch (t) {
    case Tenant::kOwn: return "own tenant";
    case Tenant::kOther: return "other tenant";
    case Tenant::kNone: return "no tenant";
  }
  return "?";
}

std::string CodeName(Code code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

class AuthorizationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new std::shared_ptr<EVP_PKEY>(GenerateRsaKey());
    other_key_ = new std::shared_ptr<EVP_PKEY>(GenerateRsaKey());
    tenant_a_ = new std::string(UniqueTenant());
    tenant_b_ = new std::string(UniqueTenant());

    // The key reaches the verifier the way --jwt_public_key_file does: as a PEM file.
    const char* tmp = getenv("TMPDIR");
    std::string dir_template = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp", "/authz-XXXXXX");
    ASSERT_NE(mkdtemp(dir_template.data()), nullptr);
    key_dir_ = new std::string(dir_template);
    const std::string pem_path = absl::StrCat(*key_dir_, "/jwt-public.pem");
    {
      std::ofstream pem(pem_path);
      pem << PublicKeyPem(key_->get());
    }
    absl::StatusOr<std::shared_ptr<inv::PemKeySource>> keys =
        inv::PemKeySource::FromFile(pem_path);
    ASSERT_TRUE(keys.ok()) << keys.status();
    auto verifier = std::make_shared<inv::JwtVerifier>(
        *keys, inv::JwtOptions{kIssuer, kAudience, absl::Seconds(30)}, clock_);
    authenticator_ = new inv::Authenticator(std::move(verifier), inv::RoleNames());

    TestServerOptions options;
    options.authenticator = authenticator_;
    absl::StatusOr<std::unique_ptr<TestServer>> s = TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete authenticator_;
    if (key_dir_ != nullptr) {
      std::remove(absl::StrCat(*key_dir_, "/jwt-public.pem").c_str());
      rmdir(key_dir_->c_str());
    }
    delete key_dir_;
    delete key_;
    delete other_key_;
    delete tenant_a_;
    delete tenant_b_;
  }

  static const std::string& TenantA() { return *tenant_a_; }
  static const std::string& TenantB() { return *tenant_b_; }
  static std::string TenantId(Tenant t) {
    return t == Tenant::kOwn ? TenantA() : t == Tenant::kOther ? TenantB() : "";
  }

  // The claims Keycloak would put into `who`'s access token, valid for five minutes from now.
  static Json Claims(Who who) {
    Json claims = KeycloakClaims(absl::Now());
    claims["sub"] = Subject(who);
    claims.erase("tenant_id");
    switch (who) {
      case Who::kSuperAdmin:
        claims["preferred_username"] = "root";
        claims["realm_access"]["roles"] = {"offline_access", "securelink-super-admin"};
        break;
      case Who::kTenantAdmin:
        claims["preferred_username"] = "tina";
        claims["realm_access"]["roles"] = {"offline_access", "securelink-tenant-admin"};
        claims["tenant_id"] = TenantA();
        break;
      case Who::kVpnUser:
      case Who::kNobody:
        claims["preferred_username"] = "victor";
        claims["realm_access"]["roles"] = {"offline_access", "securelink-vpn-user"};
        claims["tenant_id"] = TenantA();
        break;
    }
    return claims;
  }
  static Json Header() { return Json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "test-key-1"}}; }
  static std::string Sign(const Json& claims) {
    return SignRs256(Header(), claims, key_->get());
  }
  static std::string TokenFor(Who who) { return Sign(Claims(who)); }

  // A client context carrying `who`'s bearer token (none for kNobody).
  static std::unique_ptr<grpc::ClientContext> As(Who who) {
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    if (who != Who::kNobody) ctx->AddMetadata("authorization", "Bearer " + TokenFor(who));
    return ctx;
  }
  static std::unique_ptr<grpc::ClientContext> WithAuthorization(const std::string& value) {
    std::unique_ptr<grpc::ClientContext> ctx = Context();
    ctx->AddMetadata("authorization", value);
    return ctx;
  }

  static pb::InvitationService::Stub& stub() { return server_->stub(); }

  // An invitation made by the SuperAdmin (no email is queued, so send_count starts at 0).
  static pb::Invitation MustInvite(pb::Role role, const std::string& tenant) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("fixture"));
    req.set_role(role);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    pb::CreateInvitationResponse resp;
    grpc::Status s = stub().CreateInvitation(As(Who::kSuperAdmin).get(), req, &resp);
    EXPECT_THAT(s, IsOk());
    return resp.invitation();
  }

  // The invitation as the SuperAdmin sees it.
  static pb::Invitation MustGet(const std::string& id) {
    pb::GetInvitationRequest req;
    req.set_id(id);
    pb::GetInvitationResponse resp;
    EXPECT_THAT(stub().GetInvitation(As(Who::kSuperAdmin).get(), req, &resp), IsOk());
    return resp.invitation();
  }

  // Invitations for exactly `email`, as the SuperAdmin sees them.
  static std::vector<pb::Invitation> InvitationsFor(const std::string& email) {
    pb::ListInvitationsRequest req;
    req.set_email_query(email);
    req.set_page_size(500);
    pb::ListInvitationsResponse resp;
    EXPECT_THAT(stub().ListInvitations(As(Who::kSuperAdmin).get(), req, &resp), IsOk());
    std::vector<pb::Invitation> out;
    for (const pb::Invitation& inv : resp.invitations()) {
      if (inv.email() == email) out.push_back(inv);
    }
    return out;
  }

  static inline inv::SystemClock clock_;
  static inline std::shared_ptr<EVP_PKEY>* key_ = nullptr;
  static inline std::shared_ptr<EVP_PKEY>* other_key_ = nullptr;
  static inline std::string* key_dir_ = nullptr;
  static inline std::string* tenant_a_ = nullptr;
  static inline std::string* tenant_b_ = nullptr;
  static inline inv::Authenticator* authenticator_ = nullptr;
  static inline TestServer* server_ = nullptr;
};

// ---- CreateInvitation ---------------------------------------------------------------------

struct CreateCase {
  Who who;
  pb::Role role;
  Tenant tenant;
  Code expected;
};

TEST_F(AuthorizationTest, CreateInvitationMatrix) {
  const std::vector<CreateCase> cases = {
      // SuperAdmin: any role in any tenant (a tenant-bound role still needs a tenant).
      {Who::kSuperAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kOwn, kOk},
      {Who::kSuperAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kOther, kOk},
      {Who::kSuperAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kOk},
      {Who::kSuperAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kOwn, kOk},
      {Who::kSuperAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kOther, kOk},
      {Who::kSuperAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kNone, kInvalid},
      {Who::kSuperAdmin, pb::ROLE_VPN_USER, Tenant::kOwn, kOk},
      {Who::kSuperAdmin, pb::ROLE_VPN_USER, Tenant::kOther, kOk},
      {Who::kSuperAdmin, pb::ROLE_VPN_USER, Tenant::kNone, kInvalid},
      // TenantAdmin of A: tenant admins and VPN users of A (no tenant means A), never a SuperAdmin.
      {Who::kTenantAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kOwn, kDenied},
      {Who::kTenantAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kOther, kDenied},
      {Who::kTenantAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kDenied},
      {Who::kTenantAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kOwn, kOk},
      {Who::kTenantAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kOther, kDenied},
      {Who::kTenantAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kNone, kOk},
      {Who::kTenantAdmin, pb::ROLE_VPN_USER, Tenant::kOwn, kOk},
      {Who::kTenantAdmin, pb::ROLE_VPN_USER, Tenant::kOther, kDenied},
      {Who::kTenantAdmin, pb::ROLE_VPN_USER, Tenant::kNone, kOk},
      // A VPN user is no admin: nothing, not even in its own tenant.
      {Who::kVpnUser, pb::ROLE_SUPER_ADMIN, Tenant::kOwn, kDenied},
      {Who::kVpnUser, pb::ROLE_SUPER_ADMIN, Tenant::kOther, kDenied},
      {Who::kVpnUser, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kDenied},
      {Who::kVpnUser, pb::ROLE_TENANT_ADMIN, Tenant::kOwn, kDenied},
      {Who::kVpnUser, pb::ROLE_TENANT_ADMIN, Tenant::kOther, kDenied},
      {Who::kVpnUser, pb::ROLE_TENANT_ADMIN, Tenant::kNone, kDenied},
      {Who::kVpnUser, pb::ROLE_VPN_USER, Tenant::kOwn, kDenied},
      {Who::kVpnUser, pb::ROLE_VPN_USER, Tenant::kOther, kDenied},
      {Who::kVpnUser, pb::ROLE_VPN_USER, Tenant::kNone, kDenied},
      // No token at all.
      {Who::kNobody, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kUnauthenticated},
      {Who::kNobody, pb::ROLE_TENANT_ADMIN, Tenant::kOwn, kUnauthenticated},
      {Who::kNobody, pb::ROLE_VPN_USER, Tenant::kOwn, kUnauthenticated},
      {Who::kNobody, pb::ROLE_VPN_USER, Tenant::kOther, kUnauthenticated},
      {Who::kNobody, pb::ROLE_VPN_USER, Tenant::kNone, kUnauthenticated},
  };
  for (const CreateCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(WhoName(c.who), " creates ", pb::Role_Name(c.role), " in ",
                              TenantName(c.tenant), ", expecting ", CodeName(c.expected)));
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("create"));
    req.set_role(c.role);
    req.set_tenant_id(TenantId(c.tenant));
    pb::CreateInvitationResponse resp;
    grpc::Status s = stub().CreateInvitation(As(c.who).get(), req, &resp);
    EXPECT_EQ(s.error_code(), c.expected) << CodeName(s.error_code()) << ": " << s.error_message();
    if (c.expected == kOk && s.ok()) {
      EXPECT_EQ(resp.invitation().created_by(), Subject(c.who));
      const std::string want_tenant =
          c.who == Who::kTenantAdmin && c.tenant == Tenant::kNone ? TenantA() : TenantId(c.tenant);
      EXPECT_EQ(resp.invitation().tenant_id(), want_tenant);
      EXPECT_FALSE(resp.registration_url().empty());
    } else {
      EXPECT_TRUE(resp.registration_url().empty());
      EXPECT_THAT(InvitationsFor(req.email()), ::testing::IsEmpty())
          << "a refused create left an invitation behind";
    }
  }
}

// ---- GetInvitation / ResendInvitation / RevokeInvitation ----------------------------------

enum class Action { kGet, kResend, kRevoke };
// The invitation a by-id call names: a VPN user of A (own) or B (other), a SuperAdmin
// invitation that names tenant A, a global SuperAdmin invitation, an id nobody has, or no id.
enum class Target { kOwn, kOther, kSuperAdminInOwn, kGlobalSuperAdmin, kUnknown, kMalformed };

std::string ActionName(Action a) {
  switch (a) {
    case Action::kGet: return "Get";
    case Action::kResend: return "Resend";
    case Action::kRevoke: return "Revoke";
  }
  return "?";
}

std::string TargetName(Target t) {
  switch (t) {
    case Target::kOwn: return "a VPN-user invitation of the own tenant";
    case Target::kOther: return "a VPN-user invitation of another tenant";
    case Target::kSuperAdminInOwn: return "a SuperAdmin invitation naming the own tenant";
    case Target::kGlobalSuperAdmin: return "a global SuperAdmin invitation";
    case Target::kUnknown: return "an id that does not exist";
    case Target::kMalformed: return "a malformed id";
  }
  return "?";
}

struct ByIdCase {
  Who who;
  Action action;
  Target target;
  Code expected;
};

// `who` performs `action` on invitation `id`; the status only.
grpc::Status ById(pb::InvitationService::Stub& stub, std::unique_ptr<grpc::ClientContext> ctx,
                  Action action, const std::string& id) {
  switch (action) {
    case Action::kGet: {
      pb::GetInvitationRequest req;
      req.set_id(id);
      pb::GetInvitationResponse resp;
      return stub.GetInvitation(ctx.get(), req, &resp);
    }
    case Action::kResend: {
      pb::ResendInvitationRequest req;
      req.set_id(id);
      pb::ResendInvitationResponse resp;
      return stub.ResendInvitation(ctx.get(), req, &resp);
    }
    case Action::kRevoke: {
      pb::RevokeInvitationRequest req;
      req.set_id(id);
      pb::RevokeInvitationResponse resp;
      return stub.RevokeInvitation(ctx.get(), req, &resp);
    }
  }
  return grpc::Status::CANCELLED;
}

// `answer` (about invitation `id`) is exactly what the SuperAdmin gets for an id nobody has, but
// for the id itself: code, message, reason and metadata (SPEC §10: foreign ids look unknown).
void ExpectAnswerForAnUnknownId(const grpc::Status& answer, Action action, const std::string& id,
                                pb::InvitationService::Stub& stub,
                                std::unique_ptr<grpc::ClientContext> super_admin) {
  const std::string nobodys = "1d6f0e2a-3b4c-4d5e-9f60-718293a4b5c6";
  grpc::Status unknown = ById(stub, std::move(super_admin), action, nobodys);
  ASSERT_EQ(unknown.error_code(), Code::NOT_FOUND) << unknown.error_message();
  auto scrub = [](std::string text, const std::string& of) {
    for (size_t at; (at = text.find(of)) != std::string::npos;) text.replace(at, of.size(), "<id>");
    return text;
  };
  EXPECT_EQ(scrub(answer.error_message(), id), scrub(unknown.error_message(), nobodys));
  EXPECT_EQ(ErrorReason(answer), ErrorReason(unknown));
  EXPECT_EQ(ErrorMetadata(answer, "invitation_id"), id);
  EXPECT_EQ(ErrorMetadata(answer, "tenant_id"), "");
}

TEST_F(AuthorizationTest, ByIdMatrix) {
  std::vector<ByIdCase> cases;
  for (Action a : {Action::kGet, Action::kResend, Action::kRevoke}) {
    const bool mutates = a != Action::kGet;
    // SuperAdmin: everything.
    for (Target t : {Target::kOwn, Target::kOther, Target::kSuperAdminInOwn,
                     Target::kGlobalSuperAdmin}) {
      cases.push_back({Who::kSuperAdmin, a, t, kOk});
    }
    cases.push_back({Who::kSuperAdmin, a, Target::kUnknown, kNotFound});
    cases.push_back({Who::kSuperAdmin, a, Target::kMalformed, kInvalid});
    // TenantAdmin of A: only A; may read a SuperAdmin invitation naming A but not resend or
    // revoke it (a resend would hand it a SuperAdmin registration link). What it may not read
    // does not exist as far as it can tell (SPEC §10).
    cases.push_back({Who::kTenantAdmin, a, Target::kOwn, kOk});
    cases.push_back({Who::kTenantAdmin, a, Target::kOther, kNotFound});
    cases.push_back({Who::kTenantAdmin, a, Target::kSuperAdminInOwn, mutates ? kDenied : kOk});
    cases.push_back({Who::kTenantAdmin, a, Target::kGlobalSuperAdmin, kNotFound});
    cases.push_back({Who::kTenantAdmin, a, Target::kUnknown, kNotFound});
    cases.push_back({Who::kTenantAdmin, a, Target::kMalformed, kInvalid});
    // A VPN user: nothing, not even in its own tenant, and refused before any id is looked at.
    cases.push_back({Who::kVpnUser, a, Target::kOwn, kDenied});
    cases.push_back({Who::kVpnUser, a, Target::kOther, kDenied});
    cases.push_back({Who::kVpnUser, a, Target::kSuperAdminInOwn, kDenied});
    cases.push_back({Who::kVpnUser, a, Target::kUnknown, kDenied});
    cases.push_back({Who::kVpnUser, a, Target::kMalformed, kDenied});
    // No token.
    cases.push_back({Who::kNobody, a, Target::kOwn, kUnauthenticated});
    cases.push_back({Who::kNobody, a, Target::kOther, kUnauthenticated});
    cases.push_back({Who::kNobody, a, Target::kUnknown, kUnauthenticated});
  }

  for (const ByIdCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(WhoName(c.who), " ", ActionName(c.action), "s ",
                              TargetName(c.target), ", expecting ", CodeName(c.expected)));
    // A fresh target per case: a revoke or resend that went through must not affect the next.
    pb::Invitation target;
    switch (c.target) {
      case Target::kOwn: target = MustInvite(pb::ROLE_VPN_USER, TenantA()); break;
      case Target::kOther: target = MustInvite(pb::ROLE_VPN_USER, TenantB()); break;
      case Target::kSuperAdminInOwn: target = MustInvite(pb::ROLE_SUPER_ADMIN, TenantA()); break;
      case Target::kGlobalSuperAdmin: target = MustInvite(pb::ROLE_SUPER_ADMIN, ""); break;
      case Target::kUnknown: target.set_id(kUnknownId); break;
      case Target::kMalformed: target.set_id(kMalformedId); break;
    }
    ASSERT_FALSE(target.id().empty());
    const bool exists = c.target != Target::kUnknown && c.target != Target::kMalformed;
    grpc::Status s;
    switch (c.action) {
      case Action::kGet: {
        pb::GetInvitationRequest req;
        req.set_id(target.id());
        pb::GetInvitationResponse resp;
        s = stub().GetInvitation(As(c.who).get(), req, &resp);
        if (s.ok()) {
          EXPECT_EQ(resp.invitation().id(), target.id());
        } else {
          EXPECT_FALSE(resp.has_invitation());
        }
        break;
      }
      case Action::kResend: {
        pb::ResendInvitationRequest req;
        req.set_id(target.id());
        pb::ResendInvitationResponse resp;
        s = stub().ResendInvitation(As(c.who).get(), req, &resp);
        if (s.ok()) {
          EXPECT_EQ(resp.invitation().send_count(), target.send_count() + 1);
          EXPECT_FALSE(resp.registration_url().empty());
        } else {
          EXPECT_TRUE(resp.registration_url().empty()) << "a refused resend handed out a link";
        }
        break;
      }
      case Action::kRevoke: {
        pb::RevokeInvitationRequest req;
        req.set_id(target.id());
        req.set_reason("authorization matrix");
        pb::RevokeInvitationResponse resp;
        s = stub().RevokeInvitation(As(c.who).get(), req, &resp);
        if (s.ok()) {
          EXPECT_EQ(resp.invitation().state(), pb::INVITATION_STATE_REVOKED);
        }
        break;
      }
    }
    EXPECT_EQ(s.error_code(), c.expected) << CodeName(s.error_code()) << ": " << s.error_message();
    if (s.error_code() == kNotFound) {
      ExpectAnswerForAnUnknownId(s, c.action, target.id(), stub(), As(Who::kSuperAdmin));
    }
    if (!s.ok() && exists) {
      // A refused call changed nothing: still PENDING, no email issued, same expiry.
      pb::Invitation after = MustGet(target.id());
      EXPECT_EQ(after.state(), pb::INVITATION_STATE_PENDING);
      EXPECT_EQ(after.send_count(), target.send_count());
      EXPECT_EQ(after.expire_time().seconds(), target.expire_time().seconds());
    }
  }
}

// Whatever the action, a tenant admin never gets an invitation of another tenant, including one
// that was already resent or revoked by its own admins, and cannot tell it from an id that does
// not exist.
TEST_F(AuthorizationTest, CrossTenantByIdCallsNeverSucceedAndLookUnknown) {
  const pb::Invitation theirs = MustInvite(pb::ROLE_VPN_USER, TenantB());
  const pb::Invitation revoked = MustInvite(pb::ROLE_TENANT_ADMIN, TenantB());
  {
    pb::RevokeInvitationRequest req;
    req.set_id(revoked.id());
    pb::RevokeInvitationResponse resp;
    ASSERT_THAT(stub().RevokeInvitation(As(Who::kSuperAdmin).get(), req, &resp), IsOk());
  }
  for (const pb::Invitation& inv : {theirs, revoked}) {
    for (int attempt = 0; attempt < 2; ++attempt) {  // twice: a refusal leaves nothing behind
      for (Action action : {Action::kGet, Action::kResend, Action::kRevoke}) {
        SCOPED_TRACE(absl::StrCat(ActionName(action), " of ", inv.id()));
        grpc::Status s = ById(stub(), As(Who::kTenantAdmin), action, inv.id());
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
        EXPECT_THAT(s.error_message(), Not(HasSubstr(inv.email())));
        EXPECT_THAT(s.error_message(), Not(HasSubstr(TenantB())));
        ExpectAnswerForAnUnknownId(s, action, inv.id(), stub(), As(Who::kSuperAdmin));
      }
    }
  }
  EXPECT_EQ(MustGet(theirs.id()).state(), pb::INVITATION_STATE_PENDING);
  EXPECT_EQ(MustGet(theirs.id()).send_count(), theirs.send_count());
  EXPECT_EQ(MustGet(revoked.id()).state(), pb::INVITATION_STATE_REVOKED);
}

// ---- An address that another tenant's invitation holds (SPEC §10) ---------------------------

// The ALREADY_EXISTS that a create or resend gets, and a bulk's SKIPPED_PENDING, name the active
// invitation only to a caller who may read it.
TEST_F(AuthorizationTest, AnActiveInvitationIsNamedOnlyToCallersWhoMayReadIt) {
  const pb::Invitation in_b = MustInvite(pb::ROLE_VPN_USER, TenantB());
  const pb::Invitation in_a = MustInvite(pb::ROLE_VPN_USER, TenantA());
  auto create = [&](Who who, const std::string& email, const std::string& tenant) {
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    pb::CreateInvitationResponse resp;
    return stub().CreateInvitation(As(who).get(), req, &resp);
  };
  {
    SCOPED_TRACE("a tenant admin of A, the address held in B");
    grpc::Status s = create(Who::kTenantAdmin, in_b.email(), TenantA());
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_EQ(ErrorReason(s), "ACTIVE_INVITATION_EXISTS");
    EXPECT_EQ(ErrorMetadata(s, "invitation_id"), "");
    EXPECT_EQ(ErrorMetadata(s, "tenant_id"), "");
    EXPECT_THAT(s.error_message(), Not(HasSubstr(in_b.id())));
    EXPECT_THAT(s.error_message(), Not(HasSubstr(TenantB())));
  }
  {
    SCOPED_TRACE("a tenant admin of A, the address held in A");
    grpc::Status s = create(Who::kTenantAdmin, in_a.email(), TenantA());
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_EQ(ErrorMetadata(s, "invitation_id"), in_a.id());
    EXPECT_THAT(s.error_message(), HasSubstr(in_a.id()));
  }
  {
    SCOPED_TRACE("a SuperAdmin, the address held in B");
    grpc::Status s = create(Who::kSuperAdmin, in_b.email(), TenantA());
    EXPECT_EQ(ErrorMetadata(s, "invitation_id"), in_b.id());
    EXPECT_EQ(ErrorMetadata(s, "tenant_id"), TenantB());
  }
  for (bool validate_only : {true, false}) {
    SCOPED_TRACE(validate_only ? "bulk, validate_only" : "bulk");
    pb::BulkInviteRequest req;
    req.mutable_emails()->add_emails(in_b.email());
    req.mutable_emails()->add_emails(in_a.email());
    req.set_role(pb::ROLE_VPN_USER);
    req.set_validate_only(validate_only);
    req.set_suppress_email(true);
    std::unique_ptr<grpc::ClientContext> ctx = As(Who::kTenantAdmin);
    auto reader = stub().BulkInvite(ctx.get(), req);
    std::vector<pb::BulkInviteResult> results;
    pb::BulkInviteResponse msg;
    while (reader->Read(&msg)) {
      if (msg.has_result()) results.push_back(msg.result());
    }
    ASSERT_THAT(reader->Finish(), IsOk());
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0].outcome(), pb::BULK_INVITE_OUTCOME_SKIPPED_PENDING);
    EXPECT_EQ(results[0].invitation_id(), "") << "named another tenant's invitation";
    EXPECT_THAT(results[0].message(), Not(HasSubstr(TenantB())));
    EXPECT_EQ(results[1].outcome(), pb::BULK_INVITE_OUTCOME_SKIPPED_PENDING);
    EXPECT_EQ(results[1].invitation_id(), in_a.id());
  }
  {
    SCOPED_TRACE("a request_id another tenant's invitation was made with");
    pb::CreateInvitationRequest first;
    first.set_email(UniqueEmail("rid"));
    first.set_role(pb::ROLE_VPN_USER);
    first.set_tenant_id(TenantB());
    first.set_request_id(absl::StrCat("rid-", TenantB()));
    first.set_suppress_email(true);
    pb::CreateInvitationResponse first_resp;
    ASSERT_THAT(stub().CreateInvitation(As(Who::kSuperAdmin).get(), first, &first_resp), IsOk());
    pb::CreateInvitationRequest again = first;
    again.set_email(UniqueEmail("rid"));
    again.set_tenant_id(TenantA());
    pb::CreateInvitationResponse again_resp;
    grpc::Status s = stub().CreateInvitation(As(Who::kTenantAdmin).get(), again, &again_resp);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_EQ(ErrorReason(s), "REQUEST_ID_REUSED");
    EXPECT_EQ(ErrorMetadata(s, "invitation_id"), "");
    EXPECT_THAT(s.error_message(), Not(HasSubstr(first_resp.invitation().id())));
  }
}

// ---- ListInvitations ------------------------------------------------------------------------

struct ListCase {
  Who who;
  Tenant tenant;
  Code expected;
  std::set<std::string> visible_tenants;  // for OK: every row returned is in one of these
};

TEST_F(AuthorizationTest, ListReturnsOnlyWhatTheCallerMaySee) {
  const pb::Invitation in_a = MustInvite(pb::ROLE_VPN_USER, TenantA());
  const pb::Invitation in_b = MustInvite(pb::ROLE_VPN_USER, TenantB());
  const pb::Invitation global = MustInvite(pb::ROLE_SUPER_ADMIN, "");
  const std::string a = TenantA(), b = TenantB();

  const std::vector<ListCase> cases = {
      {Who::kSuperAdmin, Tenant::kNone, kOk, {a, b, ""}},
      {Who::kSuperAdmin, Tenant::kOwn, kOk, {a}},
      {Who::kSuperAdmin, Tenant::kOther, kOk, {b}},
      {Who::kTenantAdmin, Tenant::kNone, kOk, {a}},
      {Who::kTenantAdmin, Tenant::kOwn, kOk, {a}},
      {Who::kTenantAdmin, Tenant::kOther, kDenied, {}},
      {Who::kVpnUser, Tenant::kNone, kDenied, {}},
      {Who::kVpnUser, Tenant::kOwn, kDenied, {}},
      {Who::kNobody, Tenant::kNone, kUnauthenticated, {}},
      {Who::kNobody, Tenant::kOwn, kUnauthenticated, {}},
  };
  for (const ListCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(WhoName(c.who), " lists ", TenantName(c.tenant), ", expecting ",
                              CodeName(c.expected)));
    pb::ListInvitationsRequest req;
    req.set_tenant_id(TenantId(c.tenant));
    req.set_page_size(500);
    pb::ListInvitationsResponse resp;
    grpc::Status s = stub().ListInvitations(As(c.who).get(), req, &resp);
    EXPECT_EQ(s.error_code(), c.expected) << CodeName(s.error_code()) << ": " << s.error_message();
    if (!s.ok()) {
      EXPECT_EQ(resp.invitations_size(), 0);
      continue;
    }
    std::set<std::string> ids;
    for (const pb::Invitation& inv : resp.invitations()) {
      ids.insert(inv.id());
      EXPECT_TRUE(c.visible_tenants.count(inv.tenant_id()))
          << "row " << inv.id() << " of tenant '" << inv.tenant_id() << "' is visible";
    }
    EXPECT_EQ(ids.count(in_a.id()), c.visible_tenants.count(a));
    EXPECT_EQ(ids.count(in_b.id()), c.visible_tenants.count(b));
    EXPECT_EQ(ids.count(global.id()), c.visible_tenants.count(""));
    // The total counts only what the caller may see, too.
    ASSERT_TRUE(resp.next_page_token().empty());
    EXPECT_EQ(resp.total_size(), resp.invitations_size());
  }
}

// ---- WatchInvitationEvents ----------------------------------------------------------------

TEST_F(AuthorizationTest, TheEventFeedShowsOnlyWhatTheCallerMaySeeAndNamesTheActor) {
  // One event in each tenant, the own tenant's made by its TenantAdmin.
  pb::CreateInvitationRequest create;
  create.set_email(UniqueEmail("feed-a"));
  create.set_role(pb::ROLE_VPN_USER);
  create.set_tenant_id(TenantA());
  create.set_suppress_email(true);
  pb::CreateInvitationResponse made_by_tenant_admin;
  ASSERT_THAT(stub().CreateInvitation(As(Who::kTenantAdmin).get(), create, &made_by_tenant_admin),
              IsOk());
  const pb::Invitation in_b = MustInvite(pb::ROLE_VPN_USER, TenantB());
  const pb::Invitation global = MustInvite(pb::ROLE_SUPER_ADMIN, "");
  const std::string a = TenantA(), b = TenantB();

  const std::vector<ListCase> cases = {
      {Who::kSuperAdmin, Tenant::kNone, kOk, {a, b, ""}},
      {Who::kSuperAdmin, Tenant::kOther, kOk, {b}},
      {Who::kTenantAdmin, Tenant::kNone, kOk, {a}},
      {Who::kTenantAdmin, Tenant::kOwn, kOk, {a}},
      {Who::kTenantAdmin, Tenant::kOther, kDenied, {}},
      {Who::kVpnUser, Tenant::kNone, kDenied, {}},
      {Who::kVpnUser, Tenant::kOwn, kDenied, {}},
      {Who::kNobody, Tenant::kNone, kUnauthenticated, {}},
  };
  for (const ListCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(WhoName(c.who), " watches ", TenantName(c.tenant), ", expecting ",
                              CodeName(c.expected)));
    pb::WatchInvitationEventsRequest req;
    req.set_tenant_id(TenantId(c.tenant));
    req.set_after_event_id("0");
    req.set_replay_only(true);
    std::unique_ptr<grpc::ClientContext> ctx = As(c.who);
    auto reader = stub().WatchInvitationEvents(ctx.get(), req);
    std::map<std::string, pb::InvitationEvent> created;  // by invitation id
    pb::WatchInvitationEventsResponse resp;
    while (reader->Read(&resp)) {
      EXPECT_TRUE(c.visible_tenants.count(resp.event().tenant_id()))
          << "event " << resp.event().event_id() << " of tenant '" << resp.event().tenant_id()
          << "' is visible";
      if (resp.event().type() == pb::INVITATION_EVENT_TYPE_CREATED) {
        created[resp.event().invitation_id()] = resp.event();
      }
    }
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), c.expected) << CodeName(s.error_code()) << ": " << s.error_message();
    if (!s.ok()) {
      EXPECT_TRUE(created.empty());
      continue;
    }
    const std::string mine = made_by_tenant_admin.invitation().id();
    EXPECT_EQ(created.count(mine), c.visible_tenants.count(a));
    EXPECT_EQ(created.count(in_b.id()), c.visible_tenants.count(b));
    EXPECT_EQ(created.count(global.id()), c.visible_tenants.count(""));
    if (created.count(mine)) {
      EXPECT_EQ(created[mine].actor(), Subject(Who::kTenantAdmin));
    }
    if (created.count(in_b.id())) {
      EXPECT_EQ(created[in_b.id()].actor(), Subject(Who::kSuperAdmin));
    }
  }
}

// ---- BulkInvite -----------------------------------------------------------------------------

struct BulkCase {
  Who who;
  pb::Role role;
  Tenant tenant;
  Code expected;
};

// Tenant policies (SPEC §11): the SuperAdmin reads and writes every tenant's; a tenant admin
// reads only its own and writes none; anyone else nothing.
TEST_F(AuthorizationTest, TenantPolicyMatrix) {
  struct Case {
    Who who;
    Tenant tenant;
    Code read;
    Code write;
  };
  const std::vector<Case> cases = {
      {Who::kSuperAdmin, Tenant::kOwn, kOk, kOk},
      {Who::kSuperAdmin, Tenant::kOther, kOk, kOk},
      {Who::kTenantAdmin, Tenant::kOwn, kOk, kDenied},
      {Who::kTenantAdmin, Tenant::kOther, kDenied, kDenied},
      {Who::kVpnUser, Tenant::kOwn, kDenied, kDenied},
      {Who::kNobody, Tenant::kOwn, kUnauthenticated, kUnauthenticated},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(WhoName(c.who), ", ", TenantName(c.tenant)));
    pb::GetTenantPolicyRequest get;
    get.set_tenant_id(TenantId(c.tenant));
    pb::GetTenantPolicyResponse got;
    EXPECT_EQ(stub().GetTenantPolicy(As(c.who).get(), get, &got).error_code(), c.read);

    pb::UpdateTenantPolicyRequest update;
    update.mutable_policy()->set_tenant_id(TenantId(c.tenant));
    update.mutable_policy()->set_max_pending_invitations(1000);
    update.mutable_update_mask()->add_paths("max_pending_invitations");
    pb::UpdateTenantPolicyResponse updated;
    grpc::Status s = stub().UpdateTenantPolicy(As(c.who).get(), update, &updated);
    EXPECT_EQ(s.error_code(), c.write) << s.error_message();
    if (c.who == Who::kTenantAdmin && c.tenant == Tenant::kOwn) {
      EXPECT_THAT(s.error_message(), HasSubstr("only a SuperAdmin"));
    }
  }
}

TEST_F(AuthorizationTest, BulkInviteMatrix) {
  const std::vector<BulkCase> cases = {
      {Who::kSuperAdmin, pb::ROLE_VPN_USER, Tenant::kOwn, kOk},
      {Who::kSuperAdmin, pb::ROLE_VPN_USER, Tenant::kOther, kOk},
      {Who::kSuperAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kOk},
      {Who::kTenantAdmin, pb::ROLE_VPN_USER, Tenant::kOwn, kOk},
      {Who::kTenantAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kOwn, kOk},
      {Who::kTenantAdmin, pb::ROLE_VPN_USER, Tenant::kNone, kOk},
      {Who::kTenantAdmin, pb::ROLE_VPN_USER, Tenant::kOther, kDenied},
      {Who::kTenantAdmin, pb::ROLE_TENANT_ADMIN, Tenant::kOther, kDenied},
      {Who::kTenantAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kOwn, kDenied},
      {Who::kTenantAdmin, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kDenied},
      {Who::kVpnUser, pb::ROLE_VPN_USER, Tenant::kOwn, kDenied},
      {Who::kVpnUser, pb::ROLE_VPN_USER, Tenant::kNone, kDenied},
      {Who::kVpnUser, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kDenied},
      {Who::kNobody, pb::ROLE_VPN_USER, Tenant::kOwn, kUnauthenticated},
      {Who::kNobody, pb::ROLE_SUPER_ADMIN, Tenant::kNone, kUnauthenticated},
  };
  for (const BulkCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(WhoName(c.who), " bulk-invites ", pb::Role_Name(c.role), " in ",
                              TenantName(c.tenant), ", expecting ", CodeName(c.expected)));
    const std::vector<std::string> emails = {UniqueEmail("bulk"), UniqueEmail("bulk")};
    pb::BulkInviteRequest req;
    for (const std::string& e : emails) req.mutable_emails()->add_emails(e);
    req.set_role(c.role);
    req.set_tenant_id(TenantId(c.tenant));
    req.set_suppress_email(true);
    std::unique_ptr<grpc::ClientContext> ctx = As(c.who);
    std::unique_ptr<grpc::ClientReader<pb::BulkInviteResponse>> reader =
        stub().BulkInvite(ctx.get(), req);
    std::vector<pb::BulkInviteResult> results;
    pb::BulkInviteResponse msg;
    while (reader->Read(&msg)) {
      if (msg.has_result()) results.push_back(msg.result());
    }
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), c.expected) << CodeName(s.error_code()) << ": " << s.error_message();
    if (c.expected == kOk && s.ok()) {
      ASSERT_EQ(results.size(), emails.size());
      const std::string want_tenant =
          c.who == Who::kTenantAdmin && c.tenant == Tenant::kNone ? TenantA() : TenantId(c.tenant);
      for (const pb::BulkInviteResult& r : results) {
        EXPECT_EQ(r.outcome(), pb::BULK_INVITE_OUTCOME_CREATED) << r.message();
        pb::Invitation inv = MustGet(r.invitation_id());
        EXPECT_EQ(inv.created_by(), Subject(c.who));
        EXPECT_EQ(inv.tenant_id(), want_tenant);
        EXPECT_EQ(inv.role(), c.role);
      }
    } else {
      EXPECT_THAT(results, ::testing::IsEmpty()) << "a refused bulk call streamed results";
      for (const std::string& e : emails) {
        EXPECT_THAT(InvitationsFor(e), ::testing::IsEmpty()) << e;
      }
    }
  }
}

// ---- Forged, tampered and misdirected tokens -----------------------------------------------

struct BadToken {
  std::string name;
  std::string authorization;  // the whole metadata value
  std::string token;          // what must never be echoed
};

TEST_F(AuthorizationTest, EveryKindOfBadTokenIsUnauthenticatedOverTheWire) {
  const Json super = Claims(Who::kSuperAdmin);
  const std::string public_pem = PublicKeyPem(key_->get());
  std::vector<BadToken> bad;
  auto add = [&](std::string name, std::string token) {
    bad.push_back({std::move(name), "Bearer " + token, token});
  };
  {
    Json header = {{"alg", "none"}, {"typ", "JWT"}};
    add("alg=none, empty signature", absl::StrCat(B64Json(header), ".", B64Json(super), "."));
    std::vector<std::string> signed_parts = absl::StrSplit(Sign(super), '.');
    add("alg=none, RS256 signature kept",
        absl::StrCat(B64Json(header), ".", signed_parts[1], ".", signed_parts[2]));
  }
  {
    Json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "test-key-1"}};
    add("HS256 keyed with the public key PEM", SignHs256(header, super, public_pem));
    add("HS256 keyed with the public key DER",
        SignHs256(header, super, PublicKeyDer(key_->get())));
  }
  {
    Json claims = super;
    claims["iss"] = "https://evil.test/realms/securelink";
    add("wrong issuer", Sign(claims));
  }
  {
    Json claims = super;
    claims["aud"] = "some-other-client";
    add("wrong audience", Sign(claims));
  }
  {
    Json claims = super;
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    claims["iat"] = now - 7200;
    claims["exp"] = now - 3600;
    add("expired an hour ago", Sign(claims));
  }
  {
    // A VPN user's genuine token with the payload swapped for a SuperAdmin's.
    const std::string genuine = TokenFor(Who::kVpnUser);
    std::vector<std::string> parts = absl::StrSplit(genuine, '.');
    ASSERT_EQ(parts.size(), 3u);
    add("tampered payload (roles raised)",
        absl::StrCat(parts[0], ".", B64Json(Claims(Who::kSuperAdmin)), ".", parts[2]));
    Json tenant_moved = Claims(Who::kTenantAdmin);
    tenant_moved["tenant_id"] = TenantB();
    std::vector<std::string> ta = absl::StrSplit(TokenFor(Who::kTenantAdmin), '.');
    add("tampered payload (tenant moved)",
        absl::StrCat(ta[0], ".", B64Json(tenant_moved), ".", ta[2]));
  }
  add("signed by an unrelated key", SignRs256(Header(), super, other_key_->get()));
  add("not a JWT at all", "not-a-jwt");
  bad.push_back({"another scheme", "Basic " + B64("root:secret"), B64("root:secret")});
  bad.push_back({"empty bearer", "Bearer ", ""});

  for (const BadToken& b : bad) {
    SCOPED_TRACE(b.name);
    const std::string email = UniqueEmail("forged");
    pb::CreateInvitationRequest req;
    req.set_email(email);
    req.set_role(pb::ROLE_SUPER_ADMIN);
    pb::CreateInvitationResponse resp;
    grpc::Status s = stub().CreateInvitation(WithAuthorization(b.authorization).get(), req, &resp);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_TRUE(absl::StartsWith(ErrorReason(s), "AUTH_TOKEN_")) << ErrorReason(s);
    EXPECT_FALSE(s.error_message().empty());
    // Neither the token nor any of its parts is echoed, in the message or the details.
    for (absl::string_view part : absl::StrSplit(b.token, '.')) {
      if (part.size() < 8) continue;
      EXPECT_THAT(s.error_message(), Not(HasSubstr(std::string(part))));
      EXPECT_THAT(s.error_details(), Not(HasSubstr(std::string(part))));
    }
    EXPECT_THAT(InvitationsFor(email), ::testing::IsEmpty());

    // The same token on a read is refused just as well.
    pb::ListInvitationsRequest list;
    pb::ListInvitationsResponse listed;
    EXPECT_THAT(stub().ListInvitations(WithAuthorization(b.authorization).get(), list, &listed),
                StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_EQ(listed.invitations_size(), 0);
  }
}

TEST_F(AuthorizationTest, AnExpiredTokenSaysSoSoTheCallerKnowsToLogInAgain) {
  Json claims = Claims(Who::kSuperAdmin);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  claims["iat"] = now - 7200;
  claims["exp"] = now - 3600;
  pb::ListInvitationsRequest req;
  pb::ListInvitationsResponse resp;
  grpc::Status s =
      stub().ListInvitations(WithAuthorization("Bearer " + Sign(claims)).get(), req, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(ErrorReason(s), "AUTH_TOKEN_EXPIRED");
}

TEST_F(AuthorizationTest, TokenRpcsNeedNoCredentials) {
  pb::Invitation inv;
  pb::CreateInvitationRequest create;
  create.set_email(UniqueEmail("public"));
  create.set_role(pb::ROLE_VPN_USER);
  create.set_tenant_id(TenantA());
  pb::CreateInvitationResponse created;
  ASSERT_THAT(stub().CreateInvitation(As(Who::kTenantAdmin).get(), create, &created), IsOk());
  const std::string url = created.registration_url();
  const std::string token = url.substr(url.find("token=") + 6);

  pb::ValidateInvitationTokenRequest req;
  req.set_token(token);
  pb::ValidateInvitationTokenResponse resp;
  ASSERT_THAT(stub().ValidateInvitationToken(Context().get(), req, &resp), IsOk());
  EXPECT_EQ(resp.invitation_id(), created.invitation().id());
  // A garbage authorization header does not get in the way of a token RPC either.
  ASSERT_THAT(stub().ValidateInvitationToken(WithAuthorization("Bearer junk").get(), req, &resp),
              IsOk());
}

// ---- Rate limit of the unauthenticated token RPCs -------------------------------------------

TEST(TokenRpcRateLimit, TheFourthQuickValidateFromOnePeerIsRateLimited) {
  TestServerOptions options;
  options.token_rate_burst = 3;
  options.token_rate_per_second = 0.01;  // one token per 100 s: nothing refills during the test
  absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start(SharedMariaDb(), options);
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& server = **started;

  pb::ValidateInvitationTokenRequest req;
  req.set_token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  for (int i = 0; i < 3; ++i) {
    pb::ValidateInvitationTokenResponse resp;
    grpc::Status s = server.stub().ValidateInvitationToken(Context().get(), req, &resp);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound)) << "call " << i + 1;
    EXPECT_EQ(ErrorReason(s), "INVITATION_TOKEN_INVALID");
  }
  pb::ValidateInvitationTokenResponse resp;
  grpc::Status fourth = server.stub().ValidateInvitationToken(Context().get(), req, &resp);
  EXPECT_THAT(fourth, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ErrorReason(fourth), "RATE_LIMITED");
  // RetryInfo: as long as the bucket takes to hold one token again.
  EXPECT_GT(RetryDelay(fourth).value_or(absl::ZeroDuration()), absl::ZeroDuration());

  // AcceptInvitation draws on the same per-peer budget.
  pb::AcceptInvitationRequest accept;
  accept.set_token(req.token());
  accept.set_password("Long-enough-password-1");
  pb::AcceptInvitationResponse accepted;
  grpc::Status a = server.stub().AcceptInvitation(Context().get(), accept, &accepted);
  EXPECT_THAT(a, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ErrorReason(a), "RATE_LIMITED");

  // Admin RPCs are not limited by it.
  pb::ListInvitationsRequest list;
  pb::ListInvitationsResponse listed;
  EXPECT_THAT(server.stub().ListInvitations(Context().get(), list, &listed), IsOk());
}

// ---- WatchInvitationEvents: streams live no longer than their token; a cap per caller -----
// (SPEC §10.) Each test runs its own server: these tests need short-lived tokens and a small
// verifier leeway, and they count streams per subject.

using Events = std::vector<pb::InvitationEvent>;

class WatchStreamLimitsTest : public ::testing::Test {
 protected:
  // Small, so that a token minted to expire in a few seconds ends its stream soon after.
  static constexpr absl::Duration kLeeway = absl::Seconds(1);

  static void SetUpTestSuite() {
    key_ = new std::shared_ptr<EVP_PKEY>(GenerateRsaKey());
    auto verifier = std::make_shared<inv::JwtVerifier>(
        std::make_shared<inv::PemKeySource>(*key_), inv::JwtOptions{kIssuer, kAudience, kLeeway},
        clock_);
    authenticator_ = new inv::Authenticator(std::move(verifier), inv::RoleNames());
  }
  static void TearDownTestSuite() {
    delete authenticator_;
    delete key_;
  }

  void StartServer(int watch_streams_per_caller) {
    TestServerOptions options;
    options.authenticator = authenticator_;
    options.rpc.watch_streams_per_caller = watch_streams_per_caller;
    absl::StatusOr<std::unique_ptr<TestServer>> started =
        TestServer::Start(SharedMariaDb(), options);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }

  // A SuperAdmin's access token for `subject` whose exp is `exp`.
  static std::string Token(const std::string& subject, absl::Time exp) {
    Json claims = KeycloakClaims(absl::Now());
    claims["sub"] = subject;
    claims["exp"] = absl::ToUnixSeconds(exp);
    return SignRs256(Json{{"alg", "RS256"}, {"typ", "JWT"}}, claims, key_->get());
  }
  static std::string LongLivedToken(const std::string& subject) {
    return Token(subject, absl::Now() + absl::Minutes(10));
  }

  std::unique_ptr<grpc::ClientContext> WithToken(const std::string& token) {
    std::unique_ptr<grpc::ClientContext> ctx = Context(absl::Seconds(30));
    ctx->AddMetadata("authorization", "Bearer " + token);
    return ctx;
  }

  // The newest feed position: a stream placed there sees only what happens next.
  std::string Newest() {
    absl::StatusOr<inv::EventFeed::Placement> now = server_->event_feed().Place("");
    EXPECT_TRUE(now.ok()) << now.status();
    return absl::StrCat(now.ok() ? now->newest : 0);
  }

  std::string Create(const std::string& tenant) {
    pb::CreateInvitationRequest req;
    req.set_email(UniqueEmail("watch-limits"));
    req.set_role(pb::ROLE_VPN_USER);
    req.set_tenant_id(tenant);
    req.set_suppress_email(true);
    pb::CreateInvitationResponse resp;
    EXPECT_THAT(server_->stub().CreateInvitation(WithToken(LongLivedToken("sub-writer")).get(),
                                                 req, &resp),
                IsOk());
    return resp.invitation().id();
  }

  // An open stream of one tenant's events.
  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<pb::WatchInvitationEventsResponse>> reader;
  };
  Stream Watch(const std::string& token, const std::string& tenant, const std::string& after) {
    pb::WatchInvitationEventsRequest req;
    req.set_tenant_id(tenant);
    req.set_after_event_id(after);
    Stream stream;
    stream.ctx = WithToken(token);
    stream.reader = server_->stub().WatchInvitationEvents(stream.ctx.get(), req);
    return stream;
  }

  static inline inv::SystemClock clock_;
  static inline std::shared_ptr<EVP_PKEY>* key_ = nullptr;
  static inline inv::Authenticator* authenticator_ = nullptr;
  std::unique_ptr<TestServer> server_;
};

TEST_F(WatchStreamLimitsTest, AStreamEndsWhenItsTokenExpiresAndAFreshTokenResumesItMissingNothing) {
  // One stream per caller: the resume below also shows that an expired stream gives its place
  // back before its subscriber learns that it ended.
  ASSERT_NO_FATAL_FAILURE(StartServer(/*watch_streams_per_caller=*/1));
  const std::string tenant = UniqueTenant();
  const absl::Time exp = absl::Now() + absl::Seconds(3);
  Stream stream = Watch(Token("sub-watcher", exp), tenant, Newest());

  std::vector<std::string> created = {Create(tenant), Create(tenant)};
  Events first;
  pb::WatchInvitationEventsResponse response;
  while (first.size() < 2 && stream.reader->Read(&response)) first.push_back(response.event());
  ASSERT_EQ(first.size(), 2u);
  // Then the stream ends by itself (the context's 30 s deadline would end it otherwise).
  while (stream.reader->Read(&response)) first.push_back(response.event());
  const grpc::Status status = stream.reader->Finish();
  const absl::Time ended = absl::Now();

  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(ErrorReason(status), "TOKEN_EXPIRED");
  const std::string resume = ErrorMetadata(status, "resume_after_event_id");
  EXPECT_EQ(resume, first.back().event_id()) << "the last event it delivered";
  EXPECT_THAT(status.error_message(), HasSubstr("fresh token"));
  EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat("after_event_id=", resume)));
  // Not before the token stopped being valid. exp is whole seconds; the slack covers gRPC's
  // timer running on the monotonic clock rather than the wall clock the token is judged by.
  EXPECT_GE(ended, absl::FromUnixSeconds(absl::ToUnixSeconds(exp)) + kLeeway -
                       absl::Milliseconds(250));

  created.push_back(Create(tenant));
  created.push_back(Create(tenant));
  Stream resumed = Watch(LongLivedToken("sub-watcher"), tenant, resume);
  Events rest;
  while (first.size() + rest.size() < created.size() && resumed.reader->Read(&response)) {
    rest.push_back(response.event());
  }
  std::vector<std::string> seen;
  for (const Events* part : {&first, &rest}) {
    for (const pb::InvitationEvent& e : *part) seen.push_back(e.invitation_id());
  }
  EXPECT_EQ(seen, created) << "every event once, in order";
  resumed.ctx->TryCancel();
  EXPECT_THAT(resumed.reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(WatchStreamLimitsTest, AStreamWithALongLivedTokenGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*watch_streams_per_caller=*/16));
  const std::string tenant = UniqueTenant();
  const std::string start = Newest();
  Stream lasting = Watch(LongLivedToken("sub-lasting"), tenant, start);
  // A stream whose token expires in two seconds marks the moment the other has outlived it.
  Stream brief = Watch(Token("sub-brief", absl::Now() + absl::Seconds(2)), tenant, start);
  pb::WatchInvitationEventsResponse response;
  EXPECT_FALSE(brief.reader->Read(&response));
  const grpc::Status ended = brief.reader->Finish();
  ASSERT_THAT(ended, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(ErrorReason(ended), "TOKEN_EXPIRED");
  EXPECT_EQ(ErrorMetadata(ended, "resume_after_event_id"), start) << "nothing delivered";

  const std::string id = Create(tenant);
  ASSERT_TRUE(lasting.reader->Read(&response));
  EXPECT_EQ(response.event().invitation_id(), id);
  lasting.ctx->TryCancel();
  EXPECT_THAT(lasting.reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(WatchStreamLimitsTest, TheSeventeenthStreamOfOneCallerIsRefusedUntilOneCloses) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*watch_streams_per_caller=*/16));
  const std::string tenant = UniqueTenant();
  const std::string before = Newest();
  Create(tenant);
  // A stream that replays the one event has been admitted by the server.
  auto admitted = [&](Stream& stream) {
    pb::WatchInvitationEventsResponse response;
    return stream.reader->Read(&response);
  };
  const std::string token = LongLivedToken("sub-many-streams");
  std::vector<Stream> open;
  for (int i = 0; i < 16; ++i) {
    open.push_back(Watch(token, tenant, before));
    ASSERT_TRUE(admitted(open.back())) << "stream " << i + 1;
  }

  Stream seventeenth = Watch(token, tenant, before);
  EXPECT_FALSE(admitted(seventeenth));
  const grpc::Status refused = seventeenth.reader->Finish();
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ErrorReason(refused), "TOO_MANY_STREAMS");
  EXPECT_THAT(refused.error_message(), HasSubstr("16"));

  // Another caller is not affected.
  Stream other = Watch(LongLivedToken("sub-someone-else"), tenant, before);
  EXPECT_TRUE(admitted(other));
  other.ctx->TryCancel();
  other.reader->Finish();

  // Once the server has seen one of the sixteen close, there is room again. The client learns
  // of its cancellation before the server does, so opening is retried until admitted.
  open.front().ctx->TryCancel();
  EXPECT_THAT(open.front().reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  open.erase(open.begin());
  std::optional<Stream> replacement;
  EXPECT_TRUE(WaitFor(
      [&] {
        Stream attempt = Watch(token, tenant, before);
        if (admitted(attempt)) {
          replacement = std::move(attempt);
          return true;
        }
        const grpc::Status status = attempt.reader->Finish();
        EXPECT_EQ(ErrorReason(status), "TOO_MANY_STREAMS") << status.error_message();
        return false;
      },
      absl::Seconds(10)));

  if (replacement.has_value()) open.push_back(*std::move(replacement));
  for (Stream& stream : open) stream.ctx->TryCancel();
  for (Stream& stream : open) stream.reader->Finish();
}

}  // namespace
}  // namespace securelink::testing
