// InvitationClient against an in-process fake server: metadata, deadlines, which calls are
// retried, idempotent Create, rich errors, and both streams.
#include "securelink/invitations/client.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "fake_invitation_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/token_sources.h"

namespace securelink::invitations::client {
namespace {

using ::securelink::invitations::testing::FakeInvitationService;
using ::securelink::invitations::testing::FakeServer;
using ::securelink::invitations::testing::RichStatus;

grpc::Status Unavailable() { return grpc::Status(grpc::StatusCode::UNAVAILABLE, "try again"); }

// A status carrying google.rpc.RetryInfo, as the server sends on overload.
grpc::Status AskingToWait(grpc::StatusCode code, absl::Duration delay) {
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(absl::ToInt64Seconds(delay));
  retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(delay - absl::Seconds(absl::ToInt64Seconds(delay)))));
  google::rpc::Status details;
  details.set_code(static_cast<int>(code));
  details.set_message("wait a moment");
  details.add_details()->PackFrom(retry);
  return grpc::Status(code, "wait a moment", details.SerializeAsString());
}

class InvitationClientTest : public ::testing::Test {
 protected:
  ClientOptions Options() {
    ClientOptions options;
    options.target = server_.address();
    options.retry.initial_backoff = absl::Milliseconds(10);
    options.retry.max_backoff = absl::Milliseconds(50);
    return options;
  }

  v1::CreateInvitationRequest CreateRequest(std::string email = "new@example.com") {
    v1::CreateInvitationRequest request;
    request.set_email(std::move(email));
    request.set_role(v1::ROLE_VPN_USER);
    request.set_tenant_id("acme");
    return request;
  }

  FakeInvitationService service_;
  FakeServer server_{&service_};
};

TEST_F(InvitationClientTest, SendsTheBearerTokenOnEveryCall) {
  ClientOptions options = Options();
  options.bearer_token = "eyJhbGciOi.token";
  InvitationClient client(options);
  ASSERT_TRUE(client.GetInvitation(v1::GetInvitationRequest()).ok());
  EXPECT_EQ(service_.LastAuthorization(), "Bearer eyJhbGciOi.token");
}

TEST_F(InvitationClientTest, SendsNoAuthorizationWithoutAToken) {
  InvitationClient client(Options());
  ASSERT_TRUE(client.GetInvitation(v1::GetInvitationRequest()).ok());
  EXPECT_EQ(service_.LastAuthorization(), "");
}

TEST_F(InvitationClientTest, SafeCallsAreRetriedThroughUnavailable) {
  InvitationClient client(Options());
  service_.FailNext("GetInvitation", 3, Unavailable());
  service_.FailNext("ListInvitations", 3, Unavailable());
  service_.FailNext("ValidateInvitationToken", 3, Unavailable());

  EXPECT_TRUE(client.GetInvitation(v1::GetInvitationRequest()).ok());
  EXPECT_TRUE(client.ListInvitations(v1::ListInvitationsRequest()).ok());
  EXPECT_TRUE(client.ValidateInvitationToken(v1::ValidateInvitationTokenRequest()).ok());
  EXPECT_EQ(service_.Calls("GetInvitation"), 4);
  EXPECT_EQ(service_.Calls("ListInvitations"), 4);
  EXPECT_EQ(service_.Calls("ValidateInvitationToken"), 4);
}

TEST_F(InvitationClientTest, GivesUpAfterMaxAttempts) {
  InvitationClient client(Options());
  service_.FailNext("GetInvitation", 10, Unavailable());
  absl::StatusOr<v1::GetInvitationResponse> response = client.GetInvitation({});
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(), "try again");
  EXPECT_EQ(service_.Calls("GetInvitation"), 4);
}

TEST_F(InvitationClientTest, ARefusalIsNotRetried) {
  InvitationClient client(Options());
  service_.FailNext("GetInvitation", 1,
                    grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "rate limited"));
  EXPECT_EQ(client.GetInvitation({}).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(service_.Calls("GetInvitation"), 1);
}

