#include "server/metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/domain/tenant_policy.h"
#include "server/metrics/process_metrics.h"

namespace securelink::invitations::metrics {
namespace {

constexpr absl::string_view kGoCodeNames[kGrpcCodeCount] = {
    "OK",           "Canceled",         "Unknown",          "InvalidArgument",
    "DeadlineExceeded", "NotFound",     "AlreadyExists",    "PermissionDenied",
    "ResourceExhausted", "FailedPrecondition", "Aborted",   "OutOfRange",
    "Unimplemented", "Internal",        "Unavailable",      "DataLoss",
    "Unauthenticated"};

// prometheus.DefBuckets, which go-grpc-prometheus uses for grpc_server_handling_seconds.
const prometheus::Histogram::BucketBoundaries& RpcBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *b;
}

// Database statements are mostly sub-millisecond to a few milliseconds here.
const prometheus::Histogram::BucketBoundaries& DbBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *b;
}

absl::string_view TypeName(GrpcType type) {
  switch (type) {
    case GrpcType::kUnary: return "unary";
    case GrpcType::kClientStream: return "client_stream";
    case GrpcType::kServerStream: return "server_stream";
    case GrpcType::kBidiStream: return "bidi_stream";
  }
  return "unary";
}

absl::string_view ChangeName(AuditEventType change) {
  switch (change) {
    case AuditEventType::kCreated: return "created";
    case AuditEventType::kResent: return "resent";
    case AuditEventType::kRevoked: return "revoked";
    case AuditEventType::kExpired: return "expired";
    case AuditEventType::kAccepted: return "accepted";
    default: return "";
  }
}

absl::string_view RoleLabel(Role role) {
  switch (role) {
    case Role::kSuperAdmin: return "super_admin";
    case Role::kTenantAdmin: return "tenant_admin";
    case Role::kVpnUser: return "vpn_user";
    default: return "unspecified";
  }
}

// Storage describes operations in words ("creating an invitation"); labels read better as
// snake_case and stay the same fixed set.
std::string OperationLabel(absl::string_view operation) {
  std::string out(operation);
  for (char& c : out) {
    if (c == ' ' || c == '-') c = '_';
  }
  return out;
}

// The page's statuses as labels; anything outside HTTP's range (never sent) is not a label.
std::string HttpStatusLabel(int status) {
  return status >= 100 && status <= 599 ? absl::StrCat(status) : "other";
}

}  // namespace

absl::string_view GrpcCodeName(int code) {
  return code >= 0 && code < kGrpcCodeCount ? kGoCodeNames[code] : "Unknown";
}

