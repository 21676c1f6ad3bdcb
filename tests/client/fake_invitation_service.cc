#include "fake_invitation_service.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace securelink::invitations::testing {
namespace {

void SetNow(google::protobuf::Timestamp* timestamp, absl::Duration offset = absl::ZeroDuration()) {
  const absl::Time t = absl::Now() + offset;
  timestamp->set_seconds(absl::ToUnixSeconds(t));
}

// Answers list_services like gRPC's reflection plugin. The plugin itself (grpc++_reflection)
// cannot share a binary with grpc_ecosystem_proto: both define grpc.reflection.v1alpha messages.
class FakeReflectionService final : public grpc::reflection::v1alpha::ServerReflection::Service {
 public:
  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1alpha::ServerReflectionResponse,
                               grpc::reflection::v1alpha::ServerReflectionRequest>* stream)
      override {
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    while (stream->Read(&request)) {
      grpc::reflection::v1alpha::ServerReflectionResponse response;
      *response.mutable_original_request() = request;
      if (request.message_request_case() ==
          grpc::reflection::v1alpha::ServerReflectionRequest::kListServices) {
        for (const char* name : {"securelink.invitations.v1.InvitationService",
                                 "grpc.reflection.v1alpha.ServerReflection"}) {
          response.mutable_list_services_response()->add_service()->set_name(name);
        }
      } else {
        response.mutable_error_response()->set_error_code(grpc::StatusCode::UNIMPLEMENTED);
        response.mutable_error_response()->set_error_message("not in the fake");
      }
      stream->Write(response);
    }
    return grpc::Status::OK;
  }
};

}  // namespace

grpc::Status RichStatus(grpc::StatusCode code, const std::string& message,
                        const std::string& reason,
                        const std::map<std::string, std::string>& metadata,
                        const std::vector<std::pair<std::string, std::string>>& violations) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(message);
  if (!reason.empty()) {
    google::rpc::ErrorInfo info;
    info.set_reason(reason);
    info.set_domain("invitations.securelink");
    info.mutable_metadata()->insert(metadata.begin(), metadata.end());
    status.add_details()->PackFrom(info);
  }
  if (!violations.empty()) {
    google::rpc::BadRequest bad_request;
    for (const auto& [field, description] : violations) {
      auto* violation = bad_request.add_field_violations();
      violation->set_field(field);
      violation->set_description(description);
    }
    status.add_details()->PackFrom(bad_request);
  }
  return grpc::Status(code, message, status.SerializeAsString());
}

void FakeInvitationService::FailNext(const std::string& method, int count, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[method] = {count, std::move(status)};
}

int FakeInvitationService::Calls(const std::string& method) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

std::vector<std::string> FakeInvitationService::CreateRequestIds() const {
  absl::MutexLock lock(&mu_);
  return create_request_ids_;
}

std::vector<std::string> FakeInvitationService::RequestIds() const {
  absl::MutexLock lock(&mu_);
  return request_ids_;
}

std::string FakeInvitationService::LastAuthorization() const {
  absl::MutexLock lock(&mu_);
  return last_authorization_;
}

v1::AcceptInvitationRequest FakeInvitationService::LastAccept() const {
  absl::MutexLock lock(&mu_);
  return last_accept_;
}

void FakeInvitationService::SetEvents(std::vector<v1::InvitationEvent> events) {
  absl::MutexLock lock(&mu_);
  events_ = std::move(events);
}

void FakeInvitationService::FailWatchAfter(int events_before, int count, grpc::Status status) {
  absl::MutexLock lock(&mu_);
  watch_fail_before_ = events_before;
  watch_failures_left_ = count;
  watch_failure_ = std::move(status);
}

std::vector<std::string> FakeInvitationService::WatchPositions() const {
  absl::MutexLock lock(&mu_);
  return watch_positions_;
}

grpc::Status FakeInvitationService::Enter(const std::string& method, grpc::ServerContext* context) {
  absl::MutexLock lock(&mu_);
  ++calls_[method];
  auto auth = context->client_metadata().find("authorization");
  last_authorization_ = auth == context->client_metadata().end()
                            ? ""
                            : std::string(auth->second.data(), auth->second.size());
  auto request_id = context->client_metadata().find("x-request-id");
  request_ids_.push_back(request_id == context->client_metadata().end()
                             ? ""
                             : std::string(request_id->second.data(), request_id->second.size()));
  auto failure = failures_.find(method);
  if (failure != failures_.end() && failure->second.first > 0) {
    --failure->second.first;
    return failure->second.second;
  }
  return grpc::Status::OK;
}