TEST_F(InvitationClientTest, StateChangingCallsAreNeverRetried) {
  InvitationClient client(Options());
  service_.FailNext("ResendInvitation", 1, Unavailable());
  service_.FailNext("RevokeInvitation", 1, Unavailable());
  service_.FailNext("AcceptInvitation", 1, Unavailable());

  EXPECT_EQ(client.ResendInvitation({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.RevokeInvitation({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.AcceptInvitation({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.Calls("ResendInvitation"), 1);
  EXPECT_EQ(service_.Calls("RevokeInvitation"), 1);
  EXPECT_EQ(service_.Calls("AcceptInvitation"), 1);
}

TEST_F(InvitationClientTest, CreateRetriesWithOneGeneratedRequestId) {
  InvitationClient client(Options());
  service_.FailNext("CreateInvitation", 2, Unavailable());

  absl::StatusOr<v1::CreateInvitationResponse> response = client.CreateInvitation(CreateRequest());

  ASSERT_TRUE(response.ok()) << response.status();
  const std::vector<std::string> ids = service_.CreateRequestIds();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].size(), 36u);
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
}

TEST_F(InvitationClientTest, CreateKeepsTheCallersRequestIdAndEachCallGetsANewOne) {
  InvitationClient client(Options());
  v1::CreateInvitationRequest mine = CreateRequest("a@example.com");
  mine.set_request_id("caller-key");
  ASSERT_TRUE(client.CreateInvitation(mine).ok());
  ASSERT_TRUE(client.CreateInvitation(CreateRequest("b@example.com")).ok());
  ASSERT_TRUE(client.CreateInvitation(CreateRequest("c@example.com")).ok());
  const std::vector<std::string> ids = service_.CreateRequestIds();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], "caller-key");
  EXPECT_NE(ids[1], ids[2]);
}

TEST_F(InvitationClientTest, ErrorsCarryTheServersDetails) {
  InvitationClient client(Options());
  absl::StatusOr<v1::CreateInvitationResponse> taken =
      client.CreateInvitation(CreateRequest("taken@example.com"));
  ASSERT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists);
  InvitationError error = DecodeError(taken.status());
  EXPECT_EQ(error.reason, kReasonActiveInvitationExists);
  EXPECT_EQ(error.metadata["invitation_id"], "inv-taken");

  absl::StatusOr<v1::CreateInvitationResponse> invalid =
      client.CreateInvitation(CreateRequest("not-an-email"));
  ASSERT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  error = DecodeError(invalid.status());
  ASSERT_EQ(error.field_violations.size(), 1u);
  EXPECT_EQ(error.field_violations[0].field, "email");
}

TEST_F(InvitationClientTest, EachCallCarriesOneRequestIdAcrossItsRetries) {
  InvitationClient client(Options());
  service_.FailNext("GetInvitation", 2, Unavailable());
  CallOptions call;
  call.request_id = "nightly-sync:42";
  ASSERT_TRUE(client.GetInvitation({}, call).ok());
  ASSERT_TRUE(client.GetInvitation({}).ok());
  ASSERT_TRUE(client.GetInvitation({}).ok());
  const std::vector<std::string> ids = service_.RequestIds();
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids[0], "nightly-sync:42");
  EXPECT_EQ(ids[1], "nightly-sync:42");
  EXPECT_EQ(ids[2], "nightly-sync:42");
  // Without one, each call gets its own.
  EXPECT_FALSE(ids[3].empty());
  EXPECT_NE(ids[3], ids[4]);
  EXPECT_NE(ids[3], "nightly-sync:42");
}

