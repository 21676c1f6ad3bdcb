// A scriptable in-process InvitationService for client and invitectl tests: it keeps
// invitations in memory, answers with the same google.rpc details the real server sends, records
// what callers sent (metadata, request ids, resume positions), and can be told to fail.
#ifndef SECURELINK_TESTS_CLIENT_FAKE_INVITATION_SERVICE_H_
#define SECURELINK_TESTS_CLIENT_FAKE_INVITATION_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"

namespace securelink::invitations::testing {

namespace v1 = ::securelink::invitations::v1;

// A grpc::Status whose error_details() hold a google.rpc.Status with an ErrorInfo (when `reason`
// is non-empty) and a BadRequest (when `violations` is non-empty), like the real server's.
grpc::Status RichStatus(grpc::StatusCode code, const std::string& message,
                        const std::string& reason = "",
                        const std::map<std::string, std::string>& metadata = {},
                        const std::vector<std::pair<std::string, std::string>>& violations = {});

// Behaviour, by input:
//   Create: email without '@' -> INVALID_ARGUMENT + BadRequest(email); email starting "taken@"
//     -> ALREADY_EXISTS, ACTIVE_INVITATION_EXISTS(invitation_id=inv-taken); a repeated
//     request_id returns the first result.
//   Get "missing" -> NOT_FOUND; Get "slow" sleeps 600 ms first.
//   List pages by offset ("o<N>" tokens) over created invitations, newest first.
//   Validate "expired" -> FAILED_PRECONDITION INVITATION_EXPIRED; "bogus" -> NOT_FOUND
//     INVITATION_TOKEN_INVALID.
//   Bulk: emails or text (split on newlines, commas, semicolons); an address without '@' is
//     INVALID_EMAIL, a repeat SKIPPED_DUPLICATE, one containing "fail" FAILED; `tenant_id`
//     "slow" sleeps 50 ms per result; "no-summary" omits the summary; "boom" fails with
//     INTERNAL after the first result; no source -> INVALID_ARGUMENT before any result.
//   Watch: replays SetEvents() after after_event_id (none when empty: "from now"), then
//     waits for cancellation; an unknown id is NOT_FOUND. See
//     FailWatchAfter().
class FakeInvitationService final : public v1::InvitationService::Service {
 public:
  // The next `count` calls of `method` (e.g. "GetInvitation") fail with `status` before doing
  // anything.
  void FailNext(const std::string& method, int count, grpc::Status status);
  // Calls of `method` so far, failed ones included.
  int Calls(const std::string& method) const;
  // request_id of every CreateInvitation call, in order.
  std::vector<std::string> CreateRequestIds() const;
  // The authorization metadata of the last call ("" when absent).
  std::string LastAuthorization() const;
  // The x-request-id metadata of every call, in order ("" when absent).
  std::vector<std::string> RequestIds() const;
  // The last AcceptInvitation request.
  v1::AcceptInvitationRequest LastAccept() const;

  // Events the watch feed holds (event ids must be unique).
  void SetEvents(std::vector<v1::InvitationEvent> events);
  // The next `count` watch calls end with `status` after sending `events_before` events.
  void FailWatchAfter(int events_before, int count,
                      grpc::Status status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                         "replica going away"));
  // after_event_id of every watch call, in order.
  std::vector<std::string> WatchPositions() const;

  grpc::Status CreateInvitation(grpc::ServerContext* context,
                                const v1::CreateInvitationRequest* request,
                                v1::CreateInvitationResponse* response) override;
  grpc::Status GetInvitation(grpc::ServerContext* context, const v1::GetInvitationRequest* request,
                             v1::GetInvitationResponse* response) override;
  grpc::Status ListInvitations(grpc::ServerContext* context,
                               const v1::ListInvitationsRequest* request,
                               v1::ListInvitationsResponse* response) override;
  grpc::Status ResendInvitation(grpc::ServerContext* context,
                                const v1::ResendInvitationRequest* request,
                                v1::ResendInvitationResponse* response) override;
  grpc::Status RevokeInvitation(grpc::ServerContext* context,
                                const v1::RevokeInvitationRequest* request,
                                v1::RevokeInvitationResponse* response) override;
  grpc::Status BulkInvite(grpc::ServerContext* context, const v1::BulkInviteRequest* request,
                          grpc::ServerWriter<v1::BulkInviteResponse>* writer) override;
  grpc::Status ValidateInvitationToken(grpc::ServerContext* context,
                                       const v1::ValidateInvitationTokenRequest* request,
                                       v1::ValidateInvitationTokenResponse* response) override;
  grpc::Status AcceptInvitation(grpc::ServerContext* context,
                                const v1::AcceptInvitationRequest* request,
                                v1::AcceptInvitationResponse* response) override;
  grpc::Status WatchInvitationEvents(
      grpc::ServerContext* context, const v1::WatchInvitationEventsRequest* request,
      grpc::ServerWriter<v1::WatchInvitationEventsResponse>* writer) override;

 private:
  // Records the call; returns a scripted failure, or OK to proceed.
  grpc::Status Enter(const std::string& method, grpc::ServerContext* context);
  v1::Invitation* FindLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<int, grpc::Status>> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> create_request_ids_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::CreateInvitationResponse> by_request_id_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Invitation> invitations_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::string last_authorization_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> request_ids_ ABSL_GUARDED_BY(mu_);
  v1::AcceptInvitationRequest last_accept_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::InvitationEvent> events_ ABSL_GUARDED_BY(mu_);
  int watch_fail_before_ ABSL_GUARDED_BY(mu_) = 0;
  int watch_failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status watch_failure_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> watch_positions_ ABSL_GUARDED_BY(mu_);
};

// A gRPC server with the fake service (and server reflection) on 127.0.0.1.
class FakeServer {
 public:
  // Listens on `port`, or a free port when 0.
  explicit FakeServer(FakeInvitationService* service, int port = 0);
  ~FakeServer();
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Stops serving (in-flight calls get `grace` to finish).
  void Shutdown(absl::Duration grace = absl::Milliseconds(100));

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Service> reflection_;  // outlives server_
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace securelink::invitations::testing

#endif  // SECURELINK_TESTS_CLIENT_FAKE_INVITATION_SERVICE_H_
