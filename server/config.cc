#include "server/config.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/domain/token.h"

ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051", "gRPC listen address (host:port).");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "Prometheus /metrics listen address (host:port; port 0 picks a free one).");
ABSL_FLAG(std::string, mysql_uri, "mysql://invitations@127.0.0.1:3306/invitations",
          "mysql://user:password@host:port/database, or ...?socket=/path; TLS with "
          "...?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem[&ssl-cert=/c.pem&ssl-key=/k.pem] "
          "(ssl-mode: DISABLED (the default), PREFERRED, REQUIRED, VERIFY_IDENTITY).");
ABSL_FLAG(std::string, mysql_password_file, "",
          "File holding the MySQL password (one trailing newline stripped); overrides the "
          "password in --mysql_uri. Empty: the URI's password.");
ABSL_FLAG(absl::Duration, invitation_ttl, absl::Hours(168), "Default registration link lifetime.");
ABSL_FLAG(absl::Duration, invitation_ttl_min, absl::Hours(1), "Smallest per-request ttl allowed.");
ABSL_FLAG(absl::Duration, invitation_ttl_max, absl::Hours(720), "Largest per-request ttl allowed.");
ABSL_FLAG(std::string, registration_base_url, "http://127.0.0.1:8080/register",
          "Registration page URL; links are <base>?token=<token>.");
ABSL_FLAG(std::string, smtp_url, "", "SMTP relay, e.g. smtp://127.0.0.1:2525 or smtps://…; empty: .eml files in --mail_dir.");
ABSL_FLAG(std::string, smtp_from, "SecureLink <no-reply@securelink.local>", "Sender address.");
ABSL_FLAG(std::string, mail_dir, ".local/mail", "Where .eml files go without an SMTP relay.");
ABSL_FLAG(std::string, smtp_username, "", "SMTP AUTH user (empty: no AUTH).");
ABSL_FLAG(std::string, smtp_password_file, "", "File holding the SMTP AUTH password.");
ABSL_FLAG(bool, smtp_require_tls, false, "Refuse to send unless STARTTLS succeeds.");
ABSL_FLAG(std::string, smtp_ca_file, "", "CA certificates for the relay (empty: system store).");
ABSL_FLAG(std::string, mail_template_dir, "",
          "Directory with subject.txt, body.txt, body.html (empty: the built-in templates).");
ABSL_FLAG(int, email_dispatch_threads, 2, "Concurrent SMTP deliveries per replica.");
ABSL_FLAG(int, email_max_attempts, 8, "Delivery attempts before an email is marked failed.");
ABSL_FLAG(absl::Duration, email_initial_backoff, absl::Seconds(5),
          "First retry delay; doubles per attempt with jitter.");
ABSL_FLAG(absl::Duration, email_max_backoff, absl::Minutes(30), "Longest retry delay.");
ABSL_FLAG(std::string, keycloak_url, "", "Keycloak base URL (the Admin REST API); empty: AcceptInvitation is UNAVAILABLE.");
ABSL_FLAG(std::string, keycloak_realm, "securelink", "Keycloak realm.");
ABSL_FLAG(std::string, keycloak_client_id, "securelink-invitations", "Service-account client.");
ABSL_FLAG(std::string, keycloak_client_secret, "", "Service-account secret (never logged).");
ABSL_FLAG(std::string, auth, "jwt", "jwt (bearer JWTs required) or disabled (every caller a SuperAdmin; local experiments only).");
ABSL_FLAG(std::string, jwt_public_key_file, "", "PEM public key for RS256 tokens.");
ABSL_FLAG(std::string, jwt_jwks_url, "", "JWKS URL for RS256 tokens.");
ABSL_FLAG(std::string, jwt_issuer, "", "Expected token issuer.");
ABSL_FLAG(std::string, jwt_audience, "", "Expected token audience.");
ABSL_FLAG(absl::Duration, jwks_max_stale, absl::Hours(1),
          "How long JWKS keys stay trusted past a failed refresh (a refresh falls due an hour "
          "after the last successful fetch); after that calls are UNAVAILABLE until the identity "
          "provider answers again. inf: trust the last keys forever.");
ABSL_FLAG(int, bulk_max_addresses, 10000, "Most addresses one BulkInvite may carry.");
ABSL_FLAG(std::string, web_address, "127.0.0.1:8080", "Registration page HTTP listener.");
ABSL_FLAG(std::string, login_url, "", "Where the registration success page sends new users.");
// --- registration page (issue 9) ---
ABSL_FLAG(std::string, web_template_dir, "",
          "Directory with replacement registration page templates (brand.conf, layout.html, "
          "style.css, register.html, …); empty: the built-in ones.");