TEST_F(InvitationClientTest, APerCallDeadlineReplacesTheClientsOne) {
  ClientOptions options = Options();
  options.deadline = absl::Seconds(30);
  InvitationClient client(options);
  v1::GetInvitationRequest request;
  request.set_id("slow");
  CallOptions call;
  call.deadline = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  EXPECT_EQ(client.GetInvitation(request, call).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // far below the client's 30 s
}

TEST_F(InvitationClientTest, TheTokenSourceIsAskedBeforeEveryAttempt) {
  ClientOptions options = Options();
  options.bearer_token = "ignored-when-a-source-is-set";
  int asked = 0;
  options.token_source = [&asked]() -> absl::StatusOr<std::string> {
    return absl::StrCat("token-", ++asked);
  };
  InvitationClient client(options);
  service_.FailNext("GetInvitation", 1, Unavailable());
  ASSERT_TRUE(client.GetInvitation({}).ok());
  EXPECT_EQ(service_.LastAuthorization(), "Bearer token-2");  // the retry asked again
  ASSERT_TRUE(client.ListInvitations({}).ok());
  EXPECT_EQ(service_.LastAuthorization(), "Bearer token-3");
}

TEST_F(InvitationClientTest, ATokenSourceFailureFailsTheCallBeforeAnythingIsSent) {
  ClientOptions options = Options();
  options.token_source = []() -> absl::StatusOr<std::string> {
    return absl::UnauthenticatedError("no token yet");
  };
  InvitationClient client(options);
  const absl::Status status = client.GetInvitation({}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "no token yet");
  EXPECT_EQ(service_.Calls("GetInvitation"), 0);
}

TEST_F(InvitationClientTest, ATokenFileIsReadAgainWhenItChanges) {
  const std::string dir = ::testing::TempDir();
  const std::string path = absl::StrCat(dir, "/token-", absl::ToUnixNanos(absl::Now()));
  auto write = [](const std::string& file, const std::string& text) {
    std::ofstream(file, std::ios::trunc) << text;
  };
  write(path, "first-token\n");
  ClientOptions options = Options();
  options.token_source = TokenFile(path);
  InvitationClient client(options);
  ASSERT_TRUE(client.GetInvitation({}).ok());
  EXPECT_EQ(service_.LastAuthorization(), "Bearer first-token");

  // Replaced by renaming a new file over it, as Kubernetes refreshes projected tokens.
  write(path + ".new", "second-token-of-another-length");
  ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0);
  ASSERT_TRUE(client.GetInvitation({}).ok());
  EXPECT_EQ(service_.LastAuthorization(), "Bearer second-token-of-another-length");

  ASSERT_EQ(std::remove(path.c_str()), 0);
  const absl::Status gone = client.GetInvitation({}).status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(gone.message()), ::testing::HasSubstr(path));
  write(path, "  \n");
  EXPECT_EQ(client.GetInvitation({}).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(service_.Calls("GetInvitation"), 2);
}

TEST_F(InvitationClientTest, DeadlineBoundsTheCall) {
  ClientOptions options = Options();
  options.deadline = absl::Milliseconds(200);
  InvitationClient client(options);
  v1::GetInvitationRequest request;
  request.set_id("slow");
  const absl::Time start = absl::Now();
  EXPECT_EQ(client.GetInvitation(request).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST_F(InvitationClientTest, RetriesStopAtTheDeadline) {
  ClientOptions options = Options();
  options.deadline = absl::Milliseconds(300);
  options.retry.max_attempts = 1000;
  options.retry.initial_backoff = absl::Milliseconds(50);
  InvitationClient client(options);
  service_.FailNext("GetInvitation", 1000, Unavailable());
  const absl::Time start = absl::Now();
  const absl::Status status = client.GetInvitation({}).status();
  EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
              status.code() == absl::StatusCode::kDeadlineExceeded)
      << status;
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(600));
}

TEST(InvitationClientRestartTest, RetriesThroughAServerRestart) {
  FakeInvitationService service;
  auto server = std::make_unique<FakeServer>(&service);
  const int port = server->port();
  ClientOptions options;  // the default retry policy
  options.target = server->address();
  InvitationClient client(options);
  ASSERT_TRUE(client.GetInvitation({}).ok());

  server->Shutdown(absl::ZeroDuration());
  server.reset();
  std::thread restart([&] {
    absl::SleepFor(absl::Milliseconds(300));
    server = std::make_unique<FakeServer>(&service, port);
  });
  const absl::StatusOr<v1::GetInvitationResponse> response = client.GetInvitation({});
  restart.join();
  EXPECT_TRUE(response.ok()) << response.status();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->port(), port);
}

