// What an operator watching the real invitation_server binary relies on: /metrics counts every
// call exactly (grpc-ecosystem names and labels, unary and streaming alike, every method present
// at zero from the start), domain counters follow the calls, and the log is one JSON object per
// line with one line per call that never carries a registration token or a password.
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "tests/client/e2e_support.h"
#include "tests/ops/ops_support.h"

namespace securelink::testing::ops {
namespace {

namespace v1 = ::securelink::invitations::v1;
using e2e::ServerProcess;
using e2e::SharedDb;
using e2e::UniqueEmail;
using e2e::UniqueName;
using Labels = std::map<std::string, std::string>;

constexpr char kService[] = "securelink.invitations.v1.InvitationService";

std::unique_ptr<ServerProcess> StartServer() {
  const std::string db = UniqueName("obs");
  EXPECT_TRUE(SharedDb().CreateDatabase(db).ok());
  ServerProcess::Options options;
  options.mysql_uri = SharedDb().Uri(db);
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

Labels Method(absl::string_view method, absl::string_view type = "unary") {
  return {{"grpc_service", kService}, {"grpc_method", std::string(method)},
          {"grpc_type", std::string(type)}};
}

Labels WithCode(Labels labels, absl::string_view code) {
  labels["grpc_code"] = std::string(code);
  return labels;
}

std::string TokenOf(const std::string& url) {
  const size_t at = url.find("token=");
  return at == std::string::npos ? "" : url.substr(at + 6);
}

TEST(Observability, MetricsCountEveryCallExactlyByMethodAndCode) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->metrics_port(), 0);
  auto stub = v1::InvitationService::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));

  // Before any call: every method's series exist at zero, with every code.
  absl::StatusOr<std::string> before = HttpGet(server->metrics_port());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(Sample(*before, "grpc_server_started_total", Method("WatchInvitationEvents",
                                                                 "server_stream")),
            0);
  EXPECT_EQ(Sample(*before, "grpc_server_handled_total",
                   WithCode(Method("GetInvitation"), "FailedPrecondition")),
            0);
  EXPECT_EQ(Sample(*before, "grpc_server_handling_seconds_count", Method("AcceptInvitation")), 0);

  // The known sequence: 2 creates OK, 1 create INVALID_ARGUMENT, 1 get NOT_FOUND, 1 bulk stream
  // (2 created, 1 invalid: 3 results + 1 summary), 1 validate OK.
  std::string token;
  for (int i = 0; i < 2; ++i) {
    v1::CreateInvitationRequest req;
    req.set_email(UniqueEmail("obs"));
    req.set_role(v1::ROLE_SUPER_ADMIN);
    v1::CreateInvitationResponse resp;
    ASSERT_TRUE(stub->CreateInvitation(Ctx().get(), req, &resp).ok());
    token = TokenOf(resp.registration_url());
  }
  ASSERT_FALSE(token.empty());
  {
    v1::CreateInvitationRequest req;
    req.set_email("not an address");
    req.set_role(v1::ROLE_SUPER_ADMIN);
    v1::CreateInvitationResponse resp;
    EXPECT_EQ(stub->CreateInvitation(Ctx().get(), req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    v1::GetInvitationRequest req;
    req.set_id("00000000-0000-4000-8000-000000000000");
    v1::GetInvitationResponse resp;
    EXPECT_EQ(stub->GetInvitation(Ctx().get(), req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::BulkInviteRequest req;
    req.mutable_emails()->add_emails(UniqueEmail("bulk"));
    req.mutable_emails()->add_emails("nope");
    req.mutable_emails()->add_emails(UniqueEmail("bulk"));
    req.set_role(v1::ROLE_VPN_USER);
    req.set_tenant_id(UniqueName("t"));
    req.set_suppress_email(true);
    auto ctx = Ctx();
    auto reader = stub->BulkInvite(ctx.get(), req);
    v1::BulkInviteResponse resp;
    int messages = 0;
    while (reader->Read(&resp)) ++messages;
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(messages, 4);
  }
  {
    v1::ValidateInvitationTokenRequest req;
    req.set_token(token);
    v1::ValidateInvitationTokenResponse resp;
    ASSERT_TRUE(stub->ValidateInvitationToken(Ctx().get(), req, &resp).ok());
  }

  absl::StatusOr<std::string> after = HttpGet(server->metrics_port());
  ASSERT_TRUE(after.ok()) << after.status();
  const std::string& m = *after;
  // Unary.
  EXPECT_EQ(Sample(m, "grpc_server_started_total", Method("CreateInvitation")), 3);
  EXPECT_EQ(Sample(m, "grpc_server_handled_total", WithCode(Method("CreateInvitation"), "OK")), 2);
  EXPECT_EQ(Sample(m, "grpc_server_handled_total",
                   WithCode(Method("CreateInvitation"), "InvalidArgument")),
            1);
  EXPECT_EQ(Sample(m, "grpc_server_msg_received_total", Method("CreateInvitation")), 3);
  EXPECT_EQ(Sample(m, "grpc_server_msg_sent_total", Method("CreateInvitation")), 2);
  EXPECT_EQ(Sample(m, "grpc_server_handling_seconds_count", Method("CreateInvitation")), 3);
  EXPECT_EQ(Sample(m, "grpc_server_handled_total", WithCode(Method("GetInvitation"), "NotFound")),
            1);
  EXPECT_EQ(Sample(m, "grpc_server_handled_total", WithCode(Method("GetInvitation"), "OK")), 0);
  EXPECT_EQ(Sample(m, "grpc_server_handled_total",
                   WithCode(Method("ValidateInvitationToken"), "OK")),
            1);
  // Server streaming.
  const Labels bulk = Method("BulkInvite", "server_stream");
  EXPECT_EQ(Sample(m, "grpc_server_started_total", bulk), 1);
  EXPECT_EQ(Sample(m, "grpc_server_handled_total", WithCode(bulk, "OK")), 1);
  EXPECT_EQ(Sample(m, "grpc_server_msg_received_total", bulk), 1);
  EXPECT_EQ(Sample(m, "grpc_server_msg_sent_total", bulk), 4);
  EXPECT_EQ(Sample(m, "grpc_server_handling_seconds_count", bulk), 1);
  // The histogram carries no grpc_code (go-grpc-prometheus).
  for (const Labels& labels : LabelSets(m, "grpc_server_handling_seconds_count")) {
    EXPECT_EQ(labels.count("grpc_code"), 0u);
  }
  // Domain counters: the creates by role, bulk outcomes.
  EXPECT_EQ(Sample(m, "invitations_state_changes_total",
                   {{"change", "created"}, {"role", "super_admin"}}),
            2);
  EXPECT_EQ(Sample(m, "invitations_state_changes_total",
                   {{"change", "created"}, {"role", "vpn_user"}}),
            2);
  EXPECT_EQ(Sample(m, "invitations_bulk_results_total", {{"outcome", "created"}}), 2);
  EXPECT_EQ(Sample(m, "invitations_bulk_results_total", {{"outcome", "invalid"}}), 1);
  EXPECT_THAT(Sample(m, "invitations_db_pool_connections", {{"state", "in_use"}}),
              ::testing::Optional(0));
  EXPECT_TRUE(Sample(m, "invitations_worker_queue_depth").has_value());
  EXPECT_EQ(Sample(m, "invitations_database_up"), 1);

  // Logs: JSON objects, one line per call, never the token.
  int rpc_lines = 0;
  for (const std::string& line : LogLines(server->Log())) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    EXPECT_FALSE(absl::StrContains(line, token)) << line;
    if (j.value("msg", "") == "rpc") {
      ++rpc_lines;
      EXPECT_TRUE(j.contains("method") && j.contains("grpc_code") && j.contains("latency_ms") &&
                  j.contains("peer"))
          << line;
      if (j.value("method", "") == absl::StrCat("/", kService, "/CreateInvitation")) {
        EXPECT_EQ(j.value("sub", ""), "auth-disabled") << line;  // the caller's subject
      }
    }
  }
  EXPECT_EQ(rpc_lines, 6);
}

TEST(Observability, TheTokenRpcsNeverLogTheirSecrets) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = v1::InvitationService::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  v1::CreateInvitationRequest create;
  create.set_email(UniqueEmail("secret"));
  create.set_role(v1::ROLE_SUPER_ADMIN);
  v1::CreateInvitationResponse created;
  ASSERT_TRUE(stub->CreateInvitation(Ctx().get(), create, &created).ok());
  const std::string token = TokenOf(created.registration_url());
  ASSERT_FALSE(token.empty());

  // Accept fails (no Keycloak is configured) after reading the token and the password.
  const std::string password = "Correct-Horse-Battery-Staple-42";
  v1::AcceptInvitationRequest accept;
  accept.set_token(token);
  accept.set_password(password);
  accept.set_first_name("Ada");
  accept.set_last_name("Lovelace");
  accept.set_username(UniqueName("ada"));
  v1::AcceptInvitationResponse accepted;
  grpc::Status status = stub->AcceptInvitation(Ctx().get(), accept, &accepted);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(absl::StrContains(status.error_message(), password));
  v1::ValidateInvitationTokenRequest validate;
  validate.set_token(token + "x");  // a wrong token is logged no more than a right one
  v1::ValidateInvitationTokenResponse validated;
  EXPECT_FALSE(stub->ValidateInvitationToken(Ctx().get(), validate, &validated).ok());

  const std::string log = server->Log();
  EXPECT_THAT(log, ::testing::HasSubstr("/AcceptInvitation"));
  EXPECT_THAT(log, ::testing::HasSubstr("/ValidateInvitationToken"));
  EXPECT_FALSE(absl::StrContains(log, token));
  EXPECT_FALSE(absl::StrContains(log, password));
}

}  // namespace
}  // namespace securelink::testing::ops