ABSL_FLAG(int, web_threads, 8,
          "Registration page requests handled at once (their service calls run on the worker "
          "pool); slow clients never hold one, the listener's I/O thread reads requests whole "
          "first.");
ABSL_FLAG(int, web_connection_queue, 64,
          "Complete registration page requests that may wait for a busy web thread; beyond it "
          "they are answered 503 at once.");
ABSL_FLAG(int, web_max_connections, 512,
          "Open registration page connections; at the limit the longest-idle keep-alive "
          "connection makes room, and with none idle new connections are closed at once.");
ABSL_FLAG(absl::Duration, web_request_read_timeout, absl::Seconds(10),
          "A registration page request (line, headers, body) must arrive whole within this, "
          "counted from its first byte; otherwise 408 and the connection is closed.");
ABSL_FLAG(absl::Duration, web_idle_timeout, absl::Seconds(30),
          "Registration page connections with no request in progress (fresh or kept alive) are "
          "closed after this long.");
ABSL_FLAG(std::string, web_trusted_proxies, "",
          "Comma-separated CIDRs of the proxies in front of the registration page whose "
          "X-Forwarded-For is believed (e.g. 10.0.0.0/8,fd00::/8); the client (rate limit, log) "
          "is the first address not in the list counted from the right. Empty: the TCP peer.");
// --- end registration page ---
ABSL_FLAG(double, token_rate_per_second, 5, "Token RPC rate per client address.");
ABSL_FLAG(int, token_rate_burst, 20, "Token RPC burst per client address.");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(30),
          "Deadline for calls that carry none (BulkInvite and WatchInvitationEvents exempt).");
ABSL_FLAG(int, default_page_size, 50, "ListInvitations page size when the request gives none.");
ABSL_FLAG(int, max_page_size, 500, "Largest ListInvitations page.");
ABSL_FLAG(int, worker_threads, 16, "Threads running database work (one pooled connection each).");
ABSL_FLAG(int, worker_queue_capacity, 1024,
          "Requests that may wait for a worker; beyond it calls get RESOURCE_EXHAUSTED.");
ABSL_FLAG(absl::Duration, db_acquire_timeout, absl::Seconds(5),
          "Longest wait for a free database connection.");
ABSL_FLAG(absl::Duration, db_connect_timeout, absl::Seconds(3), "Database connect timeout.");
ABSL_FLAG(absl::Duration, db_io_timeout, absl::Seconds(10),
          "Ceiling on one database statement (socket read/write timeout).");
ABSL_FLAG(absl::Duration, db_startup_timeout, absl::Seconds(60),
          "How long start-up waits for the database before giving up.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(25),
          "How long SIGTERM waits for in-flight calls.");
ABSL_FLAG(std::string, token_sealing_key_file, "",
          "File with a base64 32-byte key shared by all replicas; seals links for request_id "
          "replays. Empty: a per-process key.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, keycloak_client_secret_file, "",
          "File holding the service-account secret (instead of --keycloak_client_secret).");
ABSL_FLAG(absl::Duration, expiry_sweep_interval, absl::Seconds(30),
          "How often each replica persists the expiry of overdue invitations.");
ABSL_FLAG(absl::Duration, accept_saga_lease, absl::Minutes(5),
          "How long an accept attempt holds its claim on a link before any replica's recoverer "
          "may finish or undo it (well above the few Keycloak calls a healthy accept takes).");
ABSL_FLAG(absl::Duration, accept_recovery_interval, absl::Seconds(15),
          "How often each replica looks for accept sagas to finish or undo (a crashed attempt, "
          "or the account of an invitation revoked or expired meanwhile).");
// --- The event feed (WatchInvitationEvents) ---
ABSL_FLAG(absl::Duration, event_poll_interval, absl::Milliseconds(200),
          "How often each replica sequences and reads new events for its feed subscribers.");
ABSL_FLAG(int, event_buffer_events, 10000,
          "Newest events each replica keeps in memory for live subscribers; a subscriber further "
          "behind is told to resume from its last event.");
ABSL_FLAG(int, watch_streams_per_caller, 16,
          "WatchInvitationEvents streams one caller (token sub) may hold open on one replica; "
          "one more is RESOURCE_EXHAUSTED. With --auth=disabled all callers count as one.");
ABSL_FLAG(std::string, role_super_admin, "securelink-super-admin", "Realm role of SuperAdmins.");
ABSL_FLAG(std::string, role_tenant_admin, "securelink-tenant-admin",
          "Realm role of TenantAdmins.");
