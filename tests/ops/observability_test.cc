// What an operator watching the real invitation_server binary relies on: /metrics counts every
// call exactly (grpc-ecosystem names and labels, unary and streaming alike, every method present
// at zero from the start), domain counters follow the calls, and the log is one JSON object per
// line with one line per call that never carries a registration token or a password.
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "tests/client/e2e_support.h"
#include "tests/ops/ops_support.h"
#include "tests/support/wait.h"

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

// The request id of a call's response metadata, or "".
std::string ResponseRequestId(const grpc::ClientContext& ctx) {
  const auto& metadata = ctx.GetServerInitialMetadata();
  auto it = metadata.find("x-request-id");
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

// The events of `tenant` recorded so far, oldest first (a fresh database's feed starts at 1).
std::vector<v1::InvitationEvent> TenantEvents(v1::InvitationService::Stub& stub,
                                              const std::string& tenant) {
  v1::WatchInvitationEventsRequest req;
  req.set_tenant_id(tenant);
  req.set_after_event_id("0");
  req.set_replay_only(true);
  std::unique_ptr<grpc::ClientContext> ctx = Ctx();
  auto reader = stub.WatchInvitationEvents(ctx.get(), req);
  std::vector<v1::InvitationEvent> events;
  v1::WatchInvitationEventsResponse resp;
  while (reader->Read(&resp)) events.push_back(resp.event());
  EXPECT_TRUE(reader->Finish().ok());
  return events;
}

// One id follows a call from the caller through the RPC's log line, its audit events and the
// email it queued: the caller's x-request-id, else its traceparent's trace id, else one made up
// and returned in the response metadata, on failures too.
TEST(Observability, EachCallsRequestIdReachesItsLogLineEventsAndEmail) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  auto stub = v1::InvitationService::NewStub(
      grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials()));
  const std::string tenant = UniqueName("corr");

  std::unique_ptr<grpc::ClientContext> named = Ctx();
  named->AddMetadata("x-request-id", "billing-job-17:attempt-1");
  v1::CreateInvitationRequest create;
  create.set_email(UniqueEmail("corr-a"));
  create.set_role(v1::ROLE_VPN_USER);
  create.set_tenant_id(tenant);
  v1::CreateInvitationResponse first;
  ASSERT_TRUE(stub->CreateInvitation(named.get(), create, &first).ok());
  EXPECT_EQ(ResponseRequestId(*named), "billing-job-17:attempt-1");

  std::unique_ptr<grpc::ClientContext> traced = Ctx();
  traced->AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  create.set_email(UniqueEmail("corr-b"));
  v1::CreateInvitationResponse second;
  ASSERT_TRUE(stub->CreateInvitation(traced.get(), create, &second).ok());
  EXPECT_EQ(ResponseRequestId(*traced), "4bf92f3577b34da6a3ce929d0e0e4736");

  std::unique_ptr<grpc::ClientContext> anonymous = Ctx();
  v1::RevokeInvitationRequest revoke;
  revoke.set_id(first.invitation().id());
  v1::RevokeInvitationResponse revoked;
  ASSERT_TRUE(stub->RevokeInvitation(anonymous.get(), revoke, &revoked).ok());
  const std::string made_up = ResponseRequestId(*anonymous);
  EXPECT_THAT(made_up, ::testing::MatchesRegex("[0-9a-f]{32}"));

  std::unique_ptr<grpc::ClientContext> refused = Ctx();
  refused->AddMetadata("x-request-id", "a header with spaces");  // unusable: replaced
  v1::GetInvitationRequest get;
  get.set_id("00000000-0000-4000-8000-000000000000");
  v1::GetInvitationResponse got;
  EXPECT_EQ(stub->GetInvitation(refused.get(), get, &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
  const std::string refused_id = ResponseRequestId(*refused);
  EXPECT_THAT(refused_id, ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(refused_id, made_up);

  std::unique_ptr<grpc::ClientContext> policy_ctx = Ctx();
  policy_ctx->AddMetadata("x-request-id", "policy-change-3");
  v1::UpdateTenantPolicyRequest policy;
  policy.mutable_policy()->set_tenant_id(tenant);
  policy.mutable_policy()->set_default_locale("de");
  policy.mutable_update_mask()->add_paths("default_locale");
  v1::UpdateTenantPolicyResponse updated;
  ASSERT_TRUE(stub->UpdateTenantPolicy(policy_ctx.get(), policy, &updated).ok());

  // The feed: each event names the call behind it; the second invitation's email was queued by
  // the traced call, so its EMAIL_SENT carries that call's id.
  std::map<std::string, std::string> id_by_event;  // "TYPE invitation" -> request_id
  auto key = [](v1::InvitationEventType type, const std::string& invitation) {
    return absl::StrCat(v1::InvitationEventType_Name(type), " ", invitation);
  };
  const std::string second_sent =
      key(v1::INVITATION_EVENT_TYPE_EMAIL_SENT, second.invitation().id());
  ASSERT_TRUE(WaitFor([&] {
    id_by_event.clear();
    for (const v1::InvitationEvent& e : TenantEvents(*stub, tenant)) {
      id_by_event[key(e.type(), e.invitation_id())] = e.request_id();
    }
    return id_by_event.count(second_sent) == 1;
  })) << "the second invitation's email was never sent";
  EXPECT_EQ(id_by_event[key(v1::INVITATION_EVENT_TYPE_CREATED, first.invitation().id())],
            "billing-job-17:attempt-1");
  EXPECT_EQ(id_by_event[key(v1::INVITATION_EVENT_TYPE_CREATED, second.invitation().id())],
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(id_by_event[key(v1::INVITATION_EVENT_TYPE_REVOKED, first.invitation().id())],
            made_up);
  EXPECT_EQ(id_by_event[second_sent], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(id_by_event[key(v1::INVITATION_EVENT_TYPE_POLICY_UPDATED, "")], "policy-change-3");

  // The log: each call's line carries its id; the dispatcher's line for the email carries the
  // invitation and the id of the call that queued it. Numbers are JSON numbers.
  std::map<std::string, std::string> method_by_request_id;
  bool sent_line = false;
  for (const std::string& line : LogLines(server->Log())) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    if (j.value("msg", "") == "rpc") {
      EXPECT_TRUE(j["latency_ms"].is_number()) << line;
      method_by_request_id[j.value("request_id", "")] = j.value("method", "");
    }
    if (j.value("msg", "") == "invitation email sent" &&
        j.value("invitation_id", "") == second.invitation().id()) {
      sent_line = true;
      EXPECT_EQ(j.value("request_id", ""), "4bf92f3577b34da6a3ce929d0e0e4736") << line;
      EXPECT_TRUE(j["attempt"].is_number_integer()) << line;
    }
  }
  EXPECT_TRUE(sent_line);
  const std::string rpc = absl::StrCat("/", kService, "/");
  EXPECT_EQ(method_by_request_id["billing-job-17:attempt-1"], rpc + "CreateInvitation");
  EXPECT_EQ(method_by_request_id["4bf92f3577b34da6a3ce929d0e0e4736"], rpc + "CreateInvitation");
  EXPECT_EQ(method_by_request_id[made_up], rpc + "RevokeInvitation");
  EXPECT_EQ(method_by_request_id[refused_id], rpc + "GetInvitation");
  EXPECT_EQ(method_by_request_id["policy-change-3"], rpc + "UpdateTenantPolicy");
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