// The backoff between attempts is served in full while the server stays away: the channel's own
// moves (CONNECTING, TRANSIENT_FAILURE) must not cut it short, or a restart longer than a few
// connection refusals outlasts every attempt.
TEST(InvitationClientRestartTest, BacksOffInFullWhileTheServerStaysAway) {
  FakeInvitationService service;
  auto server = std::make_unique<FakeServer>(&service);
  ClientOptions options;
  options.target = server->address();
  options.retry.max_attempts = 3;
  options.retry.initial_backoff = absl::Milliseconds(150);
  options.retry.max_backoff = absl::Seconds(1);
  options.retry.multiplier = 2.0;
  options.retry.jitter = 0.0;
  InvitationClient client(options);
  ASSERT_TRUE(client.GetInvitation({}).ok());  // the channel is READY when the server goes

  server->Shutdown(absl::ZeroDuration());
  server.reset();
  const absl::Time start = absl::Now();
  EXPECT_EQ(client.GetInvitation({}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150 + 300));
}

// gRPC's own reconnect backoff runs on its multiplier and jitter; the attempt after the client's
// backoff must still reach a server that came back during it, not fail fast on a stale refusal.
TEST(InvitationClientRestartTest, TheAttemptAfterTheBackoffReachesAServerBackDuringIt) {
  FakeInvitationService service;
  auto server = std::make_unique<FakeServer>(&service);
  const int port = server->port();
  ClientOptions options;
  options.target = server->address();
  options.retry.max_attempts = 2;
  options.retry.initial_backoff = absl::Seconds(1);
  options.retry.jitter = 0.0;
  InvitationClient client(options);
  ASSERT_TRUE(client.GetInvitation({}).ok());

  server->Shutdown(absl::ZeroDuration());
  server.reset();
  std::thread restart([&] {
    absl::SleepFor(absl::Milliseconds(200));
    server = std::make_unique<FakeServer>(&service, port);
  });
  const absl::StatusOr<v1::GetInvitationResponse> response = client.GetInvitation({});
  restart.join();
  EXPECT_TRUE(response.ok()) << response.status();
}

TEST_F(InvitationClientTest, ARetryWaitsAtLeastAsLongAsTheServerAsks) {
  InvitationClient client(Options());  // its own backoff: 10 ms
  const grpc::Status asked = AskingToWait(grpc::StatusCode::UNAVAILABLE, absl::Milliseconds(300));
  EXPECT_EQ(DecodeError(asked).retry_delay, absl::Milliseconds(300));
  service_.FailNext("GetInvitation", 1, asked);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(client.GetInvitation({}).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(service_.Calls("GetInvitation"), 2);
}

TEST_F(InvitationClientTest, ResourceExhaustedIsRetriedOnlyWhenTheServerAsksForIt) {
  InvitationClient client(Options());
  service_.FailNext("GetInvitation", 1,
                    AskingToWait(grpc::StatusCode::RESOURCE_EXHAUSTED, absl::Milliseconds(20)));
  ASSERT_TRUE(client.GetInvitation({}).ok());
  EXPECT_EQ(service_.Calls("GetInvitation"), 2);
  // A refusal without RetryInfo (a full quota) is final.
  service_.FailNext("GetInvitation", 1,
                    grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "quota reached"));
  EXPECT_EQ(client.GetInvitation({}).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(service_.Calls("GetInvitation"), 3);
}

TEST_F(InvitationClientTest, UnreachableServerIsUnavailable) {
  ClientOptions options = Options();
  options.target = "127.0.0.1:1";
  InvitationClient client(options);
  EXPECT_EQ(client.GetInvitation({}).status().code(), absl::StatusCode::kUnavailable);
}

// --- BulkInvite -------------------------------------------------------------------------------

v1::BulkInviteRequest BulkOf(std::vector<std::string> emails, std::string tenant = "acme") {
  v1::BulkInviteRequest request;
  for (std::string& email : emails) request.mutable_emails()->add_emails(std::move(email));
  request.set_role(v1::ROLE_VPN_USER);
  request.set_tenant_id(std::move(tenant));
  return request;
}

TEST_F(InvitationClientTest, BulkHandsOverEveryResultInOrderThenTheSummary) {
  InvitationClient client(Options());
  std::vector<v1::BulkInviteResult> results;
  absl::StatusOr<v1::BulkInviteSummary> summary =
      client.BulkInvite(BulkOf({"a@x.io", "nope", "a@x.io", "fail@x.io", "b@x.io"}),
                        [&](const v1::BulkInviteResult& result) { results.push_back(result); });

  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i].line(), static_cast<int>(i + 1));
  EXPECT_EQ(results[1].outcome(), v1::BULK_INVITE_OUTCOME_INVALID_EMAIL);
  EXPECT_EQ(results[2].outcome(), v1::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE);
  EXPECT_EQ(summary->total(), 5);
  EXPECT_EQ(summary->created(), 2);
  EXPECT_EQ(summary->skipped(), 1);
  EXPECT_EQ(summary->invalid(), 1);
  EXPECT_EQ(summary->failed(), 1);
}

