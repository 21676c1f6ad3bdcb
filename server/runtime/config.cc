#include "server/runtime/config.h"

#include <cstdio>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
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
#include "server/util/file.h"

namespace securelink::invitations {
namespace {

// Every default a flag shows is the component's own, read off a default-constructed config.
const ServerConfig& Defaults() {
  static const ServerConfig* const defaults = new ServerConfig();
  return *defaults;
}

}  // namespace
}  // namespace securelink::invitations

using securelink::invitations::Defaults;

// --- The gRPC edge -----------------------------------------------------------------------------
ABSL_FLAG(std::string, grpc_address, Defaults().grpc.address, "gRPC listen address (host:port).");
ABSL_FLAG(absl::Duration, default_deadline, Defaults().rpc.default_deadline,
          "Deadline for calls that carry none (BulkInvite and WatchInvitationEvents exempt).");
ABSL_FLAG(int, watch_streams_per_caller, Defaults().rpc.watch_streams_per_caller,
          "WatchInvitationEvents streams one caller (token sub) may hold open on one replica; "
          "one more is RESOURCE_EXHAUSTED. With --auth=disabled all callers count as one.");
ABSL_FLAG(absl::Duration, grpc_min_ping_interval, Defaults().grpc.min_client_ping_interval,
          "Clients pinging more often than this earn strikes (keepalive enforcement).");
ABSL_FLAG(int, grpc_max_ping_strikes, Defaults().grpc.max_ping_strikes,
          "Ping strikes before a connection is closed.");
ABSL_FLAG(absl::Duration, grpc_keepalive_time, Defaults().grpc.keepalive_time,
          "How often the server pings an idle connection.");
ABSL_FLAG(absl::Duration, grpc_keepalive_timeout, Defaults().grpc.keepalive_timeout,
          "How long a keepalive ping may go unanswered before the connection is dropped.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age, Defaults().grpc.max_connection_age,
          "Connections are closed gracefully after this age, so clients rebalance.");
ABSL_FLAG(absl::Duration, grpc_max_connection_age_grace, Defaults().grpc.max_connection_age_grace,
          "How long calls on an aged connection may still run.");
ABSL_FLAG(int, grpc_max_threads, Defaults().grpc.max_threads,
          "grpc::ResourceQuota cap on gRPC's own threads.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain of the gRPC listener (with --tls_key_file); empty: plaintext.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file (never logged).");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).");

// --- The database ------------------------------------------------------------------------------
ABSL_FLAG(std::string, mysql_uri, "mysql://invitations@127.0.0.1:3306/invitations",
          "mysql://user:password@host:port/database (a Galera cluster's nodes: "
          "host1:port,host2:port,... in order of preference), or ...?socket=/path; TLS with "
          "...?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem[&ssl-cert=/c.pem&ssl-key=/k.pem] "
          "(ssl-mode: DISABLED (the default), PREFERRED, REQUIRED, VERIFY_IDENTITY).");
ABSL_FLAG(std::string, mysql_password_file, "",
          "File holding the MySQL password (one trailing newline stripped); overrides the "
          "password in --mysql_uri. Empty: the URI's password.");
ABSL_FLAG(absl::Duration, db_acquire_timeout, Defaults().pool.acquire_timeout,
          "Longest wait for a free database connection.");
ABSL_FLAG(absl::Duration, db_connect_timeout, Defaults().pool.connect_timeout,
          "Database connect timeout.");
ABSL_FLAG(absl::Duration, db_io_timeout, Defaults().pool.io_timeout,
          "Ceiling on one database statement (socket read/write timeout).");
ABSL_FLAG(absl::Duration, db_startup_timeout, Defaults().db_startup_timeout,
          "How long start-up waits for the database before giving up.");
ABSL_FLAG(bool, migrate, Defaults().migrate,
          "Apply pending schema migrations at start (under a lock row, so replicas may race). "
          "false: only check that every migration of this release is applied and unchanged, and "
          "refuse to start otherwise; for replicas whose database user may only read and write "
          "rows (deploy/grants.sql), after a --migrate_only run.");