v1::Invitation* FakeInvitationService::FindLocked(const std::string& id) {
  for (v1::Invitation& invitation : invitations_) {
    if (invitation.id() == id) return &invitation;
  }
  return nullptr;
}

grpc::Status FakeInvitationService::CreateInvitation(grpc::ServerContext* context,
                                                     const v1::CreateInvitationRequest* request,
                                                     v1::CreateInvitationResponse* response) {
  {
    absl::MutexLock lock(&mu_);
    create_request_ids_.push_back(request->request_id());
  }
  if (grpc::Status s = Enter("CreateInvitation", context); !s.ok()) return s;
  if (!absl::StrContains(request->email(), '@')) {
    return RichStatus(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("email \"", request->email(), "\" is not an email address"), "",
                      {}, {{"email", "must contain exactly one '@'"}});
  }
  if (absl::StartsWith(request->email(), "taken@")) {
    return RichStatus(grpc::StatusCode::ALREADY_EXISTS,
                      absl::StrCat("an active invitation exists for ", request->email()),
                      "ACTIVE_INVITATION_EXISTS", {{"invitation_id", "inv-taken"}});
  }
  absl::MutexLock lock(&mu_);
  if (!request->request_id().empty()) {
    auto it = by_request_id_.find(request->request_id());
    if (it != by_request_id_.end()) {
      *response = it->second;
      return grpc::Status::OK;
    }
  }
  v1::Invitation& invitation = invitations_.emplace_back();
  invitation.set_id(absl::StrCat("inv-", invitations_.size()));
  invitation.set_email(request->email());
  invitation.set_role(request->role());
  invitation.set_tenant_id(request->tenant_id());
  invitation.set_state(v1::INVITATION_STATE_PENDING);
  SetNow(invitation.mutable_create_time());
  SetNow(invitation.mutable_expire_time(), absl::Hours(168));
  invitation.set_send_count(request->suppress_email() ? 0 : 1);
  invitation.set_email_delivery_state(request->suppress_email()
                                          ? v1::EMAIL_DELIVERY_STATE_SUPPRESSED
                                          : v1::EMAIL_DELIVERY_STATE_QUEUED);
  *response->mutable_invitation() = invitation;
  response->set_registration_url(
      absl::StrCat("https://register.example/?token=tok-", invitation.id()));
  if (!request->request_id().empty()) by_request_id_[request->request_id()] = *response;
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::GetInvitation(grpc::ServerContext* context,
                                                  const v1::GetInvitationRequest* request,
                                                  v1::GetInvitationResponse* response) {
  if (grpc::Status s = Enter("GetInvitation", context); !s.ok()) return s;
  if (request->id() == "slow") absl::SleepFor(absl::Milliseconds(600));
  absl::MutexLock lock(&mu_);
  v1::Invitation* invitation = FindLocked(request->id());
  if (invitation == nullptr) {
    if (request->id() == "missing" || request->id() == "slow") {
      return RichStatus(grpc::StatusCode::NOT_FOUND, absl::StrCat("no invitation ", request->id()),
                        "INVITATION_NOT_FOUND");
    }
    response->mutable_invitation()->set_id(request->id());
    return grpc::Status::OK;
  }
  *response->mutable_invitation() = *invitation;
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::ListInvitations(grpc::ServerContext* context,
                                                    const v1::ListInvitationsRequest* request,
                                                    v1::ListInvitationsResponse* response) {
  if (grpc::Status s = Enter("ListInvitations", context); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  std::vector<const v1::Invitation*> matching;
  for (auto it = invitations_.rbegin(); it != invitations_.rend(); ++it) {
    if (!request->tenant_id().empty() && it->tenant_id() != request->tenant_id()) continue;
    if (!absl::StrContains(it->email(), request->email_query())) continue;
    if (request->states_size() > 0 && std::find(request->states().begin(), request->states().end(),
                                                it->state()) == request->states().end()) {
      continue;
    }
    matching.push_back(&*it);
  }
  size_t offset = 0;
  if (!request->page_token().empty()) {
    absl::string_view token = request->page_token();
    if (!absl::ConsumePrefix(&token, "o") || !absl::SimpleAtoi(token, &offset)) {
      return RichStatus(grpc::StatusCode::INVALID_ARGUMENT, "bad page token", "INVALID_PAGE_TOKEN",
                        {}, {{"page_token", "not a token from this server"}});
    }
  }
  const size_t page_size = request->page_size() > 0 ? request->page_size() : 50;
  for (size_t i = offset; i < matching.size() && i < offset + page_size; ++i) {
    *response->add_invitations() = *matching[i];
  }
  if (offset + page_size < matching.size()) {
    response->set_next_page_token(absl::StrCat("o", offset + page_size));
  }
  response->set_total_size(static_cast<int>(matching.size()));
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::ResendInvitation(grpc::ServerContext* context,
                                                     const v1::ResendInvitationRequest* request,
                                                     v1::ResendInvitationResponse* response) {
  if (grpc::Status s = Enter("ResendInvitation", context); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  v1::Invitation* invitation = FindLocked(request->id());
  if (invitation == nullptr) {
    return RichStatus(grpc::StatusCode::NOT_FOUND, absl::StrCat("no invitation ", request->id()));
  }
  invitation->set_send_count(invitation->send_count() + 1);
  *response->mutable_invitation() = *invitation;
  response->set_registration_url(
      absl::StrCat("https://register.example/?token=tok2-", invitation->id()));
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::RevokeInvitation(grpc::ServerContext* context,
                                                     const v1::RevokeInvitationRequest* request,
                                                     v1::RevokeInvitationResponse* response) {
  if (grpc::Status s = Enter("RevokeInvitation", context); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  v1::Invitation* invitation = FindLocked(request->id());
  if (invitation == nullptr) {
    return RichStatus(grpc::StatusCode::NOT_FOUND, absl::StrCat("no invitation ", request->id()));
  }
  if (invitation->state() != v1::INVITATION_STATE_PENDING) {
    return RichStatus(grpc::StatusCode::FAILED_PRECONDITION,
                      "only a pending invitation can be revoked", "INVITATION_REVOKED");
  }
  invitation->set_state(v1::INVITATION_STATE_REVOKED);
  invitation->set_revoke_reason(request->reason());
  SetNow(invitation->mutable_revoke_time());
  *response->mutable_invitation() = *invitation;
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::BulkInvite(grpc::ServerContext* context,
                                               const v1::BulkInviteRequest* request,
                                               grpc::ServerWriter<v1::BulkInviteResponse>* writer) {
  if (grpc::Status s = Enter("BulkInvite", context); !s.ok()) return s;
  std::vector<std::string> inputs;
  switch (request->source_case()) {
    case v1::BulkInviteRequest::kEmails:
      inputs.assign(request->emails().emails().begin(), request->emails().emails().end());
      break;
    case v1::BulkInviteRequest::kText:
      for (absl::string_view item : absl::StrSplit(request->text(), absl::ByAnyChar("\n,;"))) {
        item = absl::StripAsciiWhitespace(item);
        if (!item.empty()) inputs.emplace_back(item);
      }
      break;
    default:
      return RichStatus(grpc::StatusCode::INVALID_ARGUMENT, "no addresses given", "", {},
                        {{"source", "give emails, text or csv"}});
  }
  v1::BulkInviteSummary summary;
  std::set<std::string> seen;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    if (request->tenant_id() == "slow") absl::SleepFor(absl::Milliseconds(50));
    if (request->tenant_id() == "boom" && i == 1) {
      return RichStatus(grpc::StatusCode::INTERNAL, "database went away");
    }
    v1::BulkInviteResponse response;
    v1::BulkInviteResult* result = response.mutable_result();
    result->set_input(inputs[i]);
    result->set_line(static_cast<int>(i + 1));
    summary.set_total(summary.total() + 1);
    if (!absl::StrContains(inputs[i], '@')) {
      result->set_outcome(v1::BULK_INVITE_OUTCOME_INVALID_EMAIL);
      result->set_message("must contain exactly one '@'");
      summary.set_invalid(summary.invalid() + 1);
    } else if (!seen.insert(inputs[i]).second) {
      result->set_email(inputs[i]);
      result->set_outcome(v1::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE);
      summary.set_skipped(summary.skipped() + 1);
    } else if (absl::StrContains(inputs[i], "fail")) {
      result->set_email(inputs[i]);
      result->set_outcome(v1::BULK_INVITE_OUTCOME_FAILED);
      result->set_message("database error");
      summary.set_failed(summary.failed() + 1);
    } else {
      result->set_email(inputs[i]);
      result->set_outcome(v1::BULK_INVITE_OUTCOME_CREATED);
      result->set_invitation_id(absl::StrCat("inv-b", i + 1));
      summary.set_created(summary.created() + 1);
    }
    if (!writer->Write(response)) return grpc::Status::CANCELLED;
  }
  if (request->tenant_id() != "no-summary") {
    v1::BulkInviteResponse response;
    *response.mutable_summary() = summary;
    writer->Write(response);
  }
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::ValidateInvitationToken(
    grpc::ServerContext* context, const v1::ValidateInvitationTokenRequest* request,
    v1::ValidateInvitationTokenResponse* response) {
  if (grpc::Status s = Enter("ValidateInvitationToken", context); !s.ok()) return s;
  if (request->token() == "expired") {
    return RichStatus(grpc::StatusCode::FAILED_PRECONDITION, "this invitation has expired",
                      "INVITATION_EXPIRED", {{"invitation_id", "inv-old"}});
  }
  if (request->token() == "bogus") {
    return RichStatus(grpc::StatusCode::NOT_FOUND, "this link is not valid",
                      "INVITATION_TOKEN_INVALID");
  }
  response->set_invitation_id("inv-1");
  response->set_email("someone@example.com");
  response->set_role(v1::ROLE_VPN_USER);
  response->set_tenant_id("acme");
  SetNow(response->mutable_expire_time(), absl::Hours(1));
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::AcceptInvitation(grpc::ServerContext* context,
                                                     const v1::AcceptInvitationRequest* request,
                                                     v1::AcceptInvitationResponse* response) {
  if (grpc::Status s = Enter("AcceptInvitation", context); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  last_accept_ = *request;
  response->mutable_invitation()->set_id("inv-1");
  response->mutable_invitation()->set_state(v1::INVITATION_STATE_ACCEPTED);
  response->mutable_invitation()->set_user_id("kc-user-1");
  response->set_user_id("kc-user-1");
  return grpc::Status::OK;
}

grpc::Status FakeInvitationService::WatchInvitationEvents(
    grpc::ServerContext* context, const v1::WatchInvitationEventsRequest* request,
    grpc::ServerWriter<v1::WatchInvitationEventsResponse>* writer) {
  if (grpc::Status s = Enter("WatchInvitationEvents", context); !s.ok()) return s;
  std::vector<v1::InvitationEvent> events;
  int fail_before = -1;
  grpc::Status failure;
  {
    absl::MutexLock lock(&mu_);
    watch_positions_.push_back(request->after_event_id());
    size_t start = events_.size();  // empty after_event_id: from now
    if (!request->after_event_id().empty()) {
      start = events_.size() + 1;
      for (size_t i = 0; i < events_.size(); ++i) {
        if (events_[i].event_id() == request->after_event_id()) start = i + 1;
      }
      if (start > events_.size()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown event id; resume from now");
      }
    }
    events.assign(events_.begin() + start, events_.end());
    if (watch_failures_left_ > 0) {
      --watch_failures_left_;
      fail_before = watch_fail_before_;
      failure = watch_failure_;
    }
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (static_cast<int>(i) == fail_before) break;
    v1::WatchInvitationEventsResponse response;
    *response.mutable_event() = events[i];
    if (!writer->Write(response)) return grpc::Status::CANCELLED;
  }
  if (fail_before >= 0) return failure;
  while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(10));
  return grpc::Status::CANCELLED;
}

FakeServer::FakeServer(FakeInvitationService* service, int port)
    : reflection_(std::make_unique<FakeReflectionService>()) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service);
  builder.RegisterService(reflection_.get());
  server_ = builder.BuildAndStart();
}

FakeServer::~FakeServer() { Shutdown(); }

void FakeServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  server_.reset();
}

}  // namespace securelink::invitations::testing
