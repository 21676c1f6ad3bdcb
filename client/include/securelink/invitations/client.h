// C++ client of securelink.invitations.v1.InvitationService for other services and tools:
// deadlines and request ids per call, bearer tokens from a fixed string or a refreshing source
// (token_sources.h), retries of the calls that are safe to retry, rich errors (errors.h) and the
// two streaming calls. No gRPC header is needed to use it.
#ifndef SECURELINK_INVITATIONS_CLIENT_H_
#define SECURELINK_INVITATIONS_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "securelink/invitations/errors.h"
#include "securelink/invitations/v1/invitation_service.pb.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace securelink::invitations::client {

namespace v1 = ::securelink::invitations::v1;

// Exponential backoff between attempts of a retryable call that failed with UNAVAILABLE.
// The delay before retry n (n = 1, 2, ...) is
//   min(initial_backoff * multiplier^(n-1), max_backoff) * uniform(1 - jitter, 1 + jitter).
// The same numbers tune the channel's reconnect backoff, so a retry after a server restart finds
// the channel already reconnecting rather than waiting out gRPC's default 1 s .. 120 s backoff.
struct RetryPolicy {
  int max_attempts = 4;  // attempts in all, the first included; 1 disables retries
  absl::Duration initial_backoff = absl::Milliseconds(100);
  double multiplier = 2.0;
  absl::Duration max_backoff = absl::Seconds(2);
  double jitter = 0.2;  // in [0, 1]
};

// The default ClientOptions::warning_sink: writes the message to stderr as one line,
// "securelink-invitations-client: warning: <message>".
void WarnOnStderr(absl::string_view message);

// Gives the bearer token for a call; asked before every attempt, on the calling thread, so a
// token that was refreshed is used at once. Must be thread-safe: calls run on many threads. An
// error fails the call with that status before anything is sent. token_sources.h has sources
// for a file the platform refreshes and for Keycloak's client-credentials grant.
using TokenSource = std::function<absl::StatusOr<std::string>()>;

// Per-call settings, beside the client-wide ClientOptions.
struct CallOptions {
  // Bounds this call instead of ClientOptions::deadline (bulk_deadline for BulkInvite), retries
  // and backoff included. WatchInvitationEvents has none unless one is given here.
  std::optional<absl::Duration> deadline;
  // Sent as `x-request-id` on every attempt of the call: the server records it in the call's
  // log line and on the events and emails the call causes, and sends it back. Empty: the client
  // makes one per call. It only correlates; CreateInvitationRequest.request_id is what makes a
  // retried Create idempotent.
  std::string request_id;
};

struct ClientOptions {
  // gRPC target, e.g. "127.0.0.1:50051" or "dns:///invitations.internal:443".
  std::string target = "127.0.0.1:50051";
  // Sent as `authorization: Bearer <token>` on every call when non-empty. A fixed string suits
  // tools and tests; a service whose tokens expire sets token_source instead.
  std::string bearer_token;
  // Set: asked for the token before every attempt (bearer_token is then ignored).
  TokenSource token_source;
  // Bounds each unary call, retries and backoff included.
  absl::Duration deadline = absl::Seconds(10);
  // Bounds a whole BulkInvite stream (the server exempts it from its default deadline).
  absl::Duration bulk_deadline = absl::Minutes(10);
  RetryPolicy retry;
  // WatchInvitationEvents reconnects after UNAVAILABLE (e.g. a replica restarting), resuming after
  // the last event delivered, with `retry` governing consecutive failed attempts. It only does so
  // when it knows a position (an event was delivered, or the request named after_event_id):
  // resuming "from now" could hide a gap, so without one the UNAVAILABLE is returned instead.
  bool watch_resume = true;
  // Channel credentials; null means insecure (plaintext), suitable for local runs only.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // With TLS credentials: the name the server's certificate must carry, instead of the target's
  // host. For dialling one replica by address while its certificate names the Service (e.g. a
  // probe inside the pod connecting to 127.0.0.1). Empty: the target's host.
  std::string tls_server_name;
  // An existing channel to use instead of creating one from target and credentials (tests,
  // in-process servers, channels shared with other stubs). Reconnect tuning is then the caller's.
  std::shared_ptr<grpc::Channel> channel;
  // Prefix of the user-agent header.
  std::string user_agent = "securelink-invitations-client/0.1";
  // Receives the client's warnings, each one line without a newline. There is one today: the
  // constructor reports, once, that bearer_token would travel in plaintext (credentials and
  // channel both null) to a target that is not loopback (127.0.0.0/8, ::1, localhost, unix:),
  // where anyone on the network path can read it and use it until it expires. The message
  // names the target, never the token. The client still connects rather than refusing: a
  // service mesh may encrypt that hop outside gRPC's view, and a constructor cannot fail.
  // Replace the sink to route warnings into your logs; null silences them, which is only right
  // when the hop is encrypted some other way.
  std::function<void(absl::string_view)> warning_sink = WarnOnStderr;
};