ABSL_FLAG(bool, migrate_only, Defaults().migrate_only,
          "Apply pending schema migrations, print what was applied and exit (0 on success): a "
          "deployment step run with a database user that may change the schema. Reads only the "
          "database and logging settings.");
ABSL_FLAG(int, worker_threads, Defaults().workers.threads,
          "Threads running database work (one pooled connection each).");
ABSL_FLAG(int, worker_queue_capacity, Defaults().workers.queue_capacity,
          "Requests that may wait for a worker; beyond it calls get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, create_batch_max, Defaults().create_batching.max_batch,
          "Most CreateInvitations written in one transaction (group commit); 1 turns it off.");
ABSL_FLAG(int, create_batches_in_flight, Defaults().create_batching.max_batches_in_flight,
          "Group-commit transactions of CreateInvitations writing at once.");

// --- Invitations -------------------------------------------------------------------------------
ABSL_FLAG(absl::Duration, invitation_ttl, Defaults().service.ttl.default_ttl,
          "Default registration link lifetime.");
ABSL_FLAG(absl::Duration, invitation_ttl_min, Defaults().service.ttl.min_ttl,
          "Smallest per-request ttl allowed.");
ABSL_FLAG(absl::Duration, invitation_ttl_max, Defaults().service.ttl.max_ttl,
          "Largest per-request ttl allowed.");
ABSL_FLAG(std::string, registration_base_url, Defaults().service.registration_base_url,
          "Registration page URL; links are <base>?token=<token>.");
ABSL_FLAG(int, default_page_size, Defaults().service.default_page_size,
          "ListInvitations page size when the request gives none.");
ABSL_FLAG(int, max_page_size, Defaults().service.max_page_size, "Largest ListInvitations page.");
ABSL_FLAG(int, bulk_max_addresses, Defaults().bulk.max_addresses,
          "Most addresses one BulkInvite may carry.");
ABSL_FLAG(absl::Duration, expiry_sweep_interval, Defaults().expiry.interval,
          "How often each replica persists the expiry of overdue invitations.");
ABSL_FLAG(absl::Duration, reminder_interval, Defaults().reminders.interval,
          "How often each replica queues the reminder emails that tenant policies' "
          "reminder_before_expiry made due; a reminder goes out at most this late (plus mail "
          "delivery), and never once its link has expired.");
ABSL_FLAG(absl::Duration, accept_saga_lease, Defaults().accept_saga.lease,
          "How long an accept attempt holds its claim on a link before any replica's recoverer "
          "may finish or undo it (well above the few Keycloak calls a healthy accept takes).");
ABSL_FLAG(absl::Duration, accept_recovery_interval, Defaults().accept_saga.recovery_interval,
          "How often each replica looks for accept sagas to finish or undo (a crashed attempt, "
          "or the account of an invitation revoked or expired meanwhile).");
ABSL_FLAG(absl::Duration, event_poll_interval, Defaults().event_feed.poll_interval,
          "How often each replica sequences and reads new events for its feed subscribers.");
ABSL_FLAG(int, event_buffer_events, static_cast<int>(Defaults().event_feed.buffered_events),
          "Newest events each replica keeps in memory for live subscribers; a subscriber further "
          "behind is told to resume from its last event.");
ABSL_FLAG(std::string, token_sealing_key_file, "",
          "File with a base64 32-byte key that every replica of the database shares; it seals "
          "the copy of a live link the outbox and request_id replays need. Empty: a key of this "
          "process's own (a single replica on a database of its own).");

// --- Callers -----------------------------------------------------------------------------------
ABSL_FLAG(std::string, auth, "jwt",
          "jwt (bearer JWTs required) or disabled (every caller a SuperAdmin; local experiments "
          "only).");
ABSL_FLAG(std::string, jwt_public_key_file, "", "PEM public key for RS256 tokens.");
ABSL_FLAG(std::string, jwt_jwks_url, "", "JWKS URL for RS256 tokens.");
ABSL_FLAG(std::string, jwt_issuer, "", "Expected token issuer.");
ABSL_FLAG(std::string, jwt_audience, "", "Expected token audience.");
ABSL_FLAG(absl::Duration, jwks_max_stale, Defaults().auth.jwks.max_stale,
          "How long JWKS keys stay trusted past a failed refresh (a refresh falls due an hour "
          "after the last successful fetch); after that calls are UNAVAILABLE until the identity "
          "provider answers again. inf: trust the last keys forever.");
