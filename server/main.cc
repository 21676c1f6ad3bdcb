// invitation_server: wires the real implementations together and serves until SIGTERM/SIGINT.
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/bulk_invite.h"
#include "server/authenticator.h"
#include "server/config.h"
#include "server/email_dispatcher.h"
#include "server/event_feed.h"
#include "server/expiry_sweeper.h"
#include "server/mail/eml_file_mail_sender.h"
#include "server/mail/message.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/domain/clock.h"
#include "server/domain/token.h"
#include "server/grpc_invitation_service.h"
#include "server/grpc_server.h"
#include "server/health_monitor.h"
#include "server/metrics/instrumented.h"
#include "server/metrics/metrics.h"
#include "server/invitation_service.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/rate_limiter.h"
#include "server/util/log.h"
#include "server/web/registration_site.h"
#include "server/web/web_server.h"
#include "server/worker_pool.h"
#include "storage/connection_pool.h"
#include "storage/migrations.h"
#include "storage/mysql_event_store.h"
#include "storage/mysql_invitation_store.h"
#include "storage/mysql_outbox_store.h"
#include "storage/sealing_key_check.h"

namespace si = securelink::invitations;

namespace {

// Waits for the database (it may still be starting next to us) and migrates the schema.
absl::StatusOr<int> MigrateWhenReachable(si::ConnectionPool& pool, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<int> version = si::ApplyMigrations(pool, si::EmbeddedMigrations());
    if (version.ok() || !absl::IsUnavailable(version.status()) || absl::Now() > give_up) {
      return version;
    }
    si::Log(si::LogLevel::kWarning, "database not reachable yet; retrying",
            {{"error", std::string(version.status().message())}});
    absl::SleepFor(absl::Seconds(1));
  }
}