TEST_F(InvitationClientTest, BulkResultsArriveWhileTheServerIsStillWorking) {
  InvitationClient client(Options());
  // The fake sleeps 50 ms per result for tenant "slow": the first result must arrive long before
  // the stream ends.
  const absl::Time start = absl::Now();
  absl::Time first = absl::InfiniteFuture();
  absl::StatusOr<v1::BulkInviteSummary> summary = client.BulkInvite(
      BulkOf({"a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io", "f@x.io"}, "slow"),
      [&](const v1::BulkInviteResult&) { first = std::min(first, absl::Now()); });
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_LT(first - start, absl::Now() - start - absl::Milliseconds(150));
}

TEST_F(InvitationClientTest, BulkRequestErrorsComeBeforeAnyResult) {
  InvitationClient client(Options());
  v1::BulkInviteRequest request;  // no source
  int results = 0;
  absl::StatusOr<v1::BulkInviteSummary> summary =
      client.BulkInvite(request, [&](const v1::BulkInviteResult&) { ++results; });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeError(summary.status()).field_violations.at(0).field, "source");
  EXPECT_EQ(results, 0);
}

TEST_F(InvitationClientTest, BulkFailureMidStreamKeepsTheResultsSoFar) {
  InvitationClient client(Options());
  int results = 0;
  absl::StatusOr<v1::BulkInviteSummary> summary =
      client.BulkInvite(BulkOf({"a@x.io", "b@x.io", "c@x.io"}, "boom"),
                        [&](const v1::BulkInviteResult&) { ++results; });
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(results, 1);
}

TEST_F(InvitationClientTest, BulkWithoutSummaryIsAnError) {
  InvitationClient client(Options());
  absl::StatusOr<v1::BulkInviteSummary> summary =
      client.BulkInvite(BulkOf({"a@x.io"}, "no-summary"), nullptr);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInternal);
}

TEST_F(InvitationClientTest, BulkCanBeCancelledMidStream) {
  InvitationClient client(Options());
  StreamCanceller canceller;
  int results = 0;
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::BulkInviteSummary> summary = client.BulkInvite(
      BulkOf(std::vector<std::string>(100, "x@y.io"), "slow"),
      [&](const v1::BulkInviteResult&) {
        if (++results == 2) canceller.Cancel();
      },
      &canceller);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(results, 10);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // A fired canceller stays fired.
  EXPECT_EQ(client.BulkInvite(BulkOf({"a@x.io"}), nullptr, &canceller).status().code(),
            absl::StatusCode::kCancelled);
  // And the server is fine.
  EXPECT_TRUE(client.GetInvitation({}).ok());
}