ABSL_FLAG(std::string, role_super_admin, Defaults().auth.roles.super_admin,
          "Realm role of SuperAdmins.");
ABSL_FLAG(std::string, role_tenant_admin, Defaults().auth.roles.tenant_admin,
          "Realm role of TenantAdmins.");
ABSL_FLAG(std::string, role_vpn_user, Defaults().auth.roles.vpn_user, "Realm role of VPN users.");
ABSL_FLAG(double, token_rate_per_second, Defaults().token_rate.per_second,
          "Token RPC rate per client address.");
ABSL_FLAG(int, token_rate_burst, Defaults().token_rate.burst,
          "Token RPC burst per client address.");

// --- Keycloak ----------------------------------------------------------------------------------
ABSL_FLAG(std::string, keycloak_url, "",
          "Keycloak base URL (the Admin REST API); empty: AcceptInvitation is UNAVAILABLE.");
ABSL_FLAG(std::string, keycloak_realm, Defaults().keycloak.realm, "Keycloak realm.");
ABSL_FLAG(std::string, keycloak_client_id, Defaults().keycloak.client_id,
          "Service-account client.");
ABSL_FLAG(std::string, keycloak_client_secret, "", "Service-account secret (never logged).");
ABSL_FLAG(std::string, keycloak_client_secret_file, "",
          "File holding the service-account secret (instead of --keycloak_client_secret).");

// --- Email -------------------------------------------------------------------------------------
ABSL_FLAG(std::string, smtp_url, "",
          "SMTP relay, e.g. smtp://127.0.0.1:2525 or smtps://…; empty: .eml files in --mail_dir.");
ABSL_FLAG(std::string, smtp_from, Defaults().email.from, "Sender address.");
ABSL_FLAG(std::string, smtp_username, "", "SMTP AUTH user (empty: no AUTH).");
ABSL_FLAG(std::string, smtp_password_file, "", "File holding the SMTP AUTH password.");
ABSL_FLAG(bool, smtp_require_tls, false, "Refuse to send unless STARTTLS succeeds.");
ABSL_FLAG(std::string, smtp_ca_file, "", "CA certificates for the relay (empty: system store).");
ABSL_FLAG(std::string, mail_dir, Defaults().mail_dir,
          "Where .eml files go without an SMTP relay.");
ABSL_FLAG(std::string, mail_template_dir, "",
          "Directory of email templates: files directly in it replace the built-in English "
          "ones (subject.txt, body.txt, body.html, reminder_*.txt/html, messages.conf, "
          "dates.conf); each subdirectory named by a BCP 47 tag (de, fr-CA, nl) is that "
          "language (empty: the built-in en, de, fr).");
ABSL_FLAG(int, email_dispatch_threads, Defaults().email.threads,
          "Concurrent SMTP deliveries per replica.");
ABSL_FLAG(int, email_max_attempts, Defaults().email.max_attempts,
          "Delivery attempts before an email is marked failed.");
ABSL_FLAG(absl::Duration, email_initial_backoff, Defaults().email.initial_backoff,
          "First retry delay; doubles per attempt with jitter.");
ABSL_FLAG(absl::Duration, email_max_backoff, Defaults().email.max_backoff,
          "Longest retry delay.");

// --- The registration page ---------------------------------------------------------------------
ABSL_FLAG(std::string, web_address, Defaults().web.address, "Registration page HTTP listener.");
ABSL_FLAG(std::string, login_url, "", "Where the registration success page sends new users.");
ABSL_FLAG(std::string, web_template_dir, "",
          "Directory with replacement registration page templates: brand.conf and style.css, "
          "files directly in it replacing the built-in English pages (layout.html, "
          "register.html, …, messages.conf, dates.conf), and one subdirectory per language "
          "named by its BCP 47 tag (de, fr-CA, nl); empty: the built-in en, de, fr.");
