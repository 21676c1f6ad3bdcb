// The one config struct, built from flags whose environment-variable twins (SPEC §7) are applied
// first; a flag given on the command line wins over its variable.
#ifndef SECURELINK_SERVER_CONFIG_H_
#define SECURELINK_SERVER_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/authorization.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/validation.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/email_dispatcher.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/util/log.h"
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
  RoleNames roles;
  double token_rate_per_second = 5;
  int token_rate_burst = 20;
  absl::Duration expiry_sweep_interval = absl::Seconds(30);
  // Keycloak's Admin REST API (SPEC §5); base_url empty: AcceptInvitation is UNAVAILABLE.
  KeycloakAdminOptions keycloak;
};

// Copies every set INVITATIONS_* variable into its flag, then parses `argv` (handles --help).
// Exits with a message naming the variable or flag when a value does not parse.
void ParseFlagsWithEnvironment(int argc, char** argv);

// The configuration the flags describe. INVALID_ARGUMENT naming the setting when a value is
// out of range or inconsistent (e.g. --invitation_ttl_min above --invitation_ttl_max).
absl::StatusOr<ServerConfig> ConfigFromFlags();

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_CONFIG_H_
