// InvitationClient over the generated stub: the one translation unit of the library that needs
// the gRPC client headers.
#include "securelink/invitations/client.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "retry.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "target.h"

namespace securelink::invitations::client {

// Registers the call in progress with a canceller, for the canceller's lifetime-free friends.
class CancellerAccess {
 public:
  // Returns false (and registers nothing) when `canceller` has already fired.
  static bool Attach(StreamCanceller* canceller, grpc::ClientContext* context) {
    if (canceller == nullptr) return true;
    absl::MutexLock lock(&canceller->mu_);
    if (canceller->cancelled_) return false;
    canceller->context_ = context;
    return true;
  }
  static void Detach(StreamCanceller* canceller) {
    if (canceller == nullptr) return;
    absl::MutexLock lock(&canceller->mu_);
    canceller->context_ = nullptr;
  }
};

void StreamCanceller::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool StreamCanceller::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void WarnOnStderr(absl::string_view message) {
  // One write per line, so that lines from concurrent writers do not interleave mid-line.
  const std::string line = absl::StrCat("securelink-invitations-client: warning: ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

namespace {

using Stub = v1::InvitationService::Stub;

template <typename Request, typename Response>
using UnaryMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

// Keeps a canceller pointed at one context for the scope of a call.
class AttachedCanceller {
 public:
  AttachedCanceller(StreamCanceller* canceller, grpc::ClientContext* context)
      : canceller_(canceller), attached_(CancellerAccess::Attach(canceller, context)) {}
  ~AttachedCanceller() {
    if (attached_) CancellerAccess::Detach(canceller_);
  }
  // False when the canceller had fired before the call started.
  bool attached() const { return attached_; }

 private:
  StreamCanceller* canceller_;
  bool attached_;
};

absl::Status CancelledByCaller() { return absl::CancelledError("cancelled by the caller"); }

int ToMillis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, INT32_MAX));
}

}  // namespace

