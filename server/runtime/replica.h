// One running replica of the service: every part main wires, built in dependency order by
// Start and stopped in the order a drain needs by Drain (or the destructor).
#ifndef SECURELINK_SERVER_RUNTIME_REPLICA_H_
#define SECURELINK_SERVER_RUNTIME_REPLICA_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "server/accept_saga.h"
#include "server/authenticator.h"
#include "server/bulk_invite.h"
#include "server/runtime/config.h"
#include "server/domain/clock.h"
#include "server/domain/token.h"
#include "server/email_dispatcher.h"
#include "server/event_feed.h"
#include "server/expiry_sweeper.h"
#include "server/grpc/grpc_invitation_service.h"
#include "server/grpc/grpc_server.h"
#include "server/runtime/health_monitor.h"
#include "server/invitation_service.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/mail/mail_sender.h"
#include "server/mail/message.h"
#include "server/metrics/instrumented.h"
#include "server/metrics/metrics.h"
#include "server/rate_limiter.h"
#include "server/reminder_scheduler.h"
#include "server/tenant_policy_service.h"
#include "server/web/registration_site.h"
#include "server/web/web_pages.h"
#include "server/web/web_server.h"
#include "server/util/worker_pool.h"
#include "storage/connection_pool.h"
#include "storage/mysql_event_store.h"
#include "storage/mysql_invitation_store.h"
#include "storage/mysql_outbox_store.h"
#include "storage/mysql_reminder_store.h"
#include "storage/mysql_tenant_policy_store.h"

namespace securelink::invitations {

class Replica {
 public:
  // Connects to the database (waiting up to config.db_startup_timeout), migrates it, checks the
  // token sealing key, builds every part and starts serving gRPC, the registration page and
  // /metrics. An error names the step that failed; threads started before it are still running
  // then, so a caller exits rather than destroying the half-built replica.
  static absl::StatusOr<std::unique_ptr<Replica>> Start(const ServerConfig& config);

  // Drain()s.
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // The SIGTERM path (SPEC §7): health NOT_SERVING at once, the page stops, feed followers are
  // told to resume elsewhere, gRPC lets calls in flight finish for config.shutdown_grace, then
  // every background worker stops. Idempotent.
  void Drain();

 private:
  explicit Replica(const ServerConfig& config) : config_(config) {}

  // The build steps, in order.
  absl::Status ConnectDatabase();
  absl::Status BuildServices();
  absl::Status StartEmail();
  void StartBackgroundWork();
  absl::Status StartServing();
  absl::Status StartOperations();

  const ServerConfig config_;
  SystemClock clock_;
  metrics::Metrics metrics_;
  std::optional<metrics::DbOperationRecorder> db_recorder_;
  std::unique_ptr<ConnectionPool> pool_;
  std::unique_ptr<MysqlInvitationStore> mysql_store_;
  std::unique_ptr<metrics::InstrumentedInvitationStore> store_;
  std::unique_ptr<GroupCommitInvitationStore> create_batcher_;  // the service's Creates
  std::optional<TokenSealer> sealer_;

  std::unique_ptr<KeycloakAdminClient> keycloak_;
  std::unique_ptr<metrics::InstrumentedIdentityProvider> identity_provider_;
  std::unique_ptr<AcceptSaga> accept_saga_;
  std::optional<Authenticator> authenticator_;
  std::optional<RateLimiter> token_rate_limiter_;
  std::unique_ptr<MysqlTenantPolicyStore> policy_store_;
  std::unique_ptr<InvitationService> service_;
  std::unique_ptr<BulkInviter> bulk_;
  std::unique_ptr<TenantPolicyService> policy_service_;
  // Loaded before the services, which resolve locales among the languages both offer.
  std::optional<mail::MailCatalog> mail_templates_;
  std::optional<web::WebPages> web_pages_;

  std::unique_ptr<mail::MailSender> mail_sender_;
  std::unique_ptr<MysqlOutboxStore> mysql_outbox_;
  std::unique_ptr<metrics::InstrumentedOutboxStore> outbox_;
  std::unique_ptr<EmailDispatcher> dispatcher_;

  std::unique_ptr<AcceptRecoverer> accept_recoverer_;
  std::unique_ptr<ExpirySweeper> sweeper_;
  std::unique_ptr<MysqlReminderStore> reminder_store_;
  std::unique_ptr<ReminderScheduler> reminder_scheduler_;
  std::unique_ptr<MysqlEventStore> event_store_;
  std::unique_ptr<EventFeed> event_feed_;

  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<GrpcInvitationService> grpc_service_;
  StartedServer server_;
  std::unique_ptr<web::RegistrationSite> site_;
  std::unique_ptr<web::WebServer> web_server_;

  std::unique_ptr<metrics::OutboxSampler> outbox_sampler_;
  std::unique_ptr<ConnectionPool> probe_pool_;
  std::unique_ptr<HealthMonitor> health_;
  bool drained_ = false;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_RUNTIME_REPLICA_H_