ABSL_FLAG(std::string, role_vpn_user, "securelink-vpn-user", "Realm role of VPN users.");
// --- Operations (issue 8): health, gRPC transport limits, TLS ---
ABSL_FLAG(absl::Duration, health_check_interval, absl::Seconds(5),
          "How often the database is probed; health is NOT_SERVING while it does not answer.");
ABSL_FLAG(absl::Duration, grpc_min_ping_interval, absl::Seconds(10),
          "Clients pinging more often than this earn strikes (keepalive enforcement).");
ABSL_FLAG(int, grpc_max_ping_strikes, 2, "Ping strikes before a connection is closed.");
ABSL_FLAG(absl::Duration, grpc_keepalive_time, absl::Minutes(1),
          "How often the server pings an idle connection.");
ABSL_FLAG(absl::Duration, grpc_keepalive_timeout, absl::Seconds(20),
          "How long a keepalive ping may go unanswered before the connection is dropped.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age, absl::Minutes(30),
          "Connections are closed gracefully after this age, so clients rebalance.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age_grace, absl::Minutes(1),
          "How long calls on an aged connection may still run.");
ABSL_FLAG(int, grpc_max_threads, 64, "grpc::ResourceQuota cap on gRPC's own threads.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the gRPC listener (with --tls_key_file); empty: plaintext.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file (never logged).");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).");

