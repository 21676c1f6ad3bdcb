#include "tests/integration/accept_environment.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace securelink::testing {

using ::nlohmann::json;

std::vector<std::string> RolesOf(const json& user) {
  std::vector<std::string> roles;
  if (user.contains("realmRoles")) {
    for (const json& r : user["realmRoles"]) roles.push_back(r.get<std::string>());
  }
  return roles;
}

std::vector<std::string> AttributeOf(const json& user, const std::string& name) {
  std::vector<std::string> values;
  if (user.contains("attributes") && user["attributes"].contains(name)) {
    for (const json& v : user["attributes"][name]) values.push_back(v.get<std::string>());
  }
  return values;
}

pb::AcceptInvitationRequest AcceptRequest(const std::string& token, const std::string& password,
                                          const std::string& username) {
  pb::AcceptInvitationRequest req;
  req.set_token(token);
  req.set_password(password);
  req.set_first_name("Ada");
  req.set_last_name("Lovelace");
  req.set_username(username);
  return req;
}

std::unique_ptr<AcceptEnvironment> AcceptEnvironment::Start(TestServerOptions options,
                                                            absl::Duration keycloak_timeout,
                                                            KeycloakStandinOptions standin_options) {
  auto env = std::unique_ptr<AcceptEnvironment>(new AcceptEnvironment());
  absl::StatusOr<std::unique_ptr<KeycloakStandin>> standin =
      KeycloakStandin::Start(std::move(standin_options));
  EXPECT_TRUE(standin.ok()) << standin.status();
  if (!standin.ok()) return nullptr;
  env->standin_ = *std::move(standin);
  invitations::KeycloakAdminOptions kc;
  kc.base_url = env->standin_->base_url();
  kc.realm = env->standin_->options().realm;
  kc.client_id = env->standin_->options().client_id;
  kc.client_secret = env->standin_->options().client_secret;
  kc.connect_timeout = absl::Seconds(2);
  kc.request_timeout = keycloak_timeout;
  absl::StatusOr<std::unique_ptr<invitations::KeycloakAdminClient>> client =
      invitations::KeycloakAdminClient::Create(kc);
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  env->client_ = *std::move(client);
  options.identity_provider = env->client_.get();
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(SharedMariaDb(), options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  env->server_ = *std::move(server);
  return env;
}

AcceptEnvironment::~AcceptEnvironment() {
  server_.reset();  // before the client it calls
  client_.reset();
  standin_.reset();
}

std::pair<pb::Invitation, std::string> AcceptEnvironment::Invite(pb::Role role,
                                                                 const std::string& tenant) {
  pb::CreateInvitationRequest req;
  req.set_email(UniqueEmail("invitee"));
  req.set_role(role);
  req.set_tenant_id(tenant);
  req.set_suppress_email(true);
  pb::CreateInvitationResponse resp;
  grpc::Status s = stub().CreateInvitation(Context().get(), req, &resp);
  EXPECT_THAT(s, IsOk());
  return {resp.invitation(), TokenOf(resp.registration_url())};
}

grpc::Status AcceptEnvironment::Accept(const pb::AcceptInvitationRequest& req,
                                       pb::AcceptInvitationResponse* resp,
                                       absl::Duration deadline) {
  pb::AcceptInvitationResponse ignored;
  return stub().AcceptInvitation(Context(deadline).get(), req, resp ? resp : &ignored);
}

grpc::Status AcceptEnvironment::Validate(const std::string& token) {
  pb::ValidateInvitationTokenRequest req;
  req.set_token(token);
  pb::ValidateInvitationTokenResponse resp;
  return stub().ValidateInvitationToken(Context().get(), req, &resp);
}

pb::Invitation AcceptEnvironment::Get(const std::string& id) {
  pb::GetInvitationRequest req;
  req.set_id(id);
  pb::GetInvitationResponse resp;
  EXPECT_THAT(stub().GetInvitation(Context().get(), req, &resp), IsOk());
  return resp.invitation();
}

grpc::Status AcceptEnvironment::Revoke(const std::string& id) {
  pb::RevokeInvitationRequest req;
  req.set_id(id);
  pb::RevokeInvitationResponse resp;
  return stub().RevokeInvitation(Context().get(), req, &resp);
}

grpc::Status AcceptEnvironment::Resend(const std::string& id, std::string* new_token) {
  pb::ResendInvitationRequest req;
  req.set_id(id);
  pb::ResendInvitationResponse resp;
  grpc::Status s = stub().ResendInvitation(Context().get(), req, &resp);
  if (s.ok() && new_token != nullptr) *new_token = TokenOf(resp.registration_url());
  return s;
}

std::vector<json> AcceptEnvironment::UsersWithEmail(const std::string& email) {
  absl::StatusOr<json> users = standin_->Users();
  EXPECT_TRUE(users.ok()) << users.status();
  std::vector<json> out;
  if (!users.ok()) return out;
  for (const json& u : *users) {
    if (u.value("email", "") == absl::AsciiStrToLower(email)) out.push_back(u);
  }
  return out;
}

std::vector<json> AcceptEnvironment::UsersWithInvitation(const std::string& id) {
  absl::StatusOr<json> users = standin_->Users();
  EXPECT_TRUE(users.ok()) << users.status();
  std::vector<json> out;
  if (!users.ok()) return out;
  for (const json& u : *users) {
    if (AttributeOf(u, "invitation_id") == std::vector<std::string>{id}) out.push_back(u);
  }
  return out;
}

bool AcceptEnvironment::CanLogIn(const std::string& login, const std::string& password) {
  auto encode = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_') {
        out.push_back(static_cast<char>(c));
      } else {
        absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
      }
    }
    return out;
  };
  absl::StatusOr<KeycloakStandin::Response> r = standin_->Http(
      "POST", absl::StrCat("/realms/", standin_->options().realm, "/protocol/openid-connect/token"),
      // admin-cli: the public direct-grant client Keycloak adds to every realm it imports.
      absl::StrCat("grant_type=password&client_id=admin-cli&username=", encode(login),
                   "&password=", encode(password)),
      "application/x-www-form-urlencoded");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() && r->status == 200;
}

