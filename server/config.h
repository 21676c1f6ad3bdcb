// The one config struct, built from flags whose environment-variable twins (SPEC §7) are applied
// first; a flag given on the command line wins over its variable.
#ifndef SECURELINK_SERVER_CONFIG_H_
#define SECURELINK_SERVER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/accept_saga.h"
#include "server/auth/authorization.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/validation.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/email_dispatcher.h"
#include "server/event_feed.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/util/log.h"
#include "server/web/forwarded_for.h"
#include "storage/connection_pool.h"
#include "storage/mysql_uri.h"

namespace securelink::invitations {

struct ServerConfig {
  std::string grpc_address;
  std::string metrics_address;
  MysqlEndpoint mysql;
  TtlPolicy ttl;
  std::string registration_base_url;
  int default_page_size = 50;
  int max_page_size = 500;
  int bulk_max_addresses = 10000;
  // Resource limits (STYLE: visible in one place). One worker per pooled connection: a worker
  // never waits for a connection another worker holds.
  int worker_threads = 16;
  int worker_queue_capacity = 1024;
  ConnectionPoolOptions pool;
  absl::Duration db_startup_timeout = absl::Seconds(60);
  absl::Duration shutdown_grace = absl::Seconds(25);
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // 32 raw bytes, or empty for a per-process key (see BUILD_NOTES "request_id replays").
  std::string token_sealing_key;
  LogLevel log_level = LogLevel::kInfo;
  // Email: SMTP relay (url empty: .eml files in mail_dir), templates, dispatcher limits.
  mail::SmtpOptions smtp;
  std::string mail_dir;
  std::string mail_template_dir;
  EmailDispatcherOptions email;
  // Callers (SPEC §6): JWT verification, or none with --auth=disabled.
  bool auth_enabled = true;
  JwtOptions jwt;
  std::string jwt_public_key_file;
  std::string jwt_jwks_url;
  // JWKS keys stay trusted this long past a failed refresh (SPEC §10; JwksOptions::max_stale).
  absl::Duration jwks_max_stale = absl::Hours(1);
  RoleNames roles;
  double token_rate_per_second = 5;
  int token_rate_burst = 20;
  absl::Duration expiry_sweep_interval = absl::Seconds(30);
  AcceptSagaOptions accept_saga;
  EventFeedOptions event_feed;
  // Open WatchInvitationEvents streams per token `sub` on one replica (SPEC §10).
  int watch_streams_per_caller = 16;
  // Keycloak's Admin REST API (SPEC §5); base_url empty: AcceptInvitation is UNAVAILABLE.
  KeycloakAdminOptions keycloak;
  // The registration page (issue 9): its listener, where it sends new users, replacement
  // templates, and its limits (its service calls share the worker pool above).
  std::string web_address;
  std::string login_url;  // empty: the pages show no usable log-in link (main warns)
  std::string web_template_dir;
  int web_threads = 8;  // handler threads of the page's listener
  int web_connection_queue = 64;  // complete requests waiting for one; beyond: 503
  int web_max_connections = 512;
  // A page request must arrive whole within this, from its first byte (SPEC §10).
  absl::Duration web_request_read_timeout = absl::Seconds(10);
  absl::Duration web_idle_timeout = absl::Seconds(30);
  // Whose X-Forwarded-For names the client (SPEC §10); empty: nobody's.
  web::TrustedProxies web_trusted_proxies;

  // --- Operations (issue 8): deadlines, health, gRPC transport limits, TLS ---
  // A call that carries no deadline gets this one (SPEC §9; BulkInvite and Watch exempt).
  absl::Duration default_deadline = absl::Seconds(30);
  // How often the database is probed for grpc.health.v1.
  absl::Duration health_check_interval = absl::Seconds(5);
  // Keepalive enforcement and connection lifetime (reasons in server/grpc_server.h).
  absl::Duration grpc_min_ping_interval = absl::Seconds(10);
  int grpc_max_ping_strikes = 2;
  absl::Duration grpc_keepalive_time = absl::Minutes(1);
  absl::Duration grpc_keepalive_timeout = absl::Seconds(20);
  absl::Duration grpc_max_connection_age = absl::Minutes(30);
  absl::Duration grpc_max_connection_age_grace = absl::Minutes(1);
  int grpc_max_threads = 64;
  // PEM text read from --tls_cert_file / --tls_key_file / --tls_client_ca_file; all empty:
  // plaintext; a client CA: mutual TLS.
  std::string tls_cert_chain;
  std::string tls_private_key;
  std::string tls_client_ca;
};

// Copies every set INVITATIONS_* variable into its flag, then parses `argv` (handles --help).
// Exits with a message naming the variable or flag when a value does not parse.
void ParseFlagsWithEnvironment(int argc, char** argv);

// The configuration the flags describe. INVALID_ARGUMENT naming the setting when a value is
// out of range or inconsistent (e.g. --invitation_ttl_min above --invitation_ttl_max).
absl::StatusOr<ServerConfig> ConfigFromFlags();

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_CONFIG_H_