namespace securelink::invitations {
namespace {

struct EnvTwin {
  const char* flag;
  const char* env;
};

constexpr EnvTwin kEnvTwins[] = {
    {"grpc_address", "INVITATIONS_GRPC_ADDRESS"},
    {"metrics_address", "INVITATIONS_METRICS_ADDRESS"},
    {"mysql_uri", "INVITATIONS_MYSQL_URI"},
    {"mysql_password_file", "INVITATIONS_MYSQL_PASSWORD_FILE"},
    {"invitation_ttl", "INVITATIONS_TTL"},
    {"invitation_ttl_min", "INVITATIONS_TTL_MIN"},
    {"invitation_ttl_max", "INVITATIONS_TTL_MAX"},
    {"registration_base_url", "INVITATIONS_REGISTRATION_BASE_URL"},
    {"smtp_url", "INVITATIONS_SMTP_URL"},
    {"smtp_from", "INVITATIONS_SMTP_FROM"},
    {"mail_dir", "INVITATIONS_MAIL_DIR"},
    {"smtp_username", "INVITATIONS_SMTP_USERNAME"},
    {"smtp_password_file", "INVITATIONS_SMTP_PASSWORD_FILE"},
    {"smtp_require_tls", "INVITATIONS_SMTP_REQUIRE_TLS"},
    {"smtp_ca_file", "INVITATIONS_SMTP_CA_FILE"},
    {"mail_template_dir", "INVITATIONS_MAIL_TEMPLATE_DIR"},
    {"email_dispatch_threads", "INVITATIONS_EMAIL_DISPATCH_THREADS"},
    {"email_max_attempts", "INVITATIONS_EMAIL_MAX_ATTEMPTS"},
    {"email_initial_backoff", "INVITATIONS_EMAIL_INITIAL_BACKOFF"},
    {"email_max_backoff", "INVITATIONS_EMAIL_MAX_BACKOFF"},
    {"keycloak_url", "INVITATIONS_KEYCLOAK_URL"},
    {"keycloak_realm", "INVITATIONS_KEYCLOAK_REALM"},
    {"keycloak_client_id", "INVITATIONS_KEYCLOAK_CLIENT_ID"},
    {"keycloak_client_secret", "INVITATIONS_KEYCLOAK_CLIENT_SECRET"},
    {"auth", "INVITATIONS_AUTH"},
    {"jwt_public_key_file", "INVITATIONS_JWT_PUBLIC_KEY_FILE"},
    {"jwt_jwks_url", "INVITATIONS_JWT_JWKS_URL"},
    {"jwt_issuer", "INVITATIONS_JWT_ISSUER"},
    {"jwt_audience", "INVITATIONS_JWT_AUDIENCE"},
    {"jwks_max_stale", "INVITATIONS_JWKS_MAX_STALE"},
    {"bulk_max_addresses", "INVITATIONS_BULK_MAX_ADDRESSES"},
    {"web_address", "INVITATIONS_WEB_ADDRESS"},
    {"login_url", "INVITATIONS_LOGIN_URL"},
    {"web_template_dir", "INVITATIONS_WEB_TEMPLATE_DIR"},
    {"web_threads", "INVITATIONS_WEB_THREADS"},
    {"web_connection_queue", "INVITATIONS_WEB_CONNECTION_QUEUE"},
    {"web_max_connections", "INVITATIONS_WEB_MAX_CONNECTIONS"},
    {"web_request_read_timeout", "INVITATIONS_WEB_REQUEST_READ_TIMEOUT"},
    {"web_idle_timeout", "INVITATIONS_WEB_IDLE_TIMEOUT"},
    {"web_trusted_proxies", "INVITATIONS_WEB_TRUSTED_PROXIES"},
    {"token_rate_per_second", "INVITATIONS_TOKEN_RATE_PER_SECOND"},
    {"token_rate_burst", "INVITATIONS_TOKEN_RATE_BURST"},
    {"default_deadline", "INVITATIONS_DEFAULT_DEADLINE"},
    {"default_page_size", "INVITATIONS_DEFAULT_PAGE_SIZE"},
    {"max_page_size", "INVITATIONS_MAX_PAGE_SIZE"},
    {"worker_threads", "INVITATIONS_WORKER_THREADS"},
    {"worker_queue_capacity", "INVITATIONS_WORKER_QUEUE_CAPACITY"},
    {"db_acquire_timeout", "INVITATIONS_DB_ACQUIRE_TIMEOUT"},
    {"db_connect_timeout", "INVITATIONS_DB_CONNECT_TIMEOUT"},
    {"db_io_timeout", "INVITATIONS_DB_IO_TIMEOUT"},
    {"db_startup_timeout", "INVITATIONS_DB_STARTUP_TIMEOUT"},
    {"shutdown_grace", "INVITATIONS_SHUTDOWN_GRACE"},
    {"token_sealing_key_file", "INVITATIONS_TOKEN_SEALING_KEY_FILE"},
    {"log_level", "INVITATIONS_LOG_LEVEL"},
    {"keycloak_client_secret_file", "INVITATIONS_KEYCLOAK_CLIENT_SECRET_FILE"},
    {"expiry_sweep_interval", "INVITATIONS_EXPIRY_SWEEP_INTERVAL"},
    {"accept_saga_lease", "INVITATIONS_ACCEPT_SAGA_LEASE"},
    {"accept_recovery_interval", "INVITATIONS_ACCEPT_RECOVERY_INTERVAL"},
    {"event_poll_interval", "INVITATIONS_EVENT_POLL_INTERVAL"},
    {"event_buffer_events", "INVITATIONS_EVENT_BUFFER_EVENTS"},
    {"watch_streams_per_caller", "INVITATIONS_WATCH_STREAMS_PER_CALLER"},
    {"role_super_admin", "INVITATIONS_ROLE_SUPER_ADMIN"},
    {"role_tenant_admin", "INVITATIONS_ROLE_TENANT_ADMIN"},
    {"role_vpn_user", "INVITATIONS_ROLE_VPN_USER"},
    // Operations (issue 8)
    {"health_check_interval", "INVITATIONS_HEALTH_CHECK_INTERVAL"},
    {"grpc_min_ping_interval", "INVITATIONS_GRPC_MIN_PING_INTERVAL"},
    {"grpc_max_ping_strikes", "INVITATIONS_GRPC_MAX_PING_STRIKES"},
    {"grpc_keepalive_time", "INVITATIONS_GRPC_KEEPALIVE_TIME"},
    {"grpc_keepalive_timeout", "INVITATIONS_GRPC_KEEPALIVE_TIMEOUT"},
    {"grpc_max_connection_age", "INVITATIONS_GRPC_MAX_CONNECTION_AGE"},
    {"grpc_max_connection_age_grace", "INVITATIONS_GRPC_MAX_CONNECTION_AGE_GRACE"},
    {"grpc_max_threads", "INVITATIONS_GRPC_MAX_THREADS"},
    {"tls_cert_file", "INVITATIONS_TLS_CERT_FILE"},
    {"tls_key_file", "INVITATIONS_TLS_KEY_FILE"},
    {"tls_client_ca_file", "INVITATIONS_TLS_CLIENT_CA_FILE"},
};

absl::Status Problem(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", what));
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Problem(flag, absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return std::string(absl::StripTrailingAsciiWhitespace(buffer.str()));
}

// The whole file but one trailing newline: a password may end in other whitespace.
absl::StatusOr<std::string> ReadPasswordFile(absl::string_view flag, const std::string& path) {
  constexpr std::streamsize kMaxBytes = 4096;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Problem(flag, absl::StrCat("cannot read ", path));
  std::string content(kMaxBytes + 1, '\0');
  in.read(content.data(), kMaxBytes + 1);
  if (in.bad()) return Problem(flag, absl::StrCat("cannot read ", path));
  content.resize(in.gcount());
  if (content.size() > static_cast<size_t>(kMaxBytes)) {
    return Problem(flag, absl::StrCat(path, " is larger than ", kMaxBytes,
                                      " bytes; it should hold only the password"));
  }
  if (absl::EndsWith(content, "\r\n")) {
    content.resize(content.size() - 2);
  } else if (absl::EndsWith(content, "\n")) {
    content.pop_back();
  }
  if (content.empty()) return Problem(flag, absl::StrCat(path, " is empty"));
  return content;
}

absl::StatusOr<std::string> ReadSealingKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Problem("token_sealing_key_file", absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text(absl::StripAsciiWhitespace(buffer.str()));
  std::string key;
  if (!absl::Base64Unescape(text, &key) && !absl::WebSafeBase64Unescape(text, &key)) {
    return Problem("token_sealing_key_file", "the file must hold a base64-encoded 32-byte key");
  }
  if (key.size() != 32) {
    return Problem("token_sealing_key_file",
                   absl::StrCat("the key must be 32 bytes, the file holds ", key.size()));
  }
  return key;
}

// host:port with a numeric port (0 allowed: pick a free one).
bool IsHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  int port = 0;
  return absl::SimpleAtoi(address.substr(colon + 1), &port) && port >= 0 && port <= 65535;
}

absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path,
                                        absl::string_view marker) {
  absl::StatusOr<std::string> pem = ReadSecretFile(flag, path);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, "-----BEGIN ") || !absl::StrContains(*pem, marker)) {
    return Problem(flag, absl::StrCat(path, " does not hold a PEM ", marker));
  }
  return absl::StrCat(*pem, "\n");
}

