#include "tests/support/test_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "storage/migrations.h"

namespace securelink::testing {

namespace {

std::string RunId() {
  static const std::string id = absl::StrCat(getpid(), "x", absl::ToUnixMicros(absl::Now()) % 1000000);
  return id;
}

std::atomic<int> counter{0};

}  // namespace

std::string TokenOf(const std::string& registration_url) {
  size_t pos = registration_url.find("token=");
  return pos == std::string::npos ? "" : registration_url.substr(pos + 6);
}

std::string UniqueEmail(absl::string_view prefix) {
  return absl::StrCat(prefix, ".", RunId(), ".", counter.fetch_add(1), "@example.com");
}

std::string UniqueTenant() { return absl::StrCat("tenant-", RunId(), "-", counter.fetch_add(1)); }

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return ctx;
}

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(MariaDbServer& db,
                                                              TestServerOptions options) {
  std::unique_ptr<TestServer> t(new TestServer());
  t->database_ = absl::StrCat("t_", RunId(), "_", counter.fetch_add(1));
  if (absl::Status s = db.CreateDatabase(t->database_); !s.ok()) return s;
  absl::StatusOr<inv::MysqlEndpoint> endpoint = inv::ParseMysqlUri(db.Uri(t->database_));
  if (!endpoint.ok()) return endpoint.status();
  // One connection per worker, plus one for the event feed's thread (as main.cc sizes it).
  options.pool.max_connections = options.worker_threads + 1;
  t->pool_ = std::make_unique<inv::ConnectionPool>(*endpoint, options.pool);
  absl::StatusOr<int> version = inv::ApplyMigrations(*t->pool_, inv::EmbeddedMigrations());
  if (!version.ok()) return version.status();
  t->store_ = std::make_unique<inv::MysqlInvitationStore>(*t->pool_);
  inv::InvitationServiceOptions service_options;
  service_options.ttl = options.ttl;
  service_options.registration_base_url = options.registration_base_url;
  service_options.available_locales = options.available_locales;
  const inv::Clock& clock = options.clock != nullptr ? *options.clock : t->system_clock_;
  t->sealer_ = inv::TokenSealer::CreateEphemeral();
  const inv::TokenSealer& sealer = *t->sealer_;
  if (options.identity_provider != nullptr) {
    t->accept_saga_ = std::make_unique<inv::AcceptSaga>(
        *t->store_, clock, *options.identity_provider, service_options.roles, options.accept_saga);
    t->accept_recoverer_ = std::make_unique<inv::AcceptRecoverer>(*t->accept_saga_);
    t->accept_recoverer_->Start();
  }
  t->policy_store_ = std::make_unique<inv::MysqlTenantPolicyStore>(*t->pool_);
  t->service_ = std::make_unique<inv::InvitationService>(
      *t->store_, clock, sealer, service_options, t->accept_saga_.get(), t->policy_store_.get());
  inv::BulkInviteOptions bulk_options;
  bulk_options.ttl = options.ttl;
  bulk_options.max_addresses = options.bulk_max_addresses;
  bulk_options.chunk_size = options.bulk_chunk_size;
  bulk_options.available_locales = options.available_locales;
  t->bulk_ = std::make_unique<inv::BulkInviter>(*t->store_, clock, sealer, bulk_options,
                                                t->policy_store_.get());
  t->workers_ =
      std::make_unique<inv::WorkerPool>(options.worker_threads, options.worker_queue_capacity);
  t->rate_limiter_ =
      std::make_unique<inv::RateLimiter>(clock, options.token_rate_per_second,
                                         options.token_rate_burst);
  t->event_store_ = std::make_unique<inv::MysqlEventStore>(*t->pool_);
  t->event_feed_ = std::make_unique<inv::EventFeed>(*t->event_store_, options.event_feed);
  t->event_feed_->Start();
  t->policy_service_ = std::make_unique<inv::TenantPolicyService>(
      *t->policy_store_, clock, options.ttl);
  t->grpc_service_ = std::make_unique<inv::GrpcInvitationService>(
      *t->service_, *t->policy_service_, *t->bulk_, *t->event_feed_, *t->workers_,
      options.authenticator != nullptr ? *options.authenticator : t->disabled_auth_,
      *t->rate_limiter_, options.rpc);
  inv::GrpcServerOptions server_options;
  server_options.address = "127.0.0.1:0";
  absl::StatusOr<inv::StartedServer> started =
      inv::StartGrpcServer(server_options, t->grpc_service_.get());
  if (!started.ok()) return started.status();
  t->server_ = *std::move(started);
  inv::SetServing(*t->server_.server, true);
  t->channel_ = grpc::CreateChannel(t->address(), grpc::InsecureChannelCredentials());
  t->stub_ = inv::v1::InvitationService::NewStub(t->channel_);
  return t;
}

std::string TestServer::address() const { return absl::StrCat("127.0.0.1:", server_.port); }

TestServer::~TestServer() {
  if (accept_recoverer_) accept_recoverer_->Stop();
  if (event_feed_) event_feed_->CloseSubscriptions();
  if (server_.server) server_.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  if (workers_) workers_->Shutdown();
  workers_.reset();
  if (event_feed_) event_feed_->Stop();
}

}  // namespace securelink::testing