ABSL_FLAG(int, web_threads, Defaults().web.threads,
          "Registration page requests handled at once (their service calls run on the worker "
          "pool); slow clients never hold one, the listener's I/O thread reads requests whole "
          "first.");
ABSL_FLAG(int, web_connection_queue, Defaults().web.request_queue,
          "Complete registration page requests that may wait for a busy web thread; beyond it "
          "they are answered 503 at once.");
ABSL_FLAG(int, web_max_connections, Defaults().web.max_connections,
          "Open registration page connections; at the limit the longest-idle keep-alive "
          "connection makes room, and with none idle new connections are closed at once.");
ABSL_FLAG(absl::Duration, web_request_read_timeout, Defaults().web.request_read_timeout,
          "A registration page request (line, headers, body) must arrive whole within this, "
          "counted from its first byte; otherwise 408 and the connection is closed.");
ABSL_FLAG(absl::Duration, web_idle_timeout, Defaults().web.idle_timeout,
          "Registration page connections with no request in progress (fresh or kept alive) are "
          "closed after this long.");
ABSL_FLAG(std::string, web_trusted_proxies, "",
          "Comma-separated CIDRs of the proxies in front of the registration page whose "
          "X-Forwarded-For is believed (e.g. 10.0.0.0/8,fd00::/8); the client (rate limit, log) "
          "is the first address not in the list counted from the right. Empty: the TCP peer.");

// --- Operations --------------------------------------------------------------------------------
ABSL_FLAG(std::string, metrics_address, Defaults().metrics.address,
          "Prometheus /metrics listen address (host:port; port 0 picks a free one).");
ABSL_FLAG(absl::Duration, health_check_interval, Defaults().health.interval,
          "How often the database is probed; health is NOT_SERVING while it does not answer.");
ABSL_FLAG(absl::Duration, shutdown_grace, Defaults().shutdown_grace,
          "How long SIGTERM waits for in-flight calls.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

namespace securelink::invitations {
namespace {

// A flag's environment twin is INVITATIONS_<NAME>, except these, named before the rule was.
const absl::flat_hash_map<std::string, std::string>& EnvNameExceptions() {
  static const auto* const exceptions = new absl::flat_hash_map<std::string, std::string>{
      {"invitation_ttl", "INVITATIONS_TTL"},
      {"invitation_ttl_min", "INVITATIONS_TTL_MIN"},
      {"invitation_ttl_max", "INVITATIONS_TTL_MAX"},
  };
  return *exceptions;
}

bool IsOurFlag(const absl::CommandLineFlag& flag) {
  return absl::EndsWith(flag.Filename(), "server/runtime/config.cc");
}

std::string EnvNameOf(absl::string_view flag) {
  auto it = EnvNameExceptions().find(flag);
  if (it != EnvNameExceptions().end()) return it->second;
  return absl::StrCat("INVITATIONS_", absl::AsciiStrToUpper(flag));
}

absl::Status Problem(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", what));
}

// The file a flag names, or INVALID_ARGUMENT naming the flag.
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> content = ReadWholeFile(path, 1 << 20);
  if (!content.ok()) return Problem(flag, content.status().message());
  return content;
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> content = ReadFlagFile(flag, path);
  if (!content.ok()) return content.status();
  return std::string(absl::StripTrailingAsciiWhitespace(*content));
}

// The whole file but one trailing newline: a password may end in other whitespace.
absl::StatusOr<std::string> ReadPasswordFile(absl::string_view flag, const std::string& path) {
  constexpr size_t kMaxBytes = 4096;
  absl::StatusOr<std::string> content = ReadWholeFile(path, kMaxBytes);
  if (absl::IsFailedPrecondition(content.status())) {
    return Problem(flag, absl::StrCat(path, " is larger than ", kMaxBytes,
                                      " bytes; it should hold only the password"));
  }
  if (!content.ok()) return Problem(flag, absl::StrCat("cannot read ", path));
  if (absl::EndsWith(*content, "\r\n")) {
    content->resize(content->size() - 2);
  } else if (absl::EndsWith(*content, "\n")) {
    content->pop_back();
  }
  if (content->empty()) return Problem(flag, absl::StrCat(path, " is empty"));
  return content;
}

absl::StatusOr<std::string> ReadSealingKey(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFlagFile("token_sealing_key_file", path);
  if (!content.ok()) return content.status();
  std::string text(absl::StripAsciiWhitespace(*content));
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

absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path,
                                        absl::string_view marker) {
  absl::StatusOr<std::string> pem = ReadSecretFile(flag, path);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, "-----BEGIN ") || !absl::StrContains(*pem, marker)) {
    return Problem(flag, absl::StrCat(path, " does not hold a PEM ", marker));
  }
  return absl::StrCat(*pem, "\n");
}

