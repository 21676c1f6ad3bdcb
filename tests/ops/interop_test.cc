// The gRPC interop cases that apply to a unary + server-streaming service, ported against the
// invitation service (an in-process server wired like main.cc, real gRPC over loopback, a real
// MariaDB): empty and large unary, server streaming, a call timing out against a stalled
// database, status code and message (non-ASCII input too), unimplemented method and service,
// and cancelling after the first streamed result. (Custom metadata echoing does not apply: no
// method of this service echoes metadata.)
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <mysql_connection.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "storage/connection_pool.h"
#include "storage/mysql_uri.h"
#include "tests/client/e2e_support.h"
#include "tests/ops/ops_support.h"
#include "tests/support/row_lock.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_server.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;

std::unique_ptr<TestServer> Start(TestServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(SharedMariaDb(), options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Whether `s` is well-formed UTF-8.
bool IsUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const int extra = c < 0x80 ? 0
                      : (c & 0xE0) == 0xC0 ? 1
                      : (c & 0xF0) == 0xE0 ? 2
                      : (c & 0xF8) == 0xF0 ? 3
                                           : -1;
    if (extra < 0 || s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

TEST(Interop, EmptyUnaryIsAnsweredWithAClearStatus) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  pb::GetInvitationRequest empty;
  pb::GetInvitationResponse resp;
  grpc::Status s = server->stub().GetInvitation(Context().get(), empty, &resp);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(s.error_message().empty());
}

TEST(Interop, ARequestJustUnder4MiBReachesTheServiceAndOneOverIsRefusedWithoutHarm) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  // Just under the limit: gRPC delivers it and the service answers on its own terms (the
  // address is far too long: INVALID_ARGUMENT naming the field).
  pb::CreateInvitationRequest under;
  under.set_role(pb::ROLE_SUPER_ADMIN);
  under.set_email(std::string(4 * 1024 * 1024 - 64, 'a'));
  ASSERT_LT(under.ByteSizeLong(), 4u * 1024 * 1024);
  pb::CreateInvitationResponse resp;
  EXPECT_THAT(server->stub().CreateInvitation(Context().get(), under, &resp),
              StatusIs(absl::StatusCode::kInvalidArgument));

  pb::CreateInvitationRequest over = under;
  over.set_email(std::string(4 * 1024 * 1024 + 1, 'a'));
  EXPECT_THAT(server->stub().CreateInvitation(Context().get(), over, &resp),
              StatusIs(absl::StatusCode::kResourceExhausted));

  // Without harm: the same channel serves the next call.
  pb::CreateInvitationRequest fine;
  fine.set_role(pb::ROLE_SUPER_ADMIN);
  fine.set_email(UniqueEmail("large"));
  EXPECT_THAT(server->stub().CreateInvitation(Context().get(), fine, &resp), IsOk());
}

TEST(Interop, ServerStreamingDeliversEveryResultInOrderThenTheSummary) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  pb::BulkInviteRequest req;
  std::vector<std::string> emails;
  for (int i = 0; i < 1200; ++i) {
    emails.push_back(UniqueEmail("stream"));
    req.mutable_emails()->add_emails(emails.back());
  }
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(UniqueTenant());
  req.set_suppress_email(true);
  auto ctx = Context();
  auto reader = server->stub().BulkInvite(ctx.get(), req);
  pb::BulkInviteResponse resp;
  size_t results = 0;
  int summaries = 0;
  while (reader->Read(&resp)) {
    if (resp.has_result()) {
      ASSERT_EQ(summaries, 0) << "a result after the summary";
      ASSERT_LT(results, emails.size());
      EXPECT_EQ(resp.result().email(), emails[results]);
      EXPECT_EQ(resp.result().line(), static_cast<int>(results) + 1);
      ++results;
    } else {
      ++summaries;
      EXPECT_EQ(resp.summary().created(), 1200);
    }
  }
  EXPECT_THAT(reader->Finish(), IsOk());
  EXPECT_EQ(results, emails.size());
  EXPECT_EQ(summaries, 1);
}

TEST(Interop, ACallAgainstAStalledDatabaseTimesOutAtItsDeadline) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  pb::CreateInvitationRequest create;
  create.set_role(pb::ROLE_SUPER_ADMIN);
  create.set_email(UniqueEmail("stall"));
  pb::CreateInvitationResponse created;
  ASSERT_THAT(server->stub().CreateInvitation(Context().get(), create, &created), IsOk());
  const std::string id = created.invitation().id();

  // Another session holds the invitation's row lock: a Revoke sleeps on it.
  HeldInvitationLock lock(SharedMariaDb().Uri(server->database()), id);

  pb::RevokeInvitationRequest revoke;
  revoke.set_id(id);
  pb::RevokeInvitationResponse revoked;
  EXPECT_THAT(server->stub().RevokeInvitation(Context(absl::Milliseconds(300)).get(), revoke,
                                              &revoked),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  lock.Release();
  // The stalled work finished behind the caller's back or not at all; the server is fine.
  pb::GetInvitationRequest get;
  get.set_id(id);
  pb::GetInvitationResponse got;
  EXPECT_THAT(server->stub().GetInvitation(Context().get(), get, &got), IsOk());
}