// The registry as /metrics sees it: scrape hooks refresh sampled gauges first.
class Metrics::ScrapingCollectable final : public prometheus::Collectable {
 public:
  explicit ScrapingCollectable(const Metrics& metrics) : metrics_(metrics) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    for (const auto& hook : metrics_.hooks_) hook();
    std::vector<prometheus::MetricFamily> families = metrics_.registry_->Collect();
    families.push_back(BuildInfoFamily(INVITATIONS_VERSION, INVITATIONS_REVISION));
    for (prometheus::MetricFamily& f : ProcessMetricFamilies()) families.push_back(std::move(f));
    return families;
  }

 private:
  const Metrics& metrics_;
};

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  collectable_ = std::make_shared<ScrapingCollectable>(*this);
  prometheus::Registry& r = *registry_;
  // --- grpc-ecosystem server metrics (go-grpc-prometheus names and help texts) ---
  grpc_started_ = &prometheus::BuildCounter()
                       .Name("grpc_server_started_total")
                       .Help("Total number of RPCs started on the server.")
                       .Register(r);
  grpc_handled_ = &prometheus::BuildCounter()
                       .Name("grpc_server_handled_total")
                       .Help("Total number of RPCs completed on the server, regardless of success "
                             "or failure.")
                       .Register(r);
  grpc_handling_seconds_ = &prometheus::BuildHistogram()
                                .Name("grpc_server_handling_seconds")
                                .Help("Histogram of response latency (seconds) of gRPC that had "
                                      "been application-level handled by the server.")
                                .Register(r);
  grpc_msg_received_ = &prometheus::BuildCounter()
                            .Name("grpc_server_msg_received_total")
                            .Help("Total number of RPC stream messages received on the server.")
                            .Register(r);
  grpc_msg_sent_ = &prometheus::BuildCounter()
                        .Name("grpc_server_msg_sent_total")
                        .Help("Total number of gRPC stream messages sent by the server.")
                        .Register(r);

  // --- the invitation domain ---
  invitation_changes_ = &prometheus::BuildCounter()
                             .Name("invitations_state_changes_total")
                             .Help("Invitation state changes made by this replica's calls, by "
                                   "change (created, resent, revoked, accepted) and role.")
                             .Register(r);
  for (AuditEventType change : {AuditEventType::kCreated, AuditEventType::kResent,
                                AuditEventType::kRevoked, AuditEventType::kAccepted}) {
    for (Role role : {Role::kSuperAdmin, Role::kTenantAdmin, Role::kVpnUser}) {
      invitation_changes_->Add(
          {{"change", std::string(ChangeName(change))}, {"role", std::string(RoleLabel(role))}});
    }
  }
  expired_ = &prometheus::BuildCounter()
                  .Name("invitations_expired_total")
                  .Help("Invitations whose expiry this replica's sweeper persisted.")
                  .Register(r)
                  .Add({});
  bulk_results_ = &prometheus::BuildCounter()
                       .Name("invitations_bulk_results_total")
                       .Help("BulkInvite addresses by outcome (validate_only calls excluded).")
                       .Register(r);
  for (const char* outcome : {"created", "skipped", "invalid", "failed"}) {
    bulk_results_->Add({{"outcome", outcome}});
  }
  policy_refusals_ = &prometheus::BuildCounter()
                          .Name("invitations_policy_refusals_total")
                          .Help("Invitations a tenant's policy refused, by reason "
                                "(EMAIL_DOMAIN_NOT_ALLOWED, TENANT_PENDING_LIMIT_REACHED) and "
                                "method (CreateInvitation, ResendInvitation, BulkInvite: one "
                                "per refused address).")
                          .Register(r);
  for (absl::string_view reason : {kReasonEmailDomainNotAllowed, kReasonTenantPendingLimitReached}) {
    for (const char* method : {"CreateInvitation", "ResendInvitation", "BulkInvite"}) {
      policy_refusals_->Add({{"reason", std::string(reason)}, {"method", method}});
    }
  }
  auto& emails = prometheus::BuildCounter()
                     .Name("invitations_emails_total")
                     .Help("Invitation email delivery attempts by result: sent, deferred (a "
                           "transient failure, retried later) or failed (given up).")
                     .Register(r);
  emails_sent_ = &emails.Add({{"result", "sent"}});
  emails_deferred_ = &emails.Add({{"result", "deferred"}});
  emails_failed_ = &emails.Add({{"result", "failed"}});
  auto& reminders = prometheus::BuildCounter()
                        .Name("invitations_reminders_total")
                        .Help("Reminder emails by stage: queued (by this replica's reminder "
                              "pass) or sent (delivered by this replica's dispatcher).")
                        .Register(r);
  reminders_queued_ = &reminders.Add({{"result", "queued"}});
  reminders_sent_ = &reminders.Add({{"result", "sent"}});
  outbox_due_ = &prometheus::BuildGauge()
                     .Name("invitations_outbox_due_messages")
                     .Help("Outbox emails due for delivery and not yet sent (last sample).")
                     .Register(r)
                     .Add({});
  outbox_oldest_due_age_ = &prometheus::BuildGauge()
                                .Name("invitations_outbox_oldest_due_age_seconds")
                                .Help("How long the oldest due outbox email has waited.")
                                .Register(r)
                                .Add({});

  // --- resources ---
  database_up_ = &prometheus::BuildGauge()
                      .Name("invitations_database_up")
                      .Help("1 when the last health probe reached the database, else 0.")
                      .Register(r)
                      .Add({});
  db_seconds_ = &prometheus::BuildHistogram()
                     .Name("invitations_db_operation_duration_seconds")
                     .Help("Database operations (one transaction or read, retries included) by "
                           "operation and outcome.")
                     .Register(r);
  auto& pool = prometheus::BuildGauge()
                   .Name("invitations_db_pool_connections")
                   .Help("Pooled database connections by state (in_use, idle).")
                   .Register(r);
  pool_in_use_ = &pool.Add({{"state", "in_use"}});
  pool_idle_ = &pool.Add({{"state", "idle"}});
  worker_queue_depth_ = &prometheus::BuildGauge()
                             .Name("invitations_worker_queue_depth")
                             .Help("Calls waiting for a database worker.")
                             .Register(r)
                             .Add({});
  worker_busy_ = &prometheus::BuildGauge()
                      .Name("invitations_worker_busy")
                      .Help("Database workers running a call right now.")
                      .Register(r)
                      .Add({});
  keycloak_seconds_ = &prometheus::BuildHistogram()
                           .Name("invitations_keycloak_request_duration_seconds")
                           .Help("Keycloak Admin API operations (with their token requests).")
                           .Register(r);
  keycloak_errors_ = &prometheus::BuildCounter()
                          .Name("invitations_keycloak_errors_total")
                          .Help("Keycloak Admin API operations that failed, by operation and "
                                "canonical code.")
                          .Register(r);

  // --- the registration page ---
  page_requests_ = &prometheus::BuildCounter()
                        .Name("invitations_page_requests_total")
                        .Help("Registration page responses by route (/register, "
                              "/static/style.css, other) and HTTP status code, including the "
                              "listener's own (503 when busy, 408, 431).")
                        .Register(r);
  // Every route's 5xx series exist from start, so an alert's rate() sees the first failure;
  // the form's usual answers too, for dashboards.
  for (web::PageRoute route : web::kPageRoutes) {
    for (int status : {200, 400, 404, 500, 503}) {
      page_requests_->Add({{"route", std::string(web::PageRouteName(route))},
                           {"code", HttpStatusLabel(status)}});
    }
  }
  for (int status : {403, 409, 410, 413, 429}) {
    page_requests_->Add({{"route", std::string(web::PageRouteName(web::PageRoute::kRegister))},
                         {"code", HttpStatusLabel(status)}});
  }
  auto& page_seconds = prometheus::BuildHistogram()
                           .Name("invitations_page_request_duration_seconds")
                           .Help("Registration page responses by route: from the whole request "
                                 "having arrived to its response being ready (a POST includes "
                                 "the Keycloak account creation).")
                           .Register(r);
  for (web::PageRoute route : web::kPageRoutes) {
    page_seconds_[static_cast<size_t>(route)] =
        &page_seconds.Add({{"route", std::string(web::PageRouteName(route))}}, RpcBuckets());
  }
  auto& page_accepts = prometheus::BuildCounter()
                           .Name("invitations_page_accepts_total")
                           .Help("Registration form submissions (POST /register) by outcome.")
                           .Register(r);
  for (web::AcceptOutcome outcome : web::kAcceptOutcomes) {
    page_accepts_[static_cast<size_t>(outcome)] =
        &page_accepts.Add({{"outcome", std::string(web::AcceptOutcomeName(outcome))}});
  }
}

