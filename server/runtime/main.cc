// invitation_server: reads its settings, starts one replica and serves until SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/runtime/config.h"
#include "server/runtime/replica.h"
#include "server/util/log.h"
#include "storage/connection_pool.h"
#include "storage/migrations.h"

namespace si = securelink::invitations;

namespace {

// Exits without running static destructors or atexit handlers: a failure can come after the
// dispatcher, sweeper, feed and worker threads have started, and those threads would go on using
// the Connector/C++ driver and OpenSSL while exit() tore them down (a race TSan reports, and a
// crash in OpenSSL's RAND lock seen under it).
[[noreturn]] void Fail(absl::string_view what, const absl::Status& status) {
  si::Log(si::LogLevel::kError, what, {{"error", status.ToString()}});
  std::fflush(nullptr);
  std::_Exit(1);
}

// The shutdown signals, blocked in every thread so that only WaitForShutdownSignal sees them.
// Must run before any thread starts.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer closing a socket mid-write (SMTP relay, Keycloak) must be an error, not a signal.
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// --migrate_only: a deployment step that migrates and exits, starting no listener and no
// background work. What it applied goes to stdout for the operator (or the Job's log).
int MigrateOnly(const si::ServerConfig& config) {
  si::ConnectionPool pool(config.mysql, config.pool);
  si::Log(si::LogLevel::kInfo, "migrating the database", {{"database", config.mysql.Describe()}});
  absl::StatusOr<si::MigrationOutcome> outcome = si::PrepareSchemaWhenReachable(
      pool, si::EmbeddedMigrations(), /*migrate=*/true, config.db_startup_timeout,
      [](const absl::Status& status) {
        si::Log(si::LogLevel::kWarning, "database not ready yet; retrying",
                {{"error", std::string(status.message())}});
      });
  if (!outcome.ok()) Fail("cannot migrate the database", outcome.status());
  for (const std::string& file : outcome->applied) std::printf("applied %s\n", file.c_str());
  if (outcome->applied.empty()) {
    std::printf("schema up to date (version %d)\n", outcome->version);
  } else {
    std::printf("schema now at version %d\n", outcome->version);
  }
  std::fflush(stdout);
  return 0;
}

int WaitForShutdownSignal(const sigset_t& signals) {
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return signal_number;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t shutdown_signals = BlockShutdownSignals();
  // Abseil (as Debian builds it) checks every Mutex acquisition against a lock-order graph by
  // default: a debugging aid that cost ~3 % of the server's CPU on GetInvitation. Tests keep it
  // (they do not run this main); the TSan and ASan runs cover lock misuse.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  si::ParseFlagsWithEnvironment(argc, argv);
  absl::StatusOr<si::ServerConfig> config = si::ConfigFromFlags();
  if (!config.ok()) Fail("invalid configuration", config.status());
  si::SetMinLogLevel(config->log_level);
  if (config->migrate_only) return MigrateOnly(*config);

  absl::StatusOr<std::unique_ptr<si::Replica>> replica = si::Replica::Start(*config);
  if (!replica.ok()) Fail("cannot start", replica.status());

  const int signal_number = WaitForShutdownSignal(shutdown_signals);
  si::Log(si::LogLevel::kInfo, "shutting down", {{"signal", absl::StrCat(signal_number)}});
  (*replica)->Drain();
  si::Log(si::LogLevel::kInfo, "stopped");
  return 0;
}
