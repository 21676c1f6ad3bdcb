#include "server/grpc/rpc_interceptor.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/domain/request_id.h"
#include "server/domain/tenant_policy.h"
#include "server/util/log.h"

namespace securelink::invitations {
namespace {

constexpr absl::string_view kBulkInviteMethod =
    "/securelink.invitations.v1.InvitationService/BulkInvite";
constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";

// What the interceptor knows of a call in flight beyond its method.
struct CallRecord {
  std::string subject;     // the authenticated caller, once a handler names it
  std::string request_id;  // from the call's metadata, or made up, at its start
};

// The calls in flight, keyed by their server context: the request id is set when the call's
// metadata arrives, the subject by NoteRpcCaller on a worker; both are read by the handlers and
// by the interceptor when the status goes out.
struct CallerRegistry {
  absl::Mutex mu;
  absl::flat_hash_map<const grpc::ServerContextBase*, CallRecord> calls ABSL_GUARDED_BY(mu);
  // The metrics of the BulkInvite calls in flight, for NoteBulkOutcomes: the handler reads its
  // request and writes its responses as raw bytes, so the interceptor sees neither parsed.
  absl::flat_hash_map<const grpc::ServerContextBase*, metrics::Metrics*> bulk_metrics
      ABSL_GUARDED_BY(mu);
};

CallerRegistry& Callers() {
  static auto* registry = new CallerRegistry;
  return *registry;
}

LogLevel LevelFor(grpc::StatusCode code, absl::string_view method) {
  switch (code) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
      return LogLevel::kError;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return LogLevel::kWarning;
    default:
      // Probes poll health every few seconds: at info they would drown everything else.
      return absl::StartsWith(method, kHealthPrefix) ? LogLevel::kDebug : LogLevel::kInfo;
  }
}

// The codes a tenant policy refuses with (SPEC §11); only these are worth parsing details for.
bool IsPolicyRefusalCode(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::FAILED_PRECONDITION ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// The google.rpc.ErrorInfo reason in a status's details, or "".
std::string ErrorInfoReason(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return "";
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

// "CreateInvitation" of "/securelink.invitations.v1.InvitationService/CreateInvitation".
absl::string_view ShortMethodName(absl::string_view full_method) {
  const size_t slash = full_method.rfind('/');
  return slash == absl::string_view::npos ? full_method : full_method.substr(slash + 1);
}

class RpcObservabilityInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcObservabilityInterceptor(grpc::experimental::ServerRpcInfo* info,
                              metrics::Metrics* metrics)
      : start_(absl::Now()),
        method_(info->method() != nullptr ? info->method() : ""),
        ctx_(info->server_context()),
        series_(metrics != nullptr ? metrics->ForMethod(method_) : nullptr),
        metrics_(metrics),
        is_bulk_(method_ == kBulkInviteMethod) {
    if (series_ != nullptr) series_->started->Increment();
    CallerRegistry& callers = Callers();
    absl::MutexLock lock(&callers.mu);
    callers.calls.emplace(ctx_, CallRecord());
    if (is_bulk_ && metrics_ != nullptr) callers.bulk_metrics.emplace(ctx_, metrics_);
  }

  ~RpcObservabilityInterceptor() override {
    // A call that ended without a status of ours (torn down by cancellation or shutdown).
    if (!finished_) Finished(grpc::Status(grpc::StatusCode::CANCELLED, "the call was abandoned"));
    CallerRegistry& callers = Callers();
    absl::MutexLock lock(&callers.mu);
    callers.calls.erase(ctx_);
    if (is_bulk_) callers.bulk_metrics.erase(ctx_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_INITIAL_METADATA)) {
      AssignRequestId(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_INITIAL_METADATA)) {
      // The caller learns the id its call ran under (the one it sent, or the one made for it).
      methods->GetSendInitialMetadata()->emplace(std::string(kRequestIdHeader), request_id_);
    }
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      if (series_ != nullptr) series_->msg_received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) {
      if (series_ != nullptr) series_->msg_sent->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      Finished(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void AssignRequestId(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    auto value = [&](absl::string_view key) -> absl::string_view {
      auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
      return it == metadata.end() ? absl::string_view()
                                  : absl::string_view(it->second.data(), it->second.size());
    };
    request_id_ = RequestIdFor(value(kRequestIdHeader), value(kTraceparentHeader));
    CallerRegistry& callers = Callers();
    absl::MutexLock lock(&callers.mu);
    callers.calls[ctx_].request_id = request_id_;
  }

  void Finished(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    const absl::Duration elapsed = absl::Now() - start_;
    const int code = static_cast<int>(status.error_code());
    if (series_ != nullptr) {
      if (code >= 0 && code < metrics::kGrpcCodeCount) series_->handled[code]->Increment();
      series_->handling_seconds->Observe(absl::ToDoubleSeconds(elapsed));
    }
    if (metrics_ != nullptr && IsPolicyRefusalCode(status.error_code())) {
      const std::string reason = ErrorInfoReason(status);
      if (reason == kReasonEmailDomainNotAllowed || reason == kReasonTenantPendingLimitReached) {
        metrics_->PolicyRefusals(reason, ShortMethodName(method_), 1);
      }
    }
    const LogLevel level = LevelFor(status.error_code(), method_);
    // Below the log level (e.g. --log_level=warning and an OK call) there is no line to build.
    if (!LogEnabled(level)) return;
    std::string subject;
    {
      CallerRegistry& callers = Callers();
      absl::MutexLock lock(&callers.mu);
      auto it = callers.calls.find(ctx_);
      if (it != callers.calls.end()) subject = it->second.subject;
    }
    LogFields fields = {
        {"method", method_},
        {"grpc_code", std::string(metrics::GrpcCodeName(code))},
        {"latency_ms", absl::ToDoubleMilliseconds(elapsed)},
        {"peer", ctx_ != nullptr ? ctx_->peer() : std::string()},
        {"request_id", request_id_},
    };
    if (!subject.empty()) fields.emplace_back("sub", subject);
    // Status messages are written for people and never carry tokens or passwords (SPEC §2).
    if (!status.ok()) fields.emplace_back("error", status.error_message());
    Log(level, "rpc", fields);
  }

  const absl::Time start_;
  const std::string method_;
  grpc::ServerContextBase* const ctx_;
  const metrics::GrpcMethodSeries* const series_;
  metrics::Metrics* const metrics_;
  const bool is_bulk_;
  // Written when the metadata arrives, before the handler runs; read on the call's later hooks,
  // which gRPC never runs concurrently with that one.
  std::string request_id_;
  bool finished_ = false;
};

class RpcObservabilityFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcObservabilityFactory(metrics::Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcObservabilityInterceptor(info, metrics_);
  }

 private:
  metrics::Metrics* const metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcObservabilityInterceptorFactory(metrics::Metrics* metrics) {
  return std::make_unique<RpcObservabilityFactory>(metrics);
}

void NoteBulkOutcomes(const grpc::ServerContextBase* ctx, const BulkSummary& summary) {
  metrics::Metrics* metrics = nullptr;
  {
    CallerRegistry& callers = Callers();
    absl::MutexLock lock(&callers.mu);
    auto it = callers.bulk_metrics.find(ctx);
    if (it != callers.bulk_metrics.end()) metrics = it->second;
  }
  // The metrics outlive the server and so every call.
  if (metrics == nullptr) return;
  metrics->BulkOutcomes(summary.created, summary.skipped, summary.invalid, summary.failed);
  metrics->PolicyRefusals(kReasonEmailDomainNotAllowed, "BulkInvite", summary.domain_not_allowed);
  metrics->PolicyRefusals(kReasonTenantPendingLimitReached, "BulkInvite",
                          summary.pending_limit_reached);
}

void NoteRpcCaller(const grpc::ServerContextBase* ctx, absl::string_view subject) {
  CallerRegistry& callers = Callers();
  absl::MutexLock lock(&callers.mu);
  auto it = callers.calls.find(ctx);
  if (it != callers.calls.end()) it->second.subject = std::string(subject);
}

std::string RpcRequestId(const grpc::ServerContextBase* ctx) {
  CallerRegistry& callers = Callers();
  absl::MutexLock lock(&callers.mu);
  auto it = callers.calls.find(ctx);
  return it == callers.calls.end() ? std::string() : it->second.request_id;
}

}  // namespace securelink::invitations