// Addresses, deadlines, health and the gRPC transport settings (issue 8).
absl::Status OperationsFromFlags(ServerConfig& c) {
  if (!IsHostPort(c.grpc_address)) return Problem("grpc_address", "must be host:port");
  if (!IsHostPort(c.metrics_address)) return Problem("metrics_address", "must be host:port");
  c.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  if (c.default_deadline <= absl::ZeroDuration()) {
    return Problem("default_deadline", "must be positive");
  }
  if (c.shutdown_grace < absl::ZeroDuration()) {
    return Problem("shutdown_grace", "must not be negative");
  }
  c.health_check_interval = absl::GetFlag(FLAGS_health_check_interval);
  if (c.health_check_interval < absl::Milliseconds(100)) {
    return Problem("health_check_interval", "must be at least 100ms");
  }
  c.grpc_min_ping_interval = absl::GetFlag(FLAGS_grpc_min_ping_interval);
  c.grpc_max_ping_strikes = absl::GetFlag(FLAGS_grpc_max_ping_strikes);
  c.grpc_keepalive_time = absl::GetFlag(FLAGS_grpc_keepalive_time);
  c.grpc_keepalive_timeout = absl::GetFlag(FLAGS_grpc_keepalive_timeout);
  c.grpc_max_connection_age = absl::GetFlag(FLAGS_grpc_max_connection_age);
  c.grpc_max_connection_age_grace = absl::GetFlag(FLAGS_grpc_max_connection_age_grace);
  c.grpc_max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  if (c.grpc_min_ping_interval < absl::Seconds(1)) {
    return Problem("grpc_min_ping_interval", "must be at least 1s");
  }
  if (c.grpc_max_ping_strikes < 0) return Problem("grpc_max_ping_strikes", "must not be negative");
  if (c.grpc_keepalive_time < absl::Seconds(1)) {
    return Problem("grpc_keepalive_time", "must be at least 1s");
  }
  if (c.grpc_keepalive_timeout < absl::Seconds(1)) {
    return Problem("grpc_keepalive_timeout", "must be at least 1s");
  }
  if (c.grpc_max_connection_age < absl::Seconds(1)) {
    return Problem("grpc_max_connection_age", "must be at least 1s");
  }
  if (c.grpc_max_connection_age_grace < absl::ZeroDuration()) {
    return Problem("grpc_max_connection_age_grace", "must not be negative");
  }
  if (c.grpc_max_threads < 4) return Problem("grpc_max_threads", "must be at least 4");
  const std::string cert = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_key_file);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca_file);
  if (cert.empty() != key.empty()) {
    return Problem(cert.empty() ? "tls_cert_file" : "tls_key_file",
                   "--tls_cert_file and --tls_key_file go together");
  }
  if (!client_ca.empty() && cert.empty()) {
    return Problem("tls_client_ca_file", "mutual TLS needs --tls_cert_file and --tls_key_file");
  }
  if (!cert.empty()) {
    absl::StatusOr<std::string> chain = ReadPemFile("tls_cert_file", cert, "CERTIFICATE");
    if (!chain.ok()) return chain.status();
    absl::StatusOr<std::string> private_key = ReadPemFile("tls_key_file", key, "PRIVATE KEY");
    if (!private_key.ok()) return private_key.status();
    c.tls_cert_chain = *chain;
    c.tls_private_key = *private_key;
  }
  if (!client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_client_ca_file", client_ca, "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    c.tls_client_ca = *ca;
  }
  return absl::OkStatus();
}

}  // namespace

