// invitation_server: wires the real implementations together and serves until SIGTERM/SIGINT.
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/bulk_invite.h"
#include "server/authenticator.h"
#include "server/config.h"
#include "server/email_dispatcher.h"
#include "server/expiry_sweeper.h"
#include "server/mail/eml_file_mail_sender.h"
#include "server/mail/message.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/domain/clock.h"
#include "server/domain/token.h"
#include "server/grpc_invitation_service.h"
#include "server/grpc_server.h"
#include "server/invitation_service.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "server/rate_limiter.h"
#include "server/util/log.h"
#include "server/worker_pool.h"
#include "storage/connection_pool.h"
#include "storage/migrations.h"
#include "storage/mysql_invitation_store.h"
#include "storage/mysql_outbox_store.h"

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

[[noreturn]] void Fail(absl::string_view what, const absl::Status& status) {
  si::Log(si::LogLevel::kError, what, {{"error", status.ToString()}});
  std::exit(1);
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

  si::ParseFlagsWithEnvironment(argc, argv);
  absl::StatusOr<si::ServerConfig> config = si::ConfigFromFlags();
  if (!config.ok()) Fail("invalid configuration", config.status());
  si::SetMinLogLevel(config->log_level);

  si::SystemClock clock;
  si::ConnectionPool pool(config->mysql, config->pool);
  si::Log(si::LogLevel::kInfo, "connecting to the database",
          {{"database", config->mysql.Describe()}});
  absl::StatusOr<int> schema = MigrateWhenReachable(pool, config->db_startup_timeout);
  if (!schema.ok()) Fail("cannot migrate the database", schema.status());
  si::Log(si::LogLevel::kInfo, "schema ready", {{"version", absl::StrCat(*schema)}});

  si::MysqlInvitationStore store(pool);
  absl::StatusOr<si::TokenSealer> sealer =
      config->token_sealing_key.empty()
          ? si::TokenSealer::CreateEphemeral()
          : si::TokenSealer::Create(config->token_sealing_key);
  if (!sealer.ok()) Fail("bad token sealing key", sealer.status());
  if (config->token_sealing_key.empty()) {
    si::Log(si::LogLevel::kWarning,
            "no --token_sealing_key_file: a retried CreateInvitation answered by another "
            "replica or after a restart returns no registration_url");
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
  si::InvitationService service(store, clock, *sealer, options, keycloak.get());
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
  si::MysqlOutboxStore outbox(pool);
  absl::StatusOr<std::unique_ptr<si::EmailDispatcher>> dispatcher = si::EmailDispatcher::Create(
      outbox, *mail_sender, *templates, *sealer, clock, config->email);
  if (!dispatcher.ok()) Fail("bad email settings", dispatcher.status());
  (*dispatcher)->Start();
  si::ExpirySweeper sweeper(store, clock, config->expiry_sweep_interval);
  sweeper.Start();

  si::WorkerPool workers(config->worker_threads, config->worker_queue_capacity);
  si::GrpcInvitationService grpc_service(service, bulk, workers, *authenticator,
                                         token_rate_limiter);
  si::GrpcServerOptions server_options;
  server_options.address = config->grpc_address;
  server_options.max_receive_message_bytes = config->max_receive_message_bytes;
  absl::StatusOr<si::StartedServer> server = si::StartGrpcServer(server_options, &grpc_service);
  if (!server.ok()) Fail("cannot start the gRPC server", server.status());
  si::SetServing(*server->server, true);
  si::Log(si::LogLevel::kInfo, "serving",
          {{"grpc_address", config->grpc_address}, {"port", absl::StrCat(server->port)}});

  int signal_number = 0;
  sigwait(&shutdown_signals, &signal_number);
  si::Log(si::LogLevel::kInfo, "shutting down", {{"signal", absl::StrCat(signal_number)}});
  si::SetServing(*server->server, false);
  server->server->Shutdown(std::chrono::system_clock::now() +
                           absl::ToChronoSeconds(config->shutdown_grace));
  workers.Shutdown();
  (*dispatcher)->Stop();
  sweeper.Stop();
  si::Log(si::LogLevel::kInfo, "stopped");
  return 0;
}