std::string AcceptEnvironment::QueryValue(const std::string& sql) {
  absl::StatusOr<std::string> out = SharedMariaDb().Query(server_->database(), sql);
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return "";
  std::string v(absl::StripAsciiWhitespace(*out));
  return v == "NULL" ? "" : v;
}

int64_t AcceptEnvironment::AcceptedEvents(const std::string& id) {
  int64_t n = -1;
  EXPECT_TRUE(absl::SimpleAtoi(
      QueryValue(absl::StrCat("SELECT COUNT(*) FROM invitation_events WHERE invitation_id = '",
                              id, "' AND type = 'ACCEPTED'")),
      &n));
  return n;
}

std::string AcceptEnvironment::RecordedAcceptUserId(const std::string& id) {
  return QueryValue(absl::StrCat("SELECT accept_user_id FROM invitations WHERE id = '", id, "'"));
}

size_t AcceptEnvironment::RequestCount() {
  absl::StatusOr<json> log = standin_->Requests();
  return log.ok() ? log->size() : 0;
}

int AcceptEnvironment::CountRequests(size_t from, const std::string& method,
                                     const std::string& path_part, long status) {
  absl::StatusOr<json> log = standin_->Requests();
  if (!log.ok()) return 0;
  int n = 0;
  for (size_t i = from; i < log->size(); ++i) {
    const json& r = (*log)[i];
    if (r.value("method", "") == method && absl::StrContains(r.value("path", ""), path_part) &&
        (status < 0 || r.value("status", 0L) == status)) {
      ++n;
    }
  }
  return n;
}

}  // namespace securelink::testing