// host:port with a numeric port (0 allowed: pick a free one).
bool IsHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  int port = 0;
  return absl::SimpleAtoi(address.substr(colon + 1), &port) && port >= 0 && port <= 65535;
}

bool IsHttpUrl(absl::string_view url) {
  return absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://");
}

absl::Status GrpcFromFlags(ServerConfig& c) {
  GrpcServerOptions& g = c.grpc;
  g.address = absl::GetFlag(FLAGS_grpc_address);
  if (!IsHostPort(g.address)) return Problem("grpc_address", "must be host:port");
  g.min_client_ping_interval = absl::GetFlag(FLAGS_grpc_min_ping_interval);
  if (g.min_client_ping_interval < absl::Seconds(1)) {
    return Problem("grpc_min_ping_interval", "must be at least 1s");
  }
  g.max_ping_strikes = absl::GetFlag(FLAGS_grpc_max_ping_strikes);
  if (g.max_ping_strikes < 0) return Problem("grpc_max_ping_strikes", "must not be negative");
  g.keepalive_time = absl::GetFlag(FLAGS_grpc_keepalive_time);
  if (g.keepalive_time < absl::Seconds(1)) {
    return Problem("grpc_keepalive_time", "must be at least 1s");
  }
  g.keepalive_timeout = absl::GetFlag(FLAGS_grpc_keepalive_timeout);
  if (g.keepalive_timeout < absl::Seconds(1)) {
    return Problem("grpc_keepalive_timeout", "must be at least 1s");
  }
  g.max_connection_age = absl::GetFlag(FLAGS_grpc_max_connection_age);
  if (g.max_connection_age < absl::Seconds(1)) {
    return Problem("grpc_max_connection_age", "must be at least 1s");
  }
  g.max_connection_age_grace = absl::GetFlag(FLAGS_grpc_max_connection_age_grace);
  if (g.max_connection_age_grace < absl::ZeroDuration()) {
    return Problem("grpc_max_connection_age_grace", "must not be negative");
  }
  g.max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  if (g.max_threads < 4) return Problem("grpc_max_threads", "must be at least 4");
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
    g.tls.cert_chain = *chain;
    g.tls.private_key = *private_key;
  }
  if (!client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_client_ca_file", client_ca, "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    g.tls.client_ca = *ca;
  }
  c.rpc.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  if (c.rpc.default_deadline <= absl::ZeroDuration()) {
    return Problem("default_deadline", "must be positive");
  }
  c.rpc.watch_streams_per_caller = absl::GetFlag(FLAGS_watch_streams_per_caller);
  if (c.rpc.watch_streams_per_caller < 1 || c.rpc.watch_streams_per_caller > 100000) {
    return Problem("watch_streams_per_caller", "must be between 1 and 100000");
  }
  return absl::OkStatus();
}