Metrics::~Metrics() = default;

void Metrics::AddGrpcMethod(absl::string_view full_method, GrpcType type) {
  // "/package.Service/Method" → grpc_service "package.Service", grpc_method "Method".
  std::vector<absl::string_view> parts = absl::StrSplit(full_method, '/');
  if (parts.size() != 3 || !parts[0].empty()) return;
  const prometheus::Labels labels = {{"grpc_type", std::string(TypeName(type))},
                                     {"grpc_service", std::string(parts[1])},
                                     {"grpc_method", std::string(parts[2])}};
  GrpcMethodSeries series;
  series.started = &grpc_started_->Add(labels);
  series.msg_received = &grpc_msg_received_->Add(labels);
  series.msg_sent = &grpc_msg_sent_->Add(labels);
  series.handling_seconds = &grpc_handling_seconds_->Add(labels, RpcBuckets());
  for (int code = 0; code < kGrpcCodeCount; ++code) {
    prometheus::Labels with_code = labels;
    with_code["grpc_code"] = std::string(kGoCodeNames[code]);
    series.handled[code] = &grpc_handled_->Add(with_code);
  }
  methods_[std::string(full_method)] = series;
}

const GrpcMethodSeries* Metrics::ForMethod(absl::string_view full_method) const {
  auto it = methods_.find(full_method);
  return it == methods_.end() ? nullptr : &it->second;
}