void ParseFlagsWithEnvironment(int argc, char** argv) {
  // --help lists the flags defined here (absl's default shows only those of main's file).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/config.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "SecureLink Invitation Service. Every flag has an environment twin "
      "(INVITATIONS_<NAME>, see README); the command line wins.");
  for (const EnvTwin& twin : kEnvTwins) {
    const char* value = std::getenv(twin.env);
    if (value == nullptr) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(twin.flag);
    std::string error;
    if (flag == nullptr || !flag->ParseFrom(value, &error)) {
      // The value is not echoed: the variable may hold a secret.
      std::fprintf(stderr, "invitation_server: %s does not parse as --%s: %s\n", twin.env,
                   twin.flag, error.c_str());
      std::exit(2);
    }
  }
  absl::ParseCommandLine(argc, argv);
}

absl::StatusOr<ServerConfig> ConfigFromFlags() {
  ServerConfig c;
  c.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  c.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  absl::StatusOr<MysqlEndpoint> mysql = ParseMysqlUri(absl::GetFlag(FLAGS_mysql_uri));
  if (!mysql.ok()) return Problem("mysql_uri", mysql.status().message());
  c.mysql = *mysql;
  if (absl::Status tls = CheckTlsSettings(c.mysql); !tls.ok()) {
    return Problem("mysql_uri", tls.message());
  }
  if (std::string path = absl::GetFlag(FLAGS_mysql_password_file); !path.empty()) {
    absl::StatusOr<std::string> password = ReadPasswordFile("mysql_password_file", path);
    if (!password.ok()) return password.status();
    c.mysql.password = *std::move(password);
  }
  c.ttl.default_ttl = absl::GetFlag(FLAGS_invitation_ttl);
  c.ttl.min_ttl = absl::GetFlag(FLAGS_invitation_ttl_min);
  c.ttl.max_ttl = absl::GetFlag(FLAGS_invitation_ttl_max);
  if (c.ttl.min_ttl <= absl::ZeroDuration()) return Problem("invitation_ttl_min", "must be positive");
  if (c.ttl.min_ttl > c.ttl.max_ttl) {
    return Problem("invitation_ttl_min", "must not exceed --invitation_ttl_max");
  }
  if (c.ttl.default_ttl < c.ttl.min_ttl || c.ttl.default_ttl > c.ttl.max_ttl) {
    return Problem("invitation_ttl", "must lie between --invitation_ttl_min and --invitation_ttl_max");
  }
  c.registration_base_url = absl::GetFlag(FLAGS_registration_base_url);
  if (!absl::StartsWith(c.registration_base_url, "http://") &&
      !absl::StartsWith(c.registration_base_url, "https://")) {
    return Problem("registration_base_url", "must be an http:// or https:// URL");
  }
  c.default_page_size = absl::GetFlag(FLAGS_default_page_size);
  c.max_page_size = absl::GetFlag(FLAGS_max_page_size);
  if (c.max_page_size < 1) return Problem("max_page_size", "must be at least 1");
  if (c.default_page_size < 1 || c.default_page_size > c.max_page_size) {
    return Problem("default_page_size", "must be between 1 and --max_page_size");
  }
  c.bulk_max_addresses = absl::GetFlag(FLAGS_bulk_max_addresses);
  if (c.bulk_max_addresses < 1) return Problem("bulk_max_addresses", "must be at least 1");
  c.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  if (c.worker_threads < 1 || c.worker_threads > 512) {
    return Problem("worker_threads", "must be between 1 and 512");
  }
  c.worker_queue_capacity = absl::GetFlag(FLAGS_worker_queue_capacity);
  if (c.worker_queue_capacity < 0) return Problem("worker_queue_capacity", "must not be negative");
  c.pool.max_connections = c.worker_threads;
  c.pool.acquire_timeout = absl::GetFlag(FLAGS_db_acquire_timeout);
  c.pool.connect_timeout = absl::GetFlag(FLAGS_db_connect_timeout);
  c.pool.io_timeout = absl::GetFlag(FLAGS_db_io_timeout);
  if (c.pool.io_timeout < absl::Seconds(1)) return Problem("db_io_timeout", "must be at least 1s");
  c.db_startup_timeout = absl::GetFlag(FLAGS_db_startup_timeout);
  c.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (std::string path = absl::GetFlag(FLAGS_token_sealing_key_file); !path.empty()) {
    absl::StatusOr<std::string> key = ReadSealingKey(path);
    if (!key.ok()) return key.status();
    c.token_sealing_key = *key;
  }
  c.smtp.url = absl::GetFlag(FLAGS_smtp_url);
  c.smtp.username = absl::GetFlag(FLAGS_smtp_username);
  if (std::string path = absl::GetFlag(FLAGS_smtp_password_file); !path.empty()) {
    absl::StatusOr<std::string> password = ReadSecretFile("smtp_password_file", path);
    if (!password.ok()) return password.status();
    c.smtp.password = *password;
  }
  c.smtp.tls = absl::GetFlag(FLAGS_smtp_require_tls) ? mail::SmtpOptions::Tls::kRequired
                                                     : mail::SmtpOptions::Tls::kOpportunistic;
  c.smtp.ca_file = absl::GetFlag(FLAGS_smtp_ca_file);
  if (!c.smtp.url.empty() && !absl::StartsWith(c.smtp.url, "smtp://") &&
      !absl::StartsWith(c.smtp.url, "smtps://")) {
    return Problem("smtp_url", "must start with smtp:// or smtps://");
  }
  c.mail_dir = absl::GetFlag(FLAGS_mail_dir);
  c.mail_template_dir = absl::GetFlag(FLAGS_mail_template_dir);
  c.email.from = absl::GetFlag(FLAGS_smtp_from);
  c.email.threads = absl::GetFlag(FLAGS_email_dispatch_threads);
  if (c.email.threads < 0 || c.email.threads > 64) {
    return Problem("email_dispatch_threads", "must be between 0 and 64");
  }
  c.email.max_attempts = absl::GetFlag(FLAGS_email_max_attempts);
  if (c.email.max_attempts < 1) return Problem("email_max_attempts", "must be at least 1");
  c.email.initial_backoff = absl::GetFlag(FLAGS_email_initial_backoff);
  c.email.max_backoff = absl::GetFlag(FLAGS_email_max_backoff);
  if (c.email.initial_backoff <= absl::ZeroDuration() ||
      c.email.max_backoff < c.email.initial_backoff) {
    return Problem("email_initial_backoff", "must be positive and not above --email_max_backoff");
  }
  c.email.registration_base_url = c.registration_base_url;
  // Request workers and email dispatchers each hold at most one connection at a time; so do the
  // expiry sweeper and the event feed's thread.
  c.pool.max_connections = c.worker_threads + c.email.threads + 2;
  const std::string auth = absl::AsciiStrToLower(absl::GetFlag(FLAGS_auth));
  if (auth != "jwt" && auth != "disabled") return Problem("auth", "must be jwt or disabled");
  c.auth_enabled = auth == "jwt";
  c.jwt.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  c.jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
  c.jwt_public_key_file = absl::GetFlag(FLAGS_jwt_public_key_file);
  c.jwt_jwks_url = absl::GetFlag(FLAGS_jwt_jwks_url);
  if (c.auth_enabled) {
    if (c.jwt_public_key_file.empty() == c.jwt_jwks_url.empty()) {
      return Problem("jwt_public_key_file",
                     "--auth=jwt needs exactly one of --jwt_public_key_file and --jwt_jwks_url "
                     "(or run with --auth=disabled for local experiments)");
    }
    if (c.jwt.issuer.empty()) return Problem("jwt_issuer", "is required with --auth=jwt");
    if (c.jwt.audience.empty()) return Problem("jwt_audience", "is required with --auth=jwt");
  }
  c.jwks_max_stale = absl::GetFlag(FLAGS_jwks_max_stale);
  if (c.jwks_max_stale < absl::ZeroDuration()) {
    return Problem("jwks_max_stale", "must not be negative");
  }
  c.expiry_sweep_interval = absl::GetFlag(FLAGS_expiry_sweep_interval);
  if (c.expiry_sweep_interval < absl::Seconds(1)) {
    return Problem("expiry_sweep_interval", "must be at least 1s");
  }
  c.accept_saga.lease = absl::GetFlag(FLAGS_accept_saga_lease);
  if (c.accept_saga.lease < absl::Seconds(1)) {
    return Problem("accept_saga_lease", "must be at least 1s");
  }
  c.accept_saga.recovery_interval = absl::GetFlag(FLAGS_accept_recovery_interval);
  if (c.accept_saga.recovery_interval < absl::Milliseconds(10)) {
    return Problem("accept_recovery_interval", "must be at least 10ms");
  }
  c.event_feed.poll_interval = absl::GetFlag(FLAGS_event_poll_interval);
  if (c.event_feed.poll_interval < absl::Milliseconds(10) ||
      c.event_feed.poll_interval > absl::Seconds(5)) {
    return Problem("event_poll_interval", "must be between 10ms and 5s");
  }
  if (const int n = absl::GetFlag(FLAGS_event_buffer_events); n < 100 || n > 1000000) {
    return Problem("event_buffer_events", "must be between 100 and 1000000");
  } else {
    c.event_feed.buffered_events = static_cast<size_t>(n);
  }
  c.watch_streams_per_caller = absl::GetFlag(FLAGS_watch_streams_per_caller);
  if (c.watch_streams_per_caller < 1 || c.watch_streams_per_caller > 100000) {
    return Problem("watch_streams_per_caller", "must be between 1 and 100000");
  }
  c.roles.super_admin = absl::GetFlag(FLAGS_role_super_admin);
  c.roles.tenant_admin = absl::GetFlag(FLAGS_role_tenant_admin);
  c.roles.vpn_user = absl::GetFlag(FLAGS_role_vpn_user);
  c.token_rate_per_second = absl::GetFlag(FLAGS_token_rate_per_second);
  c.token_rate_burst = absl::GetFlag(FLAGS_token_rate_burst);
  if (c.token_rate_per_second <= 0) return Problem("token_rate_per_second", "must be positive");
  if (c.token_rate_burst < 1) return Problem("token_rate_burst", "must be at least 1");
  c.keycloak.base_url = absl::GetFlag(FLAGS_keycloak_url);
  c.keycloak.realm = absl::GetFlag(FLAGS_keycloak_realm);
  c.keycloak.client_id = absl::GetFlag(FLAGS_keycloak_client_id);
  c.keycloak.client_secret = absl::GetFlag(FLAGS_keycloak_client_secret);
  if (std::string path = absl::GetFlag(FLAGS_keycloak_client_secret_file); !path.empty()) {
    absl::StatusOr<std::string> secret = ReadSecretFile("keycloak_client_secret_file", path);
    if (!secret.ok()) return secret.status();
    c.keycloak.client_secret = *secret;
  }
  if (absl::Status s = OperationsFromFlags(c); !s.ok()) return s;
  // Registration page (issue 9).
  c.web_address = absl::GetFlag(FLAGS_web_address);
  c.login_url = absl::GetFlag(FLAGS_login_url);
  if (!c.login_url.empty() && !absl::StartsWith(c.login_url, "http://") &&
      !absl::StartsWith(c.login_url, "https://")) {
    return Problem("login_url", "must be an http:// or https:// URL");
  }
  c.web_template_dir = absl::GetFlag(FLAGS_web_template_dir);
  c.web_threads = absl::GetFlag(FLAGS_web_threads);
  if (c.web_threads < 1 || c.web_threads > 256) {
    return Problem("web_threads", "must be between 1 and 256");
  }
  c.web_connection_queue = absl::GetFlag(FLAGS_web_connection_queue);
  if (c.web_connection_queue < 0) {
    return Problem("web_connection_queue", "must not be negative");
  }
  c.web_max_connections = absl::GetFlag(FLAGS_web_max_connections);
  if (c.web_max_connections < 1 || c.web_max_connections > 100000) {
    return Problem("web_max_connections", "must be between 1 and 100000");
  }
  c.web_request_read_timeout = absl::GetFlag(FLAGS_web_request_read_timeout);
  if (c.web_request_read_timeout < absl::Milliseconds(100)) {
    return Problem("web_request_read_timeout", "must be at least 100ms");
  }
  c.web_idle_timeout = absl::GetFlag(FLAGS_web_idle_timeout);
  if (c.web_idle_timeout < absl::Milliseconds(100)) {
    return Problem("web_idle_timeout", "must be at least 100ms");
  }
  absl::StatusOr<web::TrustedProxies> proxies =
      web::TrustedProxies::Parse(absl::GetFlag(FLAGS_web_trusted_proxies));
  if (!proxies.ok()) return Problem("web_trusted_proxies", proxies.status().message());
  c.web_trusted_proxies = *std::move(proxies);
  const std::string level = absl::AsciiStrToLower(absl::GetFlag(FLAGS_log_level));
  if (level == "debug") {
    c.log_level = LogLevel::kDebug;
  } else if (level == "info") {
    c.log_level = LogLevel::kInfo;
  } else if (level == "warning") {
    c.log_level = LogLevel::kWarning;
  } else if (level == "error") {
    c.log_level = LogLevel::kError;
  } else {
    return Problem("log_level", "must be debug, info, warning or error");
  }
  return c;
}

}  // namespace securelink::invitations