// Lets another thread stop a BulkInvite or WatchInvitationEvents call in progress. Thread-safe.
// Cancellation is sticky: a call started with an already-cancelled canceller returns CANCELLED
// at once. One canceller serves one call at a time.
class StreamCanceller {
 public:
  StreamCanceller() = default;
  StreamCanceller(const StreamCanceller&) = delete;
  StreamCanceller& operator=(const StreamCanceller&) = delete;

  // Cancels the call in progress, if any, and every later call started with this canceller.
  void Cancel();
  bool IsCancelled() const;

 private:
  friend class CancellerAccess;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// One client per target; thread-safe, so share it. Methods block the calling thread.
//
// Every method returns the server's response, or an absl::Status with the gRPC code and message
// whose details DecodeError() (errors.h) reads. Client-side failures use the same canonical codes
// (DEADLINE_EXCEEDED, UNAVAILABLE when the server cannot be reached, CANCELLED).
//
// Retries: Get, List, ValidateInvitationToken and Create are retried on UNAVAILABLE per
// options.retry, within options.deadline. Create is made idempotent by request_id: when the
// caller leaves it empty the client fills in a random UUIDv4 (the same for every attempt), so a
// retry gets the first attempt's result instead of a second invitation. Resend, Revoke and Accept
// change state without such a key and are never retried.
class InvitationClient {
 public:
  explicit InvitationClient(ClientOptions options);
  ~InvitationClient();
  InvitationClient(const InvitationClient&) = delete;
  InvitationClient& operator=(const InvitationClient&) = delete;

  absl::StatusOr<v1::CreateInvitationResponse> CreateInvitation(
      const v1::CreateInvitationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::GetInvitationResponse> GetInvitation(const v1::GetInvitationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::ListInvitationsResponse> ListInvitations(
      const v1::ListInvitationsRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::ResendInvitationResponse> ResendInvitation(
      const v1::ResendInvitationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::RevokeInvitationResponse> RevokeInvitation(
      const v1::RevokeInvitationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::ValidateInvitationTokenResponse> ValidateInvitationToken(
      const v1::ValidateInvitationTokenRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::AcceptInvitationResponse> AcceptInvitation(
      const v1::AcceptInvitationRequest& request,
      const CallOptions& call = {});
  absl::StatusOr<v1::GetTenantPolicyResponse> GetTenantPolicy(
      const v1::GetTenantPolicyRequest& request,
      const CallOptions& call = {});
  // Retried like a read only when the request carries an etag: a retry of an update that did
  // happen is then refused (ABORTED) instead of being applied twice.
  absl::StatusOr<v1::UpdateTenantPolicyResponse> UpdateTenantPolicy(
      const v1::UpdateTenantPolicyRequest& request,
      const CallOptions& call = {});

  // Called on the calling thread for each result, in the server's order, as it arrives.
  using BulkResultCallback = std::function<void(const v1::BulkInviteResult&)>;

  // Runs a BulkInvite, handing each result to `on_result` as it arrives, and returns the final
  // summary. Request-level problems (no source, bad role, too many addresses) come back as the
  // error before any result. A stream that ends without a summary is an INTERNAL error (results
  // already handed over stay valid). Not retried. `canceller` may be null.
  absl::StatusOr<v1::BulkInviteSummary> BulkInvite(const v1::BulkInviteRequest& request,
                                                   const BulkResultCallback& on_result,
                                                   StreamCanceller* canceller = nullptr,
                                                   const CallOptions& call = {});

  // Called on the calling thread for each event; return false to stop watching.
  using EventCallback = std::function<bool(const v1::InvitationEvent&)>;

  // Follows the event feed until `on_event` returns false (then OK), the server ends the stream
  // (its status), `canceller` fires (CANCELLED), or reconnecting fails (see
  // ClientOptions::watch_resume). Has no deadline. `canceller` may be null.
  absl::Status WatchInvitationEvents(const v1::WatchInvitationEventsRequest& request,
                                     const EventCallback& on_event,
                                     StreamCanceller* canceller = nullptr,
                                     const CallOptions& call = {});

  // The channel in use, for other stubs on the same connection (e.g. health, reflection).
  std::shared_ptr<grpc::Channel> channel() const;
  const ClientOptions& options() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A random (version 4) UUID in canonical lower-case form, from the OS's random source.
std::string NewRequestId();

}  // namespace securelink::invitations::client

#endif  // SECURELINK_INVITATIONS_CLIENT_H_