absl::Status DatabaseFromFlags(ServerConfig& c) {
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
  c.pool.acquire_timeout = absl::GetFlag(FLAGS_db_acquire_timeout);
  c.pool.connect_timeout = absl::GetFlag(FLAGS_db_connect_timeout);
  c.pool.io_timeout = absl::GetFlag(FLAGS_db_io_timeout);
  if (c.pool.io_timeout < absl::Seconds(1)) return Problem("db_io_timeout", "must be at least 1s");
  c.db_startup_timeout = absl::GetFlag(FLAGS_db_startup_timeout);
  c.migrate = absl::GetFlag(FLAGS_migrate);
  c.migrate_only = absl::GetFlag(FLAGS_migrate_only);
  if (c.migrate_only && !c.migrate) {
    return Problem("migrate_only", "contradicts --migrate=false");
  }
  c.workers.threads = absl::GetFlag(FLAGS_worker_threads);
  if (c.workers.threads < 1 || c.workers.threads > 512) {
    return Problem("worker_threads", "must be between 1 and 512");
  }
  c.workers.queue_capacity = absl::GetFlag(FLAGS_worker_queue_capacity);
  if (c.workers.queue_capacity < 0) {
    return Problem("worker_queue_capacity", "must not be negative");
  }
  c.create_batching.max_batch = absl::GetFlag(FLAGS_create_batch_max);
  if (c.create_batching.max_batch < 1 || c.create_batching.max_batch > 1000) {
    return Problem("create_batch_max", "must be between 1 and 1000");
  }
  // More than --worker_threads cannot be in flight (each batch is written by a worker), so a
  // larger value, the default with one worker included, simply means "every worker may write".
  c.create_batching.max_batches_in_flight = absl::GetFlag(FLAGS_create_batches_in_flight);
  if (c.create_batching.max_batches_in_flight < 1) {
    return Problem("create_batches_in_flight", "must be at least 1");
  }
  return absl::OkStatus();
}