TEST_F(InvitationClientTest, BulkHonoursItsOwnDeadline) {
  ClientOptions options = Options();
  options.bulk_deadline = absl::Milliseconds(200);
  InvitationClient client(options);
  absl::StatusOr<v1::BulkInviteSummary> summary =
      client.BulkInvite(BulkOf(std::vector<std::string>(100, "x@y.io"), "slow"), nullptr);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// --- WatchInvitationEvents --------------------------------------------------------------------

std::vector<v1::InvitationEvent> Events(int n) {
  std::vector<v1::InvitationEvent> events;
  for (int i = 1; i <= n; ++i) {
    v1::InvitationEvent& event = events.emplace_back();
    event.set_event_id("e" + std::to_string(i));
    event.set_type(v1::INVITATION_EVENT_TYPE_CREATED);
  }
  return events;
}

TEST_F(InvitationClientTest, WatchStopsWhenTheCallbackSaysSo) {
  service_.SetEvents(Events(5));
  InvitationClient client(Options());
  v1::WatchInvitationEventsRequest request;
  request.set_after_event_id("e1");
  std::vector<std::string> seen;
  const absl::Status status =
      client.WatchInvitationEvents(request, [&](const v1::InvitationEvent& event) {
        seen.push_back(event.event_id());
        return seen.size() < 3;
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(seen, (std::vector<std::string>{"e2", "e3", "e4"}));
}

TEST_F(InvitationClientTest, WatchResumesAfterTheLastEventWhenAReplicaGoesAway) {
  service_.SetEvents(Events(6));
  service_.FailWatchAfter(/*events_before=*/2, /*count=*/2);
  InvitationClient client(Options());
  v1::WatchInvitationEventsRequest request;
  request.set_after_event_id("e1");
  std::vector<std::string> seen;
  const absl::Status status =
      client.WatchInvitationEvents(request, [&](const v1::InvitationEvent& event) {
        seen.push_back(event.event_id());
        return seen.size() < 5;
      });
  EXPECT_TRUE(status.ok()) << status;
  // Nothing missed, nothing twice.
  EXPECT_EQ(seen, (std::vector<std::string>{"e2", "e3", "e4", "e5", "e6"}));
  EXPECT_EQ(service_.WatchPositions(), (std::vector<std::string>{"e1", "e3", "e5"}));
}

TEST_F(InvitationClientTest, WatchFromNowDoesNotResumeWithoutAPosition) {
  service_.SetEvents(Events(3));
  service_.FailWatchAfter(/*events_before=*/0, /*count=*/1);
  InvitationClient client(Options());
  const absl::Status status = client.WatchInvitationEvents(
      v1::WatchInvitationEventsRequest(), [](const v1::InvitationEvent&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.Calls("WatchInvitationEvents"), 1);
}

TEST_F(InvitationClientTest, WatchHandsAnExpiredStreamTokenToTheCallerInsteadOfRetryingIt) {
  // The client's bearer token is fixed: reconnecting with it could only fail again, so the
  // caller gets the error (with where to resume) and reconnects with a fresh token itself.
  service_.SetEvents(Events(5));
  service_.FailWatchAfter(
      /*events_before=*/2, /*count=*/3,
      RichStatus(grpc::StatusCode::UNAUTHENTICATED,
                 "the bearer token this stream was opened with has expired; reconnect with a "
                 "fresh token and after_event_id=e3 to resume",
                 "TOKEN_EXPIRED", {{"resume_after_event_id", "e3"}}));
  InvitationClient client(Options());
  v1::WatchInvitationEventsRequest request;
  request.set_after_event_id("e1");
  std::vector<std::string> seen;
  const absl::Status status =
      client.WatchInvitationEvents(request, [&](const v1::InvitationEvent& event) {
        seen.push_back(event.event_id());
        return true;
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  const InvitationError error = DecodeError(status);
  EXPECT_EQ(error.reason, "TOKEN_EXPIRED");
  EXPECT_EQ(error.metadata.at("resume_after_event_id"), "e3");
  EXPECT_EQ(seen, (std::vector<std::string>{"e2", "e3"}));
  EXPECT_EQ(service_.Calls("WatchInvitationEvents"), 1);
}

TEST_F(InvitationClientTest, WatchErrorsOtherThanUnavailableEndIt) {
  service_.SetEvents(Events(3));
  InvitationClient client(Options());
  v1::WatchInvitationEventsRequest request;
  request.set_after_event_id("e99");
  const absl::Status status =
      client.WatchInvitationEvents(request, [](const v1::InvitationEvent&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
}

TEST_F(InvitationClientTest, WatchCanBeCancelledFromAnotherThreadWhileIdle) {
  service_.SetEvents(Events(1));
  InvitationClient client(Options());
  StreamCanceller canceller;
  absl::Notification got_event;
  std::thread watcher_thread;
  absl::Status status;
  watcher_thread = std::thread([&] {
    status = client.WatchInvitationEvents(
        v1::WatchInvitationEventsRequest(),
        [&](const v1::InvitationEvent&) {
          got_event.Notify();
          return true;
        },
        &canceller);
  });
  absl::SleepFor(absl::Milliseconds(100));  // the stream is open and idle
  canceller.Cancel();
  watcher_thread.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(got_event.HasBeenNotified());
}

}  // namespace
}  // namespace securelink::invitations::client