class InvitationClient::Impl {
 public:
  explicit Impl(ClientOptions options) : options_(std::move(options)) {
    if (std::optional<std::string> warning = internal::PlaintextTokenWarning(options_);
        warning.has_value() && options_.warning_sink) {
      options_.warning_sink(*warning);
    }
    if (options_.channel != nullptr) {
      channel_ = options_.channel;
    } else {
      grpc::ChannelArguments args;
      if (!options_.user_agent.empty()) args.SetUserAgentPrefix(options_.user_agent);
      // Reconnect on the retry policy's rhythm (gRPC's default starts at 1 s and grows to 120 s).
      // The minimum-connect-timeout arg is left alone: it also bounds each connection attempt.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, ToMillis(options_.retry.initial_backoff));
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                  ToMillis(std::max(options_.retry.max_backoff, options_.retry.initial_backoff)));
      if (!options_.tls_server_name.empty()) {
        args.SetSslTargetNameOverride(options_.tls_server_name);
      }
      std::shared_ptr<grpc::ChannelCredentials> credentials = options_.credentials;
      if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
      channel_ = grpc::CreateCustomChannel(options_.target, credentials, args);
    }
    stub_ = v1::InvitationService::NewStub(channel_);
  }

  // One unary call: up to max_attempts attempts while the server answers UNAVAILABLE (only when
  // `retryable`), all within one deadline.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(UnaryMethod<Request, Response> method, const Request& request,
                                bool retryable, const CallOptions& call) {
    const absl::Time deadline = absl::Now() + call.deadline.value_or(options_.deadline);
    const std::string request_id = RequestIdOf(call);
    const int max_attempts = retryable ? std::max(1, options_.retry.max_attempts) : 1;
    for (int attempt = 1;; ++attempt) {
      grpc::ClientContext context;
      if (absl::Status prepared = Prepare(&context, request_id); !prepared.ok()) return prepared;
      context.set_deadline(absl::ToChronoTime(deadline));
      Response response;
      const grpc::Status status = (stub_.get()->*method)(&context, request, &response);
      if (status.ok()) return response;
      // UNAVAILABLE is retried; RESOURCE_EXHAUSTED only when the server asked for a retry
      // (RetryInfo: overload, a rate limit), never a refusal such as a full quota. Never sooner
      // than the server asked.
      const std::optional<absl::Duration> asked = DecodeError(status).retry_delay;
      const bool retry = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                          asked.has_value());
      if (!retry || attempt >= max_attempts) return ToAbslStatus(status);
      const absl::Duration delay =
          std::max(internal::BackoffDelay(options_.retry, attempt, internal::UnitRandom()),
                   asked.value_or(absl::ZeroDuration()));
      if (absl::Now() + delay >= deadline) return ToAbslStatus(status);
      BackOffOnTheChannel(delay);
    }
  }

  absl::StatusOr<v1::BulkInviteSummary> BulkInvite(const v1::BulkInviteRequest& request,
                                                   const BulkResultCallback& on_result,
                                                   StreamCanceller* canceller,
                                                   const CallOptions& call) {
    grpc::ClientContext context;
    if (absl::Status prepared = Prepare(&context, RequestIdOf(call)); !prepared.ok()) {
      return prepared;
    }
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + call.deadline.value_or(options_.bulk_deadline)));
    AttachedCanceller attached(canceller, &context);
    if (!attached.attached()) return CancelledByCaller();

    std::unique_ptr<grpc::ClientReader<v1::BulkInviteResponse>> reader =
        stub_->BulkInvite(&context, request);
    v1::BulkInviteResponse response;
    std::optional<v1::BulkInviteSummary> summary;
    while (reader->Read(&response)) {
      if (response.has_result()) {
        if (on_result) on_result(response.result());
      } else if (response.has_summary()) {
        summary = response.summary();
      }
    }
    const grpc::Status status = reader->Finish();
    if (!status.ok()) {
      if (canceller != nullptr && canceller->IsCancelled()) return CancelledByCaller();
      return ToAbslStatus(status);
    }
    if (!summary.has_value()) {
      return absl::InternalError("BulkInvite stream ended without a summary");
    }
    return *summary;
  }

  absl::Status Watch(const v1::WatchInvitationEventsRequest& initial, const EventCallback& on_event,
                     StreamCanceller* canceller, const CallOptions& call) {
    const std::string request_id = RequestIdOf(call);
    const std::optional<absl::Time> deadline =
        call.deadline.has_value() ? std::optional<absl::Time>(absl::Now() + *call.deadline)
                                  : std::nullopt;
    v1::WatchInvitationEventsRequest request = initial;
    bool have_position = !request.after_event_id().empty();
    int failures = 0;
    for (;;) {
      grpc::ClientContext context;
      if (absl::Status prepared = Prepare(&context, request_id); !prepared.ok()) return prepared;
      if (deadline.has_value()) context.set_deadline(absl::ToChronoTime(*deadline));
      AttachedCanceller attached(canceller, &context);
      if (!attached.attached()) return CancelledByCaller();

      std::unique_ptr<grpc::ClientReader<v1::WatchInvitationEventsResponse>> reader =
          stub_->WatchInvitationEvents(&context, request);
      v1::WatchInvitationEventsResponse response;
      bool stopped = false;
      while (reader->Read(&response)) {
        failures = 0;
        request.set_after_event_id(response.event().event_id());
        have_position = true;
        if (on_event && !on_event(response.event())) {
          stopped = true;
          context.TryCancel();
          while (reader->Read(&response)) {
          }
          break;
        }
      }
      const grpc::Status status = reader->Finish();
      if (stopped) return absl::OkStatus();
      if (canceller != nullptr && canceller->IsCancelled()) return CancelledByCaller();
      if (status.ok()) return absl::OkStatus();
      // A replica draining or a subscriber that fell out of the live buffer names the position
      // to go on from; a stream that saw no event yet takes it from there.
      const InvitationError error = DecodeError(status);
      if (auto it = error.metadata.find("resume_after_event_id");
          !have_position && it != error.metadata.end()) {
        request.set_after_event_id(it->second);
        have_position = true;
      }
      const bool resumable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             error.reason == kReasonEventSubscriberBehind;
      const bool resume = resumable && options_.watch_resume && have_position &&
                          ++failures < std::max(1, options_.retry.max_attempts);
      if (!resume) return ToAbslStatus(status);
      if (!SleepUnlessCancelled(
              std::max(internal::BackoffDelay(options_.retry, failures, internal::UnitRandom()),
                       error.retry_delay.value_or(absl::ZeroDuration())),
              canceller)) {
        return CancelledByCaller();
      }
    }
  }

  const ClientOptions& options() const { return options_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  // The call's metadata: its request id and the caller's credentials. Fails (nothing sent) when
  // the token source cannot give a token.
  absl::Status Prepare(grpc::ClientContext* context, const std::string& request_id) const {
    context->AddMetadata("x-request-id", request_id);
    if (options_.token_source) {
      absl::StatusOr<std::string> token = options_.token_source();
      if (!token.ok()) return token.status();
      if (!token->empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", *token));
    } else if (!options_.bearer_token.empty()) {
      context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.bearer_token));
    }
    return absl::OkStatus();
  }

  static std::string RequestIdOf(const CallOptions& call) {
    return call.request_id.empty() ? NewRequestId() : call.request_id;
  }

  // Waits out `delay` watching the channel rather than in a bare sleep, returning early once it is
  // READY. In TRANSIENT_FAILURE gRPC reconnects on its own backoff (its multiplier and jitter, not
  // ours) and reports no failed reconnect, so a fail-fast attempt can meet a server that has been
  // back for a while with the refusal from the last reconnect. Resetting that backoff on every
  // quarter of our delay keeps the channel's reconnects on our rhythm: the attempt after this wait
  // finds a server that came back more than a quarter-delay ago.
  void BackOffOnTheChannel(absl::Duration delay) const {
    const absl::Time until = absl::Now() + delay;
    const absl::Duration slice = delay / 4;
    grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
    for (absl::Time now = absl::Now(); now < until; now = absl::Now()) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
        grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
      }
      if (channel_->WaitForStateChange(state, absl::ToChronoTime(std::min(until, now + slice)))) {
        state = channel_->GetState(/*try_to_connect=*/true);
        if (state == GRPC_CHANNEL_READY) return;
      }
    }
  }

  // Returns false when the canceller fired during the sleep.
  static bool SleepUnlessCancelled(absl::Duration delay, StreamCanceller* canceller) {
    const absl::Time until = absl::Now() + delay;
    for (;;) {
      if (canceller != nullptr && canceller->IsCancelled()) return false;
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) return true;
      absl::SleepFor(std::min(left, absl::Milliseconds(50)));
    }
  }

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
};