void Metrics::InvitationChanged(AuditEventType change, Role role) {
  absl::string_view name = ChangeName(change);
  if (name.empty() || change == AuditEventType::kExpired) return;
  invitation_changes_->Add({{"change", std::string(name)}, {"role", std::string(RoleLabel(role))}})
      .Increment();
}

void Metrics::InvitationsExpired(int count) {
  if (count > 0) expired_->Increment(count);
}

void Metrics::BulkOutcomes(int created, int skipped, int invalid, int failed) {
  const std::pair<const char*, int> outcomes[] = {
      {"created", created}, {"skipped", skipped}, {"invalid", invalid}, {"failed", failed}};
  for (const auto& [name, n] : outcomes) {
    if (n > 0) bulk_results_->Add({{"outcome", name}}).Increment(n);
  }
}

void Metrics::PolicyRefusals(absl::string_view reason, absl::string_view method, int count) {
  if (count <= 0) return;
  policy_refusals_->Add({{"reason", std::string(reason)}, {"method", std::string(method)}})
      .Increment(count);
}

void Metrics::EmailSent() { emails_sent_->Increment(); }
void Metrics::EmailFailed() { emails_failed_->Increment(); }
void Metrics::EmailDeferred() { emails_deferred_->Increment(); }
void Metrics::RemindersQueued(int count) {
  if (count > 0) reminders_queued_->Increment(count);
}
void Metrics::ReminderSent() { reminders_sent_->Increment(); }

void Metrics::SetOutbox(const OutboxStats& stats) {
  outbox_due_->Set(static_cast<double>(stats.due));
  outbox_oldest_due_age_->Set(absl::ToDoubleSeconds(stats.oldest_due_age));
}

void Metrics::SetDatabaseUp(bool up) { database_up_->Set(up ? 1 : 0); }

void Metrics::DbOperation(absl::string_view operation, absl::Duration elapsed, bool ok) {
  db_seconds_
      ->Add({{"operation", OperationLabel(operation)}, {"outcome", ok ? "ok" : "error"}},
            DbBuckets())
      .Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::SetPoolConnections(int in_use, int idle) {
  pool_in_use_->Set(in_use);
  pool_idle_->Set(idle);
}

void Metrics::SetWorkerPool(int queue_depth, int busy_workers) {
  worker_queue_depth_->Set(queue_depth);
  worker_busy_->Set(busy_workers);
}

void Metrics::KeycloakCall(absl::string_view operation, absl::Duration elapsed,
                           const absl::Status& status) {
  keycloak_seconds_->Add({{"operation", std::string(operation)}}, RpcBuckets())
      .Observe(absl::ToDoubleSeconds(elapsed));
  if (!status.ok()) {
    keycloak_errors_
        ->Add({{"operation", std::string(operation)},
               {"code", absl::StatusCodeToString(status.code())}})
        .Increment();
  }
}

void Metrics::PageResponse(web::PageRoute route, int status, absl::Duration elapsed) {
  page_requests_
      ->Add({{"route", std::string(web::PageRouteName(route))}, {"code", HttpStatusLabel(status)}})
      .Increment();
  page_seconds_[static_cast<size_t>(route)]->Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::PageAccept(web::AcceptOutcome outcome) {
  page_accepts_[static_cast<size_t>(outcome)]->Increment();
}

void Metrics::AddScrapeHook(std::function<void()> hook) { hooks_.push_back(std::move(hook)); }

std::string Metrics::Scrape() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, collectable_->Collect());
  return out.str();
}

absl::Status Metrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for /metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(collectable_);
  std::vector<int> ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return absl::OkStatus();
}

void Metrics::StopServing() { exposer_.reset(); }

}  // namespace securelink::invitations::metrics