// Exits without running static destructors or atexit handlers: some failures come after the
// dispatcher, sweeper, feed and worker threads have started, and those threads would go on using
// the Connector/C++ driver and OpenSSL while exit() tore them down (a race TSan reports, and a
// crash in OpenSSL's RAND lock seen under it).
[[noreturn]] void Fail(absl::string_view what, const absl::Status& status) {
  si::Log(si::LogLevel::kError, what, {{"error", status.ToString()}});
  std::fflush(nullptr);
  std::_Exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts so that only sigwait below sees them.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGTERM);
  sigaddset(&shutdown_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);
  // A peer closing a socket mid-write (SMTP relay, Keycloak) must be an error, not a signal.
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);  // once, before any thread uses libcurl

  // Abseil (as Debian builds it) checks every Mutex acquisition against a lock-order graph by
  // default: a debugging aid that cost ~3 % of the server's CPU on GetInvitation. Tests keep it
  // (they do not run this main); the TSan and ASan runs cover lock misuse.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  si::ParseFlagsWithEnvironment(argc, argv);
  absl::StatusOr<si::ServerConfig> config = si::ConfigFromFlags();
  if (!config.ok()) Fail("invalid configuration", config.status());
  si::SetMinLogLevel(config->log_level);

  si::SystemClock clock;
  si::ConnectionPool pool(config->mysql, config->pool);
  // --- metrics (issue 8): domain and storage code reach them only through decorators ---
  si::metrics::Metrics metrics;
  si::metrics::DbOperationRecorder db_recorder(metrics);
  pool.set_observer(&db_recorder);
  si::Log(si::LogLevel::kInfo, "connecting to the database",
          {{"database", config->mysql.Describe()}});
  absl::StatusOr<int> schema = MigrateWhenReachable(pool, config->db_startup_timeout);
  if (!schema.ok()) Fail("cannot migrate the database", schema.status());
  si::Log(si::LogLevel::kInfo, "schema ready", {{"version", absl::StrCat(*schema)}});

  si::MysqlInvitationStore mysql_store(pool);
  si::metrics::InstrumentedInvitationStore store(mysql_store, metrics);
  absl::StatusOr<si::TokenSealer> sealer =
      config->token_sealing_key.empty()
          ? si::TokenSealer::CreateEphemeral()
          : si::TokenSealer::Create(config->token_sealing_key);
  if (!sealer.ok()) Fail("bad token sealing key", sealer.status());
  // --- token sealing key check (SPEC §7): before anything seals or opens a link ---
  absl::StatusOr<si::SealingKeyCheck> key_check =
      si::CheckTokenSealingKey(pool, *sealer, clock.Now());
  if (!key_check.ok()) {
    Fail(absl::IsFailedPrecondition(key_check.status())
             ? "refusing to start: this replica's token sealing key is not the database's"
             : "cannot check the token sealing key against the database",
         key_check.status());
  }
  if (config->token_sealing_key.empty()) {
    si::Log(si::LogLevel::kWarning,
            "no --token_sealing_key_file: links are sealed with a key of this process's own, "
            "fit only for a single replica on a database of its own; while its links are live, "
            "no other replica and no restart of this one may start on this database");
  }
  if (key_check->live_links_opened < key_check->live_links_sampled) {
    si::Log(si::LogLevel::kWarning,
            "some live links do not open with this token sealing key; their email cannot be sent "
            "until they are resent",
            {{"live_links_sampled", absl::StrCat(key_check->live_links_sampled)},
             {"live_links_opened", absl::StrCat(key_check->live_links_opened)}});
  }
  // Keycloak: where accepted invitees get their accounts.
  std::unique_ptr<si::KeycloakAdminClient> keycloak;
  if (!config->keycloak.base_url.empty()) {
    auto created = si::KeycloakAdminClient::Create(config->keycloak, &clock);
    if (!created.ok()) Fail("bad Keycloak settings", created.status());
    keycloak = *std::move(created);
    absl::Status ready = keycloak->CheckReadiness(
        {config->roles.super_admin, config->roles.tenant_admin, config->roles.vpn_user});
    if (!ready.ok()) {
      si::Log(si::LogLevel::kWarning, "Keycloak is not ready; accepting invitations will fail",
              {{"error", std::string(ready.message())}});
    }
  } else {
    si::Log(si::LogLevel::kWarning,
            "no --keycloak_url: AcceptInvitation answers UNAVAILABLE until one is configured");
  }

  // Callers: RS256 JWTs from a PEM key or JWKS, or nobody checked at all.
  std::optional<si::Authenticator> authenticator;
  if (config->auth_enabled) {
    std::shared_ptr<si::KeySource> keys;
    if (!config->jwt_public_key_file.empty()) {
      auto pem = si::PemKeySource::FromFile(config->jwt_public_key_file);
      if (!pem.ok()) Fail("cannot read --jwt_public_key_file", pem.status());
      keys = *pem;
    } else {
      si::JwksOptions jwks;
      jwks.url = config->jwt_jwks_url;
      jwks.max_stale = config->jwks_max_stale;
      auto source = std::make_shared<si::JwksKeySource>(jwks, clock);
      if (absl::Status s = source->Refresh(); !s.ok()) {
        si::Log(si::LogLevel::kWarning, "cannot fetch the JWKS yet; will retry on demand",
                {{"error", std::string(s.message())}});
      }
      keys = source;
    }
    authenticator.emplace(std::make_shared<si::JwtVerifier>(keys, config->jwt, clock),
                          config->roles);
  } else {
    si::Log(si::LogLevel::kWarning,
            "AUTHENTICATION IS DISABLED (--auth=disabled): every caller is a SuperAdmin; never "
            "run like this outside a local experiment");
    authenticator.emplace(si::Authenticator::Disabled());
  }
  si::RateLimiter token_rate_limiter(clock, config->token_rate_per_second,
                                    config->token_rate_burst);

  si::InvitationServiceOptions options;
  options.ttl = config->ttl;
  options.registration_base_url = config->registration_base_url;
  options.default_page_size = config->default_page_size;
  options.max_page_size = config->max_page_size;
  options.roles = config->roles;
  std::unique_ptr<si::metrics::InstrumentedIdentityProvider> observed_keycloak;
  if (keycloak != nullptr) {
    observed_keycloak = std::make_unique<si::metrics::InstrumentedIdentityProvider>(*keycloak, metrics);
  }
  std::unique_ptr<si::AcceptSaga> accept_saga;
  std::unique_ptr<si::AcceptRecoverer> accept_recoverer;
  if (observed_keycloak != nullptr) {
    accept_saga = std::make_unique<si::AcceptSaga>(store, clock, *observed_keycloak,
                                                   config->roles, config->accept_saga);
    accept_recoverer = std::make_unique<si::AcceptRecoverer>(*accept_saga);
    accept_recoverer->Start();
  }
  si::InvitationService service(store, clock, *sealer, options, accept_saga.get());
  si::BulkInviteOptions bulk_options;
  bulk_options.ttl = config->ttl;
  bulk_options.max_addresses = config->bulk_max_addresses;
  si::BulkInviter bulk(store, clock, *sealer, bulk_options);

  // Email: the outbox is delivered by background workers, over SMTP or into .eml files.
  std::unique_ptr<si::mail::MailSender> mail_sender;
  if (config->smtp.url.empty()) {
    auto eml = si::mail::EmlFileMailSender::Create(config->mail_dir);
    if (!eml.ok()) Fail("cannot use --mail_dir", eml.status());
    mail_sender = *std::move(eml);
    si::Log(si::LogLevel::kInfo, "no --smtp_url: invitation emails are written as .eml files",
            {{"mail_dir", config->mail_dir}});
  } else {
    auto smtp = si::mail::SmtpMailSender::Create(config->smtp);
    if (!smtp.ok()) Fail("bad SMTP settings", smtp.status());
    mail_sender = *std::move(smtp);
  }
  absl::StatusOr<si::mail::MailTemplates> templates =
      si::mail::LoadMailTemplates(config->mail_template_dir);
  if (!templates.ok()) Fail("cannot load --mail_template_dir", templates.status());
  si::MysqlOutboxStore mysql_outbox(pool);
  si::metrics::InstrumentedOutboxStore outbox(mysql_outbox, metrics);
  absl::StatusOr<std::unique_ptr<si::EmailDispatcher>> dispatcher = si::EmailDispatcher::Create(
      outbox, *mail_sender, *templates, *sealer, clock, config->email);
  if (!dispatcher.ok()) Fail("bad email settings", dispatcher.status());
  (*dispatcher)->Start();
  si::ExpirySweeper sweeper(store, clock, config->expiry_sweep_interval);
  sweeper.Start();
  // The event feed: sequences committed events (one replica at a time) and follows them live.
  si::MysqlEventStore event_store(pool);
  si::EventFeed event_feed(event_store, config->event_feed);
  event_feed.Start();

  si::WorkerPool workers(config->worker_threads, config->worker_queue_capacity);
  si::GrpcInvitationService grpc_service(service, bulk, event_feed, workers, *authenticator,
                                         token_rate_limiter);
  si::GrpcServerOptions server_options;
  server_options.address = config->grpc_address;
  server_options.max_receive_message_bytes = config->max_receive_message_bytes;
  // --- gRPC hardening, TLS, per-RPC metrics and logs (issue 8) ---
  grpc_service.set_default_deadline(config->default_deadline);
  grpc_service.set_watch_streams_per_caller(config->watch_streams_per_caller);
  server_options.min_client_ping_interval = config->grpc_min_ping_interval;
  server_options.max_ping_strikes = config->grpc_max_ping_strikes;
  server_options.keepalive_time = config->grpc_keepalive_time;
  server_options.keepalive_timeout = config->grpc_keepalive_timeout;
  server_options.max_connection_age = config->grpc_max_connection_age;
  server_options.max_connection_age_grace = config->grpc_max_connection_age_grace;
  server_options.max_threads = config->grpc_max_threads;
  server_options.tls.cert_chain = config->tls_cert_chain;
  server_options.tls.private_key = config->tls_private_key;
  server_options.tls.client_ca = config->tls_client_ca;
  server_options.metrics = &metrics;
  server_options.observe_rpcs = true;
  absl::StatusOr<si::StartedServer> server = si::StartGrpcServer(server_options, &grpc_service);
  if (!server.ok()) Fail("cannot start the gRPC server", server.status());
  // --- registration page (issue 9): after gRPC, so its first request finds the service ready ---
  absl::StatusOr<si::web::WebPages> web_pages = si::web::WebPages::Load(config->web_template_dir);
  if (!web_pages.ok()) Fail("cannot load --web_template_dir", web_pages.status());
  si::web::RegistrationSiteOptions site_options;
  site_options.login_url = config->login_url;
  site_options.registration_base_url = config->registration_base_url;
  if (config->login_url.empty()) {
    si::Log(si::LogLevel::kWarning,
            "no --login_url: the registration page's success screen has nowhere to send users");
  }
  si::web::RegistrationSite site(service, workers, token_rate_limiter, *std::move(web_pages),
                                 site_options);
  si::web::WebServerOptions web_options;
  web_options.address = config->web_address;
  web_options.threads = config->web_threads;
  web_options.request_queue = config->web_connection_queue;
  web_options.max_connections = config->web_max_connections;
  web_options.request_read_timeout = config->web_request_read_timeout;
  web_options.idle_timeout = config->web_idle_timeout;
  web_options.trusted_proxies = config->web_trusted_proxies;
  absl::StatusOr<std::unique_ptr<si::web::WebServer>> web_server = si::web::WebServer::Start(
      web_options, [&site](const si::web::HttpRequest& r) { return site.Handle(r); });
  if (!web_server.ok()) Fail("cannot start the registration page listener", web_server.status());
  // --- end registration page ---
  // --- metrics listener, outbox sampling, health (issue 8) ---
  metrics.AddScrapeHook([&] {
    metrics.SetPoolConnections(pool.in_use(), pool.idle());
    metrics.SetWorkerPool(workers.queue_depth(), workers.busy_workers());
  });
  if (absl::Status s = metrics.Serve(config->metrics_address); !s.ok()) {
    Fail("cannot start the metrics listener", s);
  }
  si::metrics::OutboxSampler outbox_sampler(mysql_outbox, clock, metrics, absl::Seconds(15));
  outbox_sampler.Start();
  // Probes use a connection of their own: a pool busy with calls is not a database down.
  si::ConnectionPoolOptions probe_options = config->pool;
  probe_options.max_connections = 1;
  si::ConnectionPool probe_pool(config->mysql, probe_options);
  si::HealthMonitor health(
      [&probe_pool] { return si::PingDatabase(probe_pool); },
      [&](bool serving) {
        metrics.SetDatabaseUp(serving);
        si::SetServing(*server->server, serving);
      },
      config->health_check_interval);
  health.Start();
  // --- end issue 8 block ---
  si::Log(si::LogLevel::kInfo, "serving",
          {{"grpc_address", config->grpc_address}, {"port", absl::StrCat(server->port)},
           {"web_address", config->web_address}, {"web_port", absl::StrCat((*web_server)->port())},
           {"metrics_address", config->metrics_address},
           {"metrics_port", absl::StrCat(metrics.port())},
           {"tls", config->tls_cert_chain.empty() ? "off"
                   : config->tls_client_ca.empty() ? "on" : "mutual"}});

  int signal_number = 0;
  sigwait(&shutdown_signals, &signal_number);
  si::Log(si::LogLevel::kInfo, "shutting down", {{"signal", absl::StrCat(signal_number)}});
  health.BeginDrain();  // NOT_SERVING from now on, whatever the database says
  // Freezes every health status at NOT_SERVING. (gRPC 1.51 still lets an open grpc.health.v1
  // Watch stream hold the drain until the grace period ends; probes use Check.)
  if (auto* h = server->server->GetHealthCheckService()) h->Shutdown();
  (*web_server)->Stop();  // finishes the page requests in flight; before the workers stop
  // Followers of the feed end at once with where to resume, so they move to another replica
  // instead of holding the drain open until the grace period runs out.
  event_feed.CloseSubscriptions();
  server->server->Shutdown(std::chrono::system_clock::now() +
                           absl::ToChronoSeconds(config->shutdown_grace));
  workers.Shutdown();
  (*dispatcher)->Stop();
  sweeper.Stop();
  if (accept_recoverer != nullptr) accept_recoverer->Stop();
  event_feed.Stop();
  health.Stop();
  outbox_sampler.Stop();
  metrics.StopServing();
  si::Log(si::LogLevel::kInfo, "stopped");
  return 0;
}