InvitationClient::InvitationClient(ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

InvitationClient::~InvitationClient() = default;

absl::StatusOr<v1::CreateInvitationResponse> InvitationClient::CreateInvitation(
    const v1::CreateInvitationRequest& request, const CallOptions& call) {
  if (!request.request_id().empty()) {
    return impl_->Call(&Stub::CreateInvitation, request, /*retryable=*/true, call);
  }
  v1::CreateInvitationRequest keyed = request;
  keyed.set_request_id(NewRequestId());
  return impl_->Call(&Stub::CreateInvitation, keyed, /*retryable=*/true, call);
}

absl::StatusOr<v1::GetInvitationResponse> InvitationClient::GetInvitation(
    const v1::GetInvitationRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::GetInvitation, request, /*retryable=*/true, call);
}

absl::StatusOr<v1::ListInvitationsResponse> InvitationClient::ListInvitations(
    const v1::ListInvitationsRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::ListInvitations, request, /*retryable=*/true, call);
}

absl::StatusOr<v1::ResendInvitationResponse> InvitationClient::ResendInvitation(
    const v1::ResendInvitationRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::ResendInvitation, request, /*retryable=*/false, call);
}

absl::StatusOr<v1::RevokeInvitationResponse> InvitationClient::RevokeInvitation(
    const v1::RevokeInvitationRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::RevokeInvitation, request, /*retryable=*/false, call);
}

absl::StatusOr<v1::ValidateInvitationTokenResponse> InvitationClient::ValidateInvitationToken(
    const v1::ValidateInvitationTokenRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::ValidateInvitationToken, request, /*retryable=*/true, call);
}

absl::StatusOr<v1::GetTenantPolicyResponse> InvitationClient::GetTenantPolicy(
    const v1::GetTenantPolicyRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::GetTenantPolicy, request, /*retryable=*/true, call);
}

absl::StatusOr<v1::UpdateTenantPolicyResponse> InvitationClient::UpdateTenantPolicy(
    const v1::UpdateTenantPolicyRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::UpdateTenantPolicy, request,
                     /*retryable=*/!request.policy().etag().empty(), call);
}

absl::StatusOr<v1::AcceptInvitationResponse> InvitationClient::AcceptInvitation(
    const v1::AcceptInvitationRequest& request, const CallOptions& call) {
  return impl_->Call(&Stub::AcceptInvitation, request, /*retryable=*/false, call);
}

absl::StatusOr<v1::BulkInviteSummary> InvitationClient::BulkInvite(
    const v1::BulkInviteRequest& request, const BulkResultCallback& on_result,
    StreamCanceller* canceller, const CallOptions& call) {
  return impl_->BulkInvite(request, on_result, canceller, call);
}

absl::Status InvitationClient::WatchInvitationEvents(
    const v1::WatchInvitationEventsRequest& request, const EventCallback& on_event,
    StreamCanceller* canceller, const CallOptions& call) {
  return impl_->Watch(request, on_event, canceller, call);
}

std::shared_ptr<grpc::Channel> InvitationClient::channel() const { return impl_->channel(); }

const ClientOptions& InvitationClient::options() const { return impl_->options(); }

}  // namespace securelink::invitations::client
