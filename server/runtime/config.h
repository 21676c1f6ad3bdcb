// The one config struct: the replica's settings, composed of the components' own Options structs
// so that each default is written once, beside the component that uses it. Built from flags whose
// environment twins (SPEC §7, INVITATIONS_<NAME>) are applied first; the command line wins.
#ifndef SECURELINK_SERVER_RUNTIME_CONFIG_H_
#define SECURELINK_SERVER_RUNTIME_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/accept_saga.h"
#include "server/authenticator.h"
#include "server/bulk_invite.h"
#include "server/email_dispatcher.h"
#include "server/event_feed.h"
#include "server/expiry_sweeper.h"
#include "server/grpc/grpc_invitation_service.h"
#include "server/grpc/grpc_server.h"
#include "server/runtime/health_monitor.h"
#include "server/invitation_service.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/metrics/metrics.h"
#include "server/rate_limiter.h"
#include "server/reminder_scheduler.h"
#include "server/util/log.h"
#include "server/web/registration_site.h"
#include "server/web/web_server.h"
#include "server/util/worker_pool.h"
#include "storage/connection_pool.h"
#include "storage/group_commit_invitation_store.h"
#include "storage/mysql_uri.h"

namespace securelink::invitations {

struct ServerConfig {
  // The gRPC edge: transport limits and TLS, and the RPCs' own limits.
  GrpcServerOptions grpc;
  RpcOptions rpc;
  // The database. pool.max_connections is derived: one per worker, per email dispatcher and per
  // background thread that talks to the database, so that nobody ever waits for a connection.
  MysqlEndpoint mysql;
  ConnectionPoolOptions pool;
  absl::Duration db_startup_timeout = absl::Seconds(60);  // to reach the database at start-up
  // Migrations. migrate: apply pending ones at start; false: only check that the schema is
  // complete and unchanged (serving replicas whose database user may not change the schema).
  // migrate_only: migrate, report and exit, a deployment step (e.g. a Kubernetes Job).
  bool migrate = true;
  bool migrate_only = false;
  WorkerPoolOptions workers;
  // Concurrent CreateInvitations written together (group commit).
  GroupCommitOptions create_batching;
  // The service and its background work.
  InvitationServiceOptions service;  // its ttl, base URL and roles are the other parts' too
  BulkInviteOptions bulk;
  AcceptSagaOptions accept_saga;
  ExpirySweeperOptions expiry;
  ReminderSchedulerOptions reminders;
  EventFeedOptions event_feed;
  // Callers, and the token RPCs' per-client limit.
  AuthOptions auth;
  TokenBucketOptions token_rate;
  // Keycloak's Admin REST API (SPEC §5); base_url empty: AcceptInvitation is UNAVAILABLE.
  KeycloakAdminOptions keycloak;
  // Email: an SMTP relay, or .eml files in mail_dir when smtp.url is empty.
  mail::SmtpOptions smtp;
  std::string mail_dir = ".local/mail";
  std::string mail_template_dir;  // empty: the built-in templates
  EmailDispatcherOptions email;
  // 32 raw bytes shared by every replica of the database; empty: a key of this process's own.
  std::string token_sealing_key;
  // The registration page.
  web::WebServerOptions web;
  web::RegistrationSiteOptions site;
  std::string web_template_dir;  // empty: the built-in pages
  // Operations.
  metrics::MetricsOptions metrics;
  HealthMonitorOptions health;
  absl::Duration shutdown_grace = absl::Seconds(25);  // for calls in flight after SIGTERM
  LogLevel log_level = LogLevel::kInfo;
};

// Copies every set INVITATIONS_* variable into its flag, then parses `argv` (handles --help).
// Exits with a message naming the variable or flag when a value does not parse.
void ParseFlagsWithEnvironment(int argc, char** argv);

// The configuration the flags describe. INVALID_ARGUMENT naming the setting when a value is
// out of range or inconsistent (e.g. --invitation_ttl_min above --invitation_ttl_max), or a file
// it names cannot be read.
// With --migrate_only only the database and logging settings are read and checked: a migration
// Job needs no listener, Keycloak, SMTP, JWT or sealing-key settings (nor their files).
absl::StatusOr<ServerConfig> ConfigFromFlags();

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_RUNTIME_CONFIG_H_
