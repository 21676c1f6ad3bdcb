#include "server/runtime/replica.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/mail/eml_file_mail_sender.h"
#include "server/mail/message.h"
#include "server/mail/smtp_mail_sender.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"
#include "server/web/web_pages.h"
#include "storage/migrations.h"
#include "storage/sealing_key_check.h"

namespace securelink::invitations {
namespace {

// `status` with `what` in front of its message, so a start-up failure names its step.
absl::Status Step(absl::string_view what, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

// Waits for the database (it may still be starting next to us), then migrates the schema or,
// with --migrate=false, checks that it is complete and unchanged.
absl::StatusOr<int> MigrateWhenReachable(ConnectionPool& pool, bool migrate,
                                         absl::Duration timeout) {
  absl::StatusOr<MigrationOutcome> outcome = PrepareSchemaWhenReachable(
      pool, EmbeddedMigrations(), migrate, timeout, [](const absl::Status& status) {
        Log(LogLevel::kWarning, "database not ready yet; retrying",
            {{"error", std::string(status.message())}});
      });
  if (!outcome.ok()) return outcome.status();
  return outcome->version;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Replica>> Replica::Start(const ServerConfig& config) {
  std::unique_ptr<Replica> replica(new Replica(config));
  RETURN_IF_ERROR(replica->ConnectDatabase());
  RETURN_IF_ERROR(replica->BuildServices());
  RETURN_IF_ERROR(replica->StartEmail());
  replica->StartBackgroundWork();
  RETURN_IF_ERROR(replica->StartServing());
  RETURN_IF_ERROR(replica->StartOperations());
  const GrpcServerOptions& grpc = config.grpc;
  Log(LogLevel::kInfo, "serving",
      {{"grpc_address", grpc.address}, {"port", replica->server_.port},
       {"web_address", config.web.address},
       {"web_port", replica->web_server_->port()},
       {"metrics_address", config.metrics.address},
       {"metrics_port", replica->metrics_.port()},
       {"tls", !grpc.tls.enabled() ? "off" : grpc.tls.client_ca.empty() ? "on" : "mutual"}});
  return replica;
}

// The database, migrated, and the one token sealing key every replica of it shares.
absl::Status Replica::ConnectDatabase() {
  pool_ = std::make_unique<ConnectionPool>(config_.mysql, config_.pool);
  // Domain and storage code reach the metrics only through decorators.
  db_recorder_.emplace(metrics_);
  pool_->set_observer(&*db_recorder_);
  Log(LogLevel::kInfo, "connecting to the database", {{"database", config_.mysql.Describe()}});
  absl::StatusOr<int> schema =
      MigrateWhenReachable(*pool_, config_.migrate, config_.db_startup_timeout);
  RETURN_IF_ERROR(Step(config_.migrate ? "cannot migrate the database"
                                       : "cannot check the database schema",
                       schema.status()));
  Log(LogLevel::kInfo, "schema ready", {{"version", *schema}});
  mysql_store_ = std::make_unique<MysqlInvitationStore>(*pool_);
  store_ = std::make_unique<metrics::InstrumentedInvitationStore>(*mysql_store_, metrics_);
  create_batcher_ = std::make_unique<GroupCommitInvitationStore>(*store_, config_.create_batching);

  absl::StatusOr<TokenSealer> sealer = config_.token_sealing_key.empty()
                                           ? TokenSealer::CreateEphemeral()
                                           : TokenSealer::Create(config_.token_sealing_key);
  RETURN_IF_ERROR(Step("bad token sealing key", sealer.status()));
  sealer_.emplace(*std::move(sealer));
  // Before anything seals or opens a link (SPEC §7).
  absl::StatusOr<SealingKeyCheck> key_check =
      CheckTokenSealingKey(*pool_, *sealer_, clock_.Now());
  RETURN_IF_ERROR(Step(absl::IsFailedPrecondition(key_check.status())
                           ? "refusing to start: this replica's token sealing key is not the "
                             "database's"
                           : "cannot check the token sealing key against the database",
                       key_check.status()));
  if (config_.token_sealing_key.empty()) {
    Log(LogLevel::kWarning,
        "no --token_sealing_key_file: links are sealed with a key of this process's own, fit "
        "only for a single replica on a database of its own; while its links are live, no "
        "other replica and no restart of this one may start on this database");
  }
  if (key_check->live_links_opened < key_check->live_links_sampled) {
    Log(LogLevel::kWarning,
        "some live links do not open with this token sealing key; their email cannot be sent "
        "until they are resent",
        {{"live_links_sampled", key_check->live_links_sampled},
         {"live_links_opened", key_check->live_links_opened}});
  }
  return absl::OkStatus();
}

// Keycloak and the accept saga, the callers' authenticator, and the invitation services.
absl::Status Replica::BuildServices() {
  if (!config_.keycloak.base_url.empty()) {
    absl::StatusOr<std::unique_ptr<KeycloakAdminClient>> keycloak =
        KeycloakAdminClient::Create(config_.keycloak, &clock_);
    RETURN_IF_ERROR(Step("bad Keycloak settings", keycloak.status()));
    keycloak_ = *std::move(keycloak);
    const RoleNames& roles = config_.auth.roles;
    if (absl::Status ready =
            keycloak_->CheckReadiness({roles.super_admin, roles.tenant_admin, roles.vpn_user});
        !ready.ok()) {
      Log(LogLevel::kWarning, "Keycloak is not ready; accepting invitations will fail",
          {{"error", std::string(ready.message())}});
    }
    identity_provider_ =
        std::make_unique<metrics::InstrumentedIdentityProvider>(*keycloak_, metrics_);
    accept_saga_ = std::make_unique<AcceptSaga>(*store_, clock_, *identity_provider_,
                                                config_.auth.roles, config_.accept_saga);
  } else {
    Log(LogLevel::kWarning,
        "no --keycloak_url: AcceptInvitation answers UNAVAILABLE until one is configured");
  }
  absl::StatusOr<Authenticator> authenticator = MakeAuthenticator(config_.auth, clock_);
  RETURN_IF_ERROR(Step("cannot set up caller authentication", authenticator.status()));
  authenticator_.emplace(*std::move(authenticator));
  token_rate_limiter_.emplace(clock_, config_.token_rate);
  policy_store_ = std::make_unique<MysqlTenantPolicyStore>(*pool_);
  absl::StatusOr<mail::MailCatalog> mail_templates =
      mail::LoadMailCatalog(config_.mail_template_dir);
  RETURN_IF_ERROR(Step("cannot load --mail_template_dir", mail_templates.status()));
  mail_templates_.emplace(*std::move(mail_templates));
  absl::StatusOr<web::WebPages> pages = web::WebPages::Load(config_.web_template_dir);
  RETURN_IF_ERROR(Step("cannot load --web_template_dir", pages.status()));
  web_pages_.emplace(*std::move(pages));
  // An invitation's language must exist for both its email and its page.
  std::vector<std::string> available;
  const std::vector<std::string> page_languages = web_pages_->Languages();
  for (const std::string& tag : mail_templates_->Languages()) {
    if (std::find(page_languages.begin(), page_languages.end(), tag) != page_languages.end()) {
      available.push_back(tag);
    }
  }
  Log(LogLevel::kInfo, "invitation languages", {{"available", absl::StrJoin(available, ",")}});
  InvitationServiceOptions service_options = config_.service;
  service_options.available_locales = available;
  BulkInviteOptions bulk_options = config_.bulk;
  bulk_options.available_locales = available;
  service_ = std::make_unique<InvitationService>(*create_batcher_, clock_, *sealer_, service_options,
                                                 accept_saga_.get(), policy_store_.get());
  bulk_ = std::make_unique<BulkInviter>(*store_, clock_, *sealer_, bulk_options,
                                        policy_store_.get());
  policy_service_ =
      std::make_unique<TenantPolicyService>(*policy_store_, clock_, config_.service.ttl);
  return absl::OkStatus();
}

// The outbox's delivery: over SMTP, or into .eml files without a relay.
absl::Status Replica::StartEmail() {
  if (config_.smtp.url.empty()) {
    absl::StatusOr<std::unique_ptr<mail::EmlFileMailSender>> eml =
        mail::EmlFileMailSender::Create(config_.mail_dir);
    RETURN_IF_ERROR(Step("cannot use --mail_dir", eml.status()));
    mail_sender_ = *std::move(eml);
    Log(LogLevel::kInfo, "no --smtp_url: invitation emails are written as .eml files",
        {{"mail_dir", config_.mail_dir}});
  } else {
    absl::StatusOr<std::unique_ptr<mail::SmtpMailSender>> smtp =
        mail::SmtpMailSender::Create(config_.smtp);
    RETURN_IF_ERROR(Step("bad SMTP settings", smtp.status()));
    mail_sender_ = *std::move(smtp);
  }
  mysql_outbox_ = std::make_unique<MysqlOutboxStore>(*pool_);
  outbox_ = std::make_unique<metrics::InstrumentedOutboxStore>(*mysql_outbox_, metrics_);
  absl::StatusOr<std::unique_ptr<EmailDispatcher>> dispatcher = EmailDispatcher::Create(
      *outbox_, *mail_sender_, *mail_templates_, *sealer_, clock_, config_.email);
  RETURN_IF_ERROR(Step("bad email settings", dispatcher.status()));
  dispatcher_ = *std::move(dispatcher);
  dispatcher_->Start();
  return absl::OkStatus();
}

// What every replica does on its own: recovery of accept sagas, expiry, reminders, the event
// feed.
void Replica::StartBackgroundWork() {
  if (accept_saga_ != nullptr) {
    accept_recoverer_ = std::make_unique<AcceptRecoverer>(*accept_saga_);
    accept_recoverer_->Start();
  }
  sweeper_ = std::make_unique<ExpirySweeper>(*store_, clock_, config_.expiry);
  sweeper_->Start();
  reminder_store_ = std::make_unique<MysqlReminderStore>(*pool_);
  reminder_scheduler_ = std::make_unique<ReminderScheduler>(
      *reminder_store_, clock_, config_.reminders, [this](int queued) {
        metrics_.RemindersQueued(queued);
        dispatcher_->Wake();  // delivered now, not at the dispatcher's next poll
      });
  reminder_scheduler_->Start();
  // Sequences committed events (one replica at a time) and follows them live.
  event_store_ = std::make_unique<MysqlEventStore>(*pool_);
  event_feed_ = std::make_unique<EventFeed>(*event_store_, config_.event_feed);
  event_feed_->Start();
}

// gRPC, then the registration page (whose first request then finds the service ready).
absl::Status Replica::StartServing() {
  workers_ = std::make_unique<WorkerPool>(config_.workers);
  grpc_service_ = std::make_unique<GrpcInvitationService>(
      *service_, *policy_service_, *bulk_, *event_feed_, *workers_, *authenticator_,
      *token_rate_limiter_, config_.rpc);
  GrpcServerOptions grpc = config_.grpc;
  grpc.metrics = &metrics_;
  grpc.observe_rpcs = true;
  absl::StatusOr<StartedServer> server = StartGrpcServer(grpc, grpc_service_.get());
  RETURN_IF_ERROR(Step("cannot start the gRPC server", server.status()));
  server_ = *std::move(server);

  if (config_.site.login_url.empty()) {
    Log(LogLevel::kWarning,
        "no --login_url: the registration page's success screen has nowhere to send users");
  }
  // A dead link's page speaks its invitation's language: the link's row, whatever its state.
  web::LinkLocaleLookup link_locale = [store = store_.get()](const std::string& token) {
    if (!LooksLikeRegistrationToken(token)) return std::string();
    absl::StatusOr<Invitation> inv = store->GetByTokenHash(HashRegistrationToken(token));
    return inv.ok() ? inv->locale : std::string();
  };
  site_ = std::make_unique<web::RegistrationSite>(
      *service_, *workers_, *token_rate_limiter_, *web_pages_, config_.site,
      std::move(link_locale), [this](web::AcceptOutcome outcome) { metrics_.PageAccept(outcome); });
  absl::StatusOr<std::unique_ptr<web::WebServer>> web_server = web::WebServer::Start(
      config_.web, [site = site_.get()](const web::HttpRequest& r) { return site->Handle(r); },
      [this](absl::string_view path, int status, absl::Duration elapsed) {
        metrics_.PageResponse(web::PageRouteOf(path), status, elapsed);
      });
  RETURN_IF_ERROR(Step("cannot start the registration page listener", web_server.status()));
  web_server_ = *std::move(web_server);
  return absl::OkStatus();
}

// /metrics, the outbox backlog sampler and the health monitor.
absl::Status Replica::StartOperations() {
  metrics_.AddScrapeHook([this] {
    metrics_.SetPoolConnections(pool_->in_use(), pool_->idle());
    metrics_.SetWorkerPool(workers_->queue_depth(), workers_->busy_workers());
  });
  RETURN_IF_ERROR(
      Step("cannot start the metrics listener", metrics_.Serve(config_.metrics.address)));
  outbox_sampler_ = std::make_unique<metrics::OutboxSampler>(
      *mysql_outbox_, clock_, metrics_, config_.metrics.outbox_sample_interval);
  outbox_sampler_->Start();
  // Probes use a connection of their own: a pool busy with calls is not a database down.
  ConnectionPoolOptions probe = config_.pool;
  probe.max_connections = 1;
  probe_pool_ = std::make_unique<ConnectionPool>(config_.mysql, probe);
  health_ = std::make_unique<HealthMonitor>(
      [pool = probe_pool_.get()] { return PingDatabase(*pool); },
      [this](bool serving) {
        metrics_.SetDatabaseUp(serving);
        SetServing(*server_.server, serving);
      },
      config_.health);
  health_->Start();
  return absl::OkStatus();
}

void Replica::Drain() {
  if (drained_) return;
  drained_ = true;
  if (health_ != nullptr) health_->BeginDrain();  // NOT_SERVING from now on
  if (server_.server != nullptr) {
    // Freezes every health status at NOT_SERVING. (gRPC 1.51 still lets an open
    // grpc.health.v1 Watch stream hold the drain until the grace period ends; probes use Check.)
    if (auto* h = server_.server->GetHealthCheckService()) h->Shutdown();
  }
  if (web_server_ != nullptr) web_server_->Stop();  // page requests in flight finish first
  // Followers of the feed end at once with where to resume, so they move to another replica
  // instead of holding the drain open until the grace period runs out.
  if (event_feed_ != nullptr) event_feed_->CloseSubscriptions();
  ShutdownGracefully(server_, absl::Now() + config_.shutdown_grace);
  if (workers_ != nullptr) workers_->Shutdown();
  if (dispatcher_ != nullptr) dispatcher_->Stop();
  if (sweeper_ != nullptr) sweeper_->Stop();
  if (reminder_scheduler_ != nullptr) reminder_scheduler_->Stop();
  if (accept_recoverer_ != nullptr) accept_recoverer_->Stop();
  if (event_feed_ != nullptr) event_feed_->Stop();
  if (health_ != nullptr) health_->Stop();
  if (outbox_sampler_ != nullptr) outbox_sampler_->Stop();
  metrics_.StopServing();
}

Replica::~Replica() { Drain(); }

}  // namespace securelink::invitations