TEST(Interop, StatusCodeAndMessageArriveIntactForNonAsciiInput) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  pb::CreateInvitationRequest req;
  req.set_role(pb::ROLE_TENANT_ADMIN);
  req.set_email("jürgen müller@exämple.de");  // a space: invalid whatever the script
  req.set_tenant_id("größe");                 // not letters/digits/-_. in ASCII
  pb::CreateInvitationResponse resp;
  grpc::Status s = server->stub().CreateInvitation(Context().get(), req, &resp);
  ASSERT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(s.error_message().empty());
  EXPECT_TRUE(IsUtf8(s.error_message())) << s.error_message();
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(s.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  std::vector<std::string> fields;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) fields.push_back(v.field());
    }
  }
  EXPECT_THAT(fields, ::testing::IsSupersetOf({"email", "tenant_id"}));
}

TEST(Interop, UnimplementedMethodAndServiceAreUnimplemented) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  grpc::GenericStub generic(server->channel());
  for (const char* method : {"/securelink.invitations.v1.InvitationService/NoSuchMethod",
                             "/securelink.invitations.v1.NoSuchService/GetInvitation"}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice empty_message("");
    grpc::ByteBuffer request(&empty_message, 1);
    grpc::ByteBuffer response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = s;
                        done.Notify();
                      });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << method;
  }
}

TEST(Interop, CancelAfterTheFirstStreamedResultStopsTheWork) {
  std::unique_ptr<TestServer> server = Start();
  ASSERT_NE(server, nullptr);
  const std::string tenant = UniqueTenant();
  pb::BulkInviteRequest req;
  std::string text;
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&text, UniqueEmail("cancel"), "\n");
  req.set_text(text);
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tenant);
  req.set_suppress_email(true);
  auto ctx = Context(absl::Seconds(60));
  auto reader = server->stub().BulkInvite(ctx.get(), req);
  pb::BulkInviteResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ctx->TryCancel();
  while (reader->Read(&resp)) {
  }
  EXPECT_THAT(reader->Finish(), StatusIs(absl::StatusCode::kCancelled));
  // Production stopped: once the pool is idle, fewer than all addresses were invited, and the
  // server answers the next call.
  ASSERT_TRUE(WaitFor([&] { return server->workers().busy_workers() == 0; }));
  pb::ListInvitationsRequest list;
  list.set_tenant_id(tenant);
  pb::ListInvitationsResponse listed;
  ASSERT_THAT(server->stub().ListInvitations(Context().get(), list, &listed), IsOk());
  EXPECT_LT(listed.total_size(), 5000);
}

// SPEC §9: a call that carries no deadline gets --default_deadline. The real binary with one
// worker: a Revoke sleeps on a row lock held here, a Get without a deadline waits behind it;
// once the default deadline (1 s) has passed, releasing the lock lets the worker reach the Get,
// which is answered DEADLINE_EXCEEDED instead of being served late.
TEST(Interop, ACallWithoutADeadlineGetsTheDefaultOne) {
  const std::string db = e2e::UniqueName("deadline");
  ASSERT_TRUE(SharedMariaDb().CreateDatabase(db).ok());
  e2e::ServerProcess::Options options;
  options.mysql_uri = SharedMariaDb().Uri(db);
  options.env = {"INVITATIONS_DEFAULT_DEADLINE=1s", "INVITATIONS_WORKER_THREADS=1",
                 "INVITATIONS_EMAIL_DISPATCH_THREADS=0"};
  absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server = e2e::ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = pb::InvitationService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  pb::CreateInvitationRequest create;
  create.set_role(pb::ROLE_SUPER_ADMIN);
  create.set_email(UniqueEmail("deadline"));
  pb::CreateInvitationResponse created;
  ASSERT_THAT(stub->CreateInvitation(Context().get(), create, &created), IsOk());
  const std::string id = created.invitation().id();

  HeldInvitationLock lock(SharedMariaDb().Uri(db), id);

  std::thread revoker([&] {
    grpc::ClientContext ctx;  // its own deadline: the lock is released well before it
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::RevokeInvitationRequest req;
    req.set_id(id);
    pb::RevokeInvitationResponse resp;
    stub->RevokeInvitation(&ctx, req, &resp);
  });
  // The Revoke holds the only worker (waiting on the lock) before the Get is sent.
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> m = ops::HttpGet((*server)->metrics_port());
    return m.ok() && ops::Sample(*m, "invitations_worker_busy") == 1;
  }));
  grpc::Status get_status;
  const absl::Time get_sent = absl::Now();
  std::thread getter([&] {
    grpc::ClientContext ctx;  // no deadline at all
    pb::GetInvitationRequest req;
    req.set_id(id);
    pb::GetInvitationResponse resp;
    get_status = stub->GetInvitation(&ctx, req, &resp);
  });
  // The one deliberate wait: the behaviour under test is what happens once the default
  // deadline has passed.
  ASSERT_TRUE(WaitFor([&] { return absl::Now() > get_sent + absl::Milliseconds(1500); }));
  lock.Release();
  revoker.join();
  getter.join();
  EXPECT_EQ(get_status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << get_status.error_message();
}

}  // namespace
}  // namespace securelink::testing