absl::Status InvitationsFromFlags(ServerConfig& c) {
  TtlPolicy& ttl = c.service.ttl;
  ttl.default_ttl = absl::GetFlag(FLAGS_invitation_ttl);
  ttl.min_ttl = absl::GetFlag(FLAGS_invitation_ttl_min);
  ttl.max_ttl = absl::GetFlag(FLAGS_invitation_ttl_max);
  if (ttl.min_ttl <= absl::ZeroDuration()) return Problem("invitation_ttl_min", "must be positive");
  if (ttl.min_ttl > ttl.max_ttl) {
    return Problem("invitation_ttl_min", "must not exceed --invitation_ttl_max");
  }
  if (ttl.default_ttl < ttl.min_ttl || ttl.default_ttl > ttl.max_ttl) {
    return Problem("invitation_ttl",
                   "must lie between --invitation_ttl_min and --invitation_ttl_max");
  }
  c.service.registration_base_url = absl::GetFlag(FLAGS_registration_base_url);
  if (!IsHttpUrl(c.service.registration_base_url)) {
    return Problem("registration_base_url", "must be an http:// or https:// URL");
  }
  c.service.default_page_size = absl::GetFlag(FLAGS_default_page_size);
  c.service.max_page_size = absl::GetFlag(FLAGS_max_page_size);
  if (c.service.max_page_size < 1) return Problem("max_page_size", "must be at least 1");
  if (c.service.default_page_size < 1 ||
      c.service.default_page_size > c.service.max_page_size) {
    return Problem("default_page_size", "must be between 1 and --max_page_size");
  }
  c.bulk.max_addresses = absl::GetFlag(FLAGS_bulk_max_addresses);
  if (c.bulk.max_addresses < 1) return Problem("bulk_max_addresses", "must be at least 1");
  c.expiry.interval = absl::GetFlag(FLAGS_expiry_sweep_interval);
  if (c.expiry.interval < absl::Seconds(1)) {
    return Problem("expiry_sweep_interval", "must be at least 1s");
  }
  c.reminders.interval = absl::GetFlag(FLAGS_reminder_interval);
  if (c.reminders.interval < absl::Seconds(1)) {
    return Problem("reminder_interval", "must be at least 1s");
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
  if (std::string path = absl::GetFlag(FLAGS_token_sealing_key_file); !path.empty()) {
    absl::StatusOr<std::string> key = ReadSealingKey(path);
    if (!key.ok()) return key.status();
    c.token_sealing_key = *key;
  }
  return absl::OkStatus();
}

absl::Status CallersFromFlags(ServerConfig& c) {
  const std::string auth = absl::AsciiStrToLower(absl::GetFlag(FLAGS_auth));
  if (auth != "jwt" && auth != "disabled") return Problem("auth", "must be jwt or disabled");
  AuthOptions& a = c.auth;
  a.enabled = auth == "jwt";
  a.jwt.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  a.jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
  a.public_key_file = absl::GetFlag(FLAGS_jwt_public_key_file);
  a.jwks.url = absl::GetFlag(FLAGS_jwt_jwks_url);
  if (a.enabled) {
    if (a.public_key_file.empty() == a.jwks.url.empty()) {
      return Problem("jwt_public_key_file",
                     "--auth=jwt needs exactly one of --jwt_public_key_file and --jwt_jwks_url "
                     "(or run with --auth=disabled for local experiments)");
    }
    if (a.jwt.issuer.empty()) return Problem("jwt_issuer", "is required with --auth=jwt");
    if (a.jwt.audience.empty()) return Problem("jwt_audience", "is required with --auth=jwt");
  }
  a.jwks.max_stale = absl::GetFlag(FLAGS_jwks_max_stale);
  if (a.jwks.max_stale < absl::ZeroDuration()) {
    return Problem("jwks_max_stale", "must not be negative");
  }
  a.roles.super_admin = absl::GetFlag(FLAGS_role_super_admin);
  a.roles.tenant_admin = absl::GetFlag(FLAGS_role_tenant_admin);
  a.roles.vpn_user = absl::GetFlag(FLAGS_role_vpn_user);
  c.token_rate.per_second = absl::GetFlag(FLAGS_token_rate_per_second);
  c.token_rate.burst = absl::GetFlag(FLAGS_token_rate_burst);
  if (c.token_rate.per_second <= 0) return Problem("token_rate_per_second", "must be positive");
  if (c.token_rate.burst < 1) return Problem("token_rate_burst", "must be at least 1");
  c.keycloak.base_url = absl::GetFlag(FLAGS_keycloak_url);
  c.keycloak.realm = absl::GetFlag(FLAGS_keycloak_realm);
  c.keycloak.client_id = absl::GetFlag(FLAGS_keycloak_client_id);
  c.keycloak.client_secret = absl::GetFlag(FLAGS_keycloak_client_secret);
  if (std::string path = absl::GetFlag(FLAGS_keycloak_client_secret_file); !path.empty()) {
    absl::StatusOr<std::string> secret = ReadSecretFile("keycloak_client_secret_file", path);
    if (!secret.ok()) return secret.status();
    c.keycloak.client_secret = *secret;
  }
  return absl::OkStatus();
}

absl::Status EmailFromFlags(ServerConfig& c) {
  c.smtp.url = absl::GetFlag(FLAGS_smtp_url);
  if (!c.smtp.url.empty() && !absl::StartsWith(c.smtp.url, "smtp://") &&
      !absl::StartsWith(c.smtp.url, "smtps://")) {
    return Problem("smtp_url", "must start with smtp:// or smtps://");
  }
  c.smtp.username = absl::GetFlag(FLAGS_smtp_username);
  if (std::string path = absl::GetFlag(FLAGS_smtp_password_file); !path.empty()) {
    absl::StatusOr<std::string> password = ReadSecretFile("smtp_password_file", path);
    if (!password.ok()) return password.status();
    c.smtp.password = *password;
  }
  c.smtp.tls = absl::GetFlag(FLAGS_smtp_require_tls) ? mail::SmtpOptions::Tls::kRequired
                                                     : mail::SmtpOptions::Tls::kOpportunistic;
  c.smtp.ca_file = absl::GetFlag(FLAGS_smtp_ca_file);
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
  return absl::OkStatus();
}

absl::Status WebFromFlags(ServerConfig& c) {
  web::WebServerOptions& w = c.web;
  w.address = absl::GetFlag(FLAGS_web_address);
  c.site.login_url = absl::GetFlag(FLAGS_login_url);
  if (!c.site.login_url.empty() && !IsHttpUrl(c.site.login_url)) {
    return Problem("login_url", "must be an http:// or https:// URL");
  }
  c.web_template_dir = absl::GetFlag(FLAGS_web_template_dir);
  w.threads = absl::GetFlag(FLAGS_web_threads);
  if (w.threads < 1 || w.threads > 256) return Problem("web_threads", "must be between 1 and 256");
  w.request_queue = absl::GetFlag(FLAGS_web_connection_queue);
  if (w.request_queue < 0) return Problem("web_connection_queue", "must not be negative");
  w.max_connections = absl::GetFlag(FLAGS_web_max_connections);
  if (w.max_connections < 1 || w.max_connections > 100000) {
    return Problem("web_max_connections", "must be between 1 and 100000");
  }
  w.request_read_timeout = absl::GetFlag(FLAGS_web_request_read_timeout);
  if (w.request_read_timeout < absl::Milliseconds(100)) {
    return Problem("web_request_read_timeout", "must be at least 100ms");
  }
  w.idle_timeout = absl::GetFlag(FLAGS_web_idle_timeout);
  if (w.idle_timeout < absl::Milliseconds(100)) {
    return Problem("web_idle_timeout", "must be at least 100ms");
  }
  absl::StatusOr<web::TrustedProxies> proxies =
      web::TrustedProxies::Parse(absl::GetFlag(FLAGS_web_trusted_proxies));
  if (!proxies.ok()) return Problem("web_trusted_proxies", proxies.status().message());
  w.trusted_proxies = *std::move(proxies);
  return absl::OkStatus();
}

absl::Status LogLevelFromFlags(ServerConfig& c);

absl::Status OperationsFromFlags(ServerConfig& c) {
  c.metrics.address = absl::GetFlag(FLAGS_metrics_address);
  if (!IsHostPort(c.metrics.address)) return Problem("metrics_address", "must be host:port");
  c.health.interval = absl::GetFlag(FLAGS_health_check_interval);
  if (c.health.interval < absl::Milliseconds(100)) {
    return Problem("health_check_interval", "must be at least 100ms");
  }
  c.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (c.shutdown_grace < absl::ZeroDuration()) {
    return Problem("shutdown_grace", "must not be negative");
  }
  return LogLevelFromFlags(c);
}

absl::Status LogLevelFromFlags(ServerConfig& c) {
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
  return absl::OkStatus();
}

// The values one setting gives several components, copied from the one that owns the default.
void ShareSettings(ServerConfig& c) {
  c.bulk.ttl = c.service.ttl;
  c.email.registration_base_url = c.service.registration_base_url;
  c.site.registration_base_url = c.service.registration_base_url;
  c.service.roles = c.auth.roles;
  // Request workers and email dispatchers each hold at most one connection at a time; so do the
  // five background tasks: the expiry sweeper, the reminder pass, the event feed's thread, the
  // accept recoverer and the outbox sampler.
  c.pool.max_connections = c.workers.threads + c.email.threads + 5;
}

}  // namespace

