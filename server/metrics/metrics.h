// The one place that names every metric the service exports, and the HTTP listener that serves
// them (Prometheus text format on --metrics_address, path /metrics). Domain and storage code
// never include this: they are observed through the decorators in instrumented.h, the storage
// QueryObserver and the RPC interceptor, all wired in main.cc.
//
// gRPC series follow go-grpc-prometheus exactly (names, labels, Go code names, the histogram
// without grpc_code), and every registered method's series exist at zero from start. Label
// values are always from small fixed sets: never emails, ids, tenants or client-chosen strings.
#ifndef SECURELINK_SERVER_METRICS_METRICS_H_
#define SECURELINK_SERVER_METRICS_METRICS_H_

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/domain/invitation.h"
#include "server/web/page_events.h"
#include "storage/invitation_store.h"
#include "storage/outbox_store.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
class Exposer;
template <typename T>
class Family;
}  // namespace prometheus

namespace securelink::invitations::metrics {

// Number of canonical gRPC status codes (OK .. UNAUTHENTICATED).
inline constexpr int kGrpcCodeCount = 17;

// The Go name of a canonical status code ("OK", "Canceled", "InvalidArgument", ...), as
// go-grpc-prometheus writes it in grpc_code; "Unknown" for a number outside 0..16.
absl::string_view GrpcCodeName(int code);

// The grpc-ecosystem series of one RPC method. Pointers stay valid as long as the Metrics.
struct GrpcMethodSeries {
  prometheus::Counter* started = nullptr;
  prometheus::Counter* msg_received = nullptr;
  prometheus::Counter* msg_sent = nullptr;
  prometheus::Histogram* handling_seconds = nullptr;
  std::array<prometheus::Counter*, kGrpcCodeCount> handled{};  // indexed by status code
};

// How a method streams, as grpc_type spells it.
enum class GrpcType { kUnary, kClientStream, kServerStream, kBidiStream };

struct MetricsOptions {
  // The /metrics listener (host:port; port 0 picks a free one).
  std::string address = "127.0.0.1:9464";
  // How often the outbox backlog is counted (a COUNT query: too slow to run inside a scrape).
  absl::Duration outbox_sample_interval = absl::Seconds(15);
};

class Metrics {
 public:
  // Creates every metric family (all at zero). Thread-safe afterwards, except where noted.
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Pre-creates the gRPC series of one method ("/package.Service/Method") at zero, with every
  // grpc_code. Call for every served method before the server starts (not thread-safe).
  void AddGrpcMethod(absl::string_view full_method, GrpcType type);
  // The series of `full_method`, or nullptr for a method that was never added (unknown
  // methods are not recorded: their names come from the client and are unbounded).
  const GrpcMethodSeries* ForMethod(absl::string_view full_method) const;

  // Domain events (SPEC §7 "invitations by outcome").
  void InvitationChanged(AuditEventType change, Role role);
  void InvitationsExpired(int count);
  void BulkOutcomes(int created, int skipped, int invalid, int failed);
  // Calls (or BulkInvite addresses) a tenant's policy refused (SPEC §11): `reason` is the
  // ErrorInfo reason (EMAIL_DOMAIN_NOT_ALLOWED, TENANT_PENDING_LIMIT_REACHED), `method` the
  // RPC's short name.
  void PolicyRefusals(absl::string_view reason, absl::string_view method, int count);
  void EmailSent();
  void EmailFailed();
  void EmailDeferred();
  // Reminder emails (SPEC §11): queued by this replica's pass, and delivered by its dispatcher
  // (each delivery also counts as an email sent).
  void RemindersQueued(int count);
  void ReminderSent();

  // Outbox backlog, as last sampled (OutboxSampler).
  void SetOutbox(const OutboxStats& stats);
  // Database reachability as the health monitor last saw it.
  void SetDatabaseUp(bool up);
  // One database operation (a whole transaction with its retries); `operation` is the
  // storage layer's fixed description of it.
  void DbOperation(absl::string_view operation, absl::Duration elapsed, bool ok);
  void SetPoolConnections(int in_use, int idle);
  void SetWorkerPool(int queue_depth, int busy_workers);
  // One Keycloak Admin API call (IdentityProvider method) and its outcome.
  void KeycloakCall(absl::string_view operation, absl::Duration elapsed, const absl::Status& status);

  // The registration page: one response of its listener (route, HTTP status, time from the
  // whole request to its response) and how one form submission ended. Labels come only from
  // the fixed sets of page_events.h and the status number, never from the request.
  void PageResponse(web::PageRoute route, int status, absl::Duration elapsed);
  void PageAccept(web::AcceptOutcome outcome);

  // Runs `hook` at every scrape, before the values are read (to sample gauges such as the
  // pool's connections). Add hooks before serving (not thread-safe).
  void AddScrapeHook(std::function<void()> hook);

  // Everything in the Prometheus text format, as /metrics serves it (hooks run first).
  std::string Scrape() const;

  // Serves /metrics on `address` (host:port; port 0 picks a free one) until destroyed.
  // UNAVAILABLE when the address cannot be bound. At most one listener per Metrics.
  absl::Status Serve(const std::string& address);
  // The bound port of Serve, or 0.
  int port() const { return port_; }
  // Closes the listener (takes ~2 s: civetweb's teardown). Call before anything a scrape hook
  // reads is destroyed. Idempotent.
  void StopServing();

 private:
  class ScrapingCollectable;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ScrapingCollectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  std::vector<std::function<void()>> hooks_;

  prometheus::Family<prometheus::Counter>* grpc_started_;
  prometheus::Family<prometheus::Counter>* grpc_handled_;
  prometheus::Family<prometheus::Histogram>* grpc_handling_seconds_;
  prometheus::Family<prometheus::Counter>* grpc_msg_received_;
  prometheus::Family<prometheus::Counter>* grpc_msg_sent_;
  absl::flat_hash_map<std::string, GrpcMethodSeries> methods_;

  prometheus::Family<prometheus::Counter>* invitation_changes_;
  prometheus::Counter* expired_;
  prometheus::Family<prometheus::Counter>* bulk_results_;
  prometheus::Family<prometheus::Counter>* policy_refusals_;
  prometheus::Counter* emails_sent_;
  prometheus::Counter* emails_failed_;
  prometheus::Counter* emails_deferred_;
  prometheus::Counter* reminders_queued_;
  prometheus::Counter* reminders_sent_;
  prometheus::Gauge* outbox_due_;
  prometheus::Gauge* outbox_oldest_due_age_;
  prometheus::Gauge* database_up_;
  prometheus::Family<prometheus::Histogram>* db_seconds_;
  prometheus::Gauge* pool_in_use_;
  prometheus::Gauge* pool_idle_;
  prometheus::Gauge* worker_queue_depth_;
  prometheus::Gauge* worker_busy_;
  prometheus::Family<prometheus::Histogram>* keycloak_seconds_;
  prometheus::Family<prometheus::Counter>* keycloak_errors_;
  prometheus::Family<prometheus::Counter>* page_requests_;
  std::array<prometheus::Histogram*, web::kPageRoutes.size()> page_seconds_{};
  std::array<prometheus::Counter*, web::kAcceptOutcomes.size()> page_accepts_{};
};

}  // namespace securelink::invitations::metrics

#endif  // SECURELINK_SERVER_METRICS_METRICS_H_