void ParseFlagsWithEnvironment(int argc, char** argv) {
  // --help lists the flags defined here (absl's default shows only those of main's file).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/runtime/config.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "SecureLink Invitation Service. Every flag has an environment twin INVITATIONS_<NAME> "
      "(--invitation_ttl*: INVITATIONS_TTL*); the command line wins.");
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!IsOurFlag(*flag)) continue;
    const std::string env = EnvNameOf(name);
    const char* value = std::getenv(env.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      // Neither the value nor Abseil's message (which quotes it) is printed: the variable may
      // hold a secret set in the wrong place. The default shows the expected form.
      std::fprintf(stderr,
                   "invitation_server: %s does not parse as --%s; expected a value like its "
                   "default %s\n",
                   env.c_str(), std::string(name).c_str(), flag->DefaultValue().c_str());
      std::exit(2);
    }
  }
  absl::ParseCommandLine(argc, argv);
}

absl::StatusOr<ServerConfig> ConfigFromFlags() {
  ServerConfig c;
  if (absl::GetFlag(FLAGS_migrate_only)) {
    for (absl::Status (*part)(ServerConfig&) : {DatabaseFromFlags, LogLevelFromFlags}) {
      if (absl::Status s = part(c); !s.ok()) return s;
    }
    c.pool.max_connections = 2;  // migrations use one connection at a time
    return c;
  }
  for (absl::Status (*part)(ServerConfig&) :
       {GrpcFromFlags, DatabaseFromFlags, InvitationsFromFlags, CallersFromFlags,
        EmailFromFlags, WebFromFlags, OperationsFromFlags}) {
    if (absl::Status s = part(c); !s.ok()) return s;
  }
  ShareSettings(c);
  return c;
}

}  // namespace securelink::invitations
