// Decorators that record metrics around the service's outside-system interfaces, so that the
// stores, the email dispatcher and the Keycloak client stay free of any metrics library. Each
// forwards every call unchanged to the wrapped implementation; main.cc wires them in.
#ifndef SECURELINK_SERVER_METRICS_INSTRUMENTED_H_
#define SECURELINK_SERVER_METRICS_INSTRUMENTED_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/domain/clock.h"
#include "server/keycloak/identity_provider.h"
#include "server/metrics/metrics.h"
#include "server/util/periodic_task.h"
#include "storage/forwarding_invitation_store.h"
#include "storage/outbox_store.h"
#include "storage/query_observer.h"

namespace securelink::invitations::metrics {

// Counts state changes (created, resent, revoked, accepted, by role) as they are committed,
// and the expiries the sweeper persists. Replayed creates and dry runs count nothing.
class InstrumentedInvitationStore final : public ForwardingInvitationStore {
 public:
  // `store` and `metrics` must outlive this object.
  InstrumentedInvitationStore(InvitationStore& store, Metrics& metrics)
      : ForwardingInvitationStore(store), metrics_(metrics) {}

  absl::StatusOr<InsertResult> Insert(const NewInvitation& row, absl::Time now) override;
  std::vector<absl::StatusOr<InsertResult>> InsertEach(const std::vector<NewInvitation>& rows,
                                                       absl::Time now) override;
  absl::StatusOr<std::vector<BatchOutcome>> InsertBatch(const std::vector<NewInvitation>& rows,
                                                        absl::Time now, bool dry_run) override;
  absl::StatusOr<int> ExpireDue(absl::Time now, int limit) override;
  absl::StatusOr<Invitation> Update(absl::string_view id, absl::Time now,
                                    const Decision& decide) override;

 private:
  Metrics& metrics_;
};

// Counts email deliveries by result (sent, deferred, failed).
class InstrumentedOutboxStore final : public OutboxStore {
 public:
  InstrumentedOutboxStore(OutboxStore& outbox, Metrics& metrics)
      : outbox_(outbox), metrics_(metrics) {}

  absl::StatusOr<std::vector<ClaimedEmail>> Claim(absl::string_view owner, int limit,
                                                  absl::Time now, absl::Duration lease) override {
    return outbox_.Claim(owner, limit, now, lease);
  }
  absl::StatusOr<SendCheck> RecheckBeforeSend(const ClaimedEmail& email,
                                              absl::string_view owner) override {
    return outbox_.RecheckBeforeSend(email, owner);
  }
  absl::Status MarkSent(const ClaimedEmail& email, absl::string_view owner,
                        absl::Time now) override;
  absl::Status MarkRetry(const ClaimedEmail& email, absl::string_view owner, absl::Time retry_at,
                         absl::string_view error, absl::Time now) override;
  absl::Status MarkFailed(const ClaimedEmail& email, absl::string_view owner,
                          absl::string_view error, absl::Time now) override;
  absl::Status MarkSuperseded(const ClaimedEmail& email, absl::string_view owner,
                              absl::Time now) override {
    return outbox_.MarkSuperseded(email, owner, now);
  }
  absl::StatusOr<OutboxStats> Stats(absl::Time now) override { return outbox_.Stats(now); }

 private:
  OutboxStore& outbox_;
  Metrics& metrics_;
};

// Times every Keycloak Admin API operation and counts its failures by canonical code.
class InstrumentedIdentityProvider final : public IdentityProvider {
 public:
  InstrumentedIdentityProvider(IdentityProvider& idp, Metrics& metrics)
      : idp_(idp), metrics_(metrics) {}

  absl::StatusOr<std::optional<ExistingUser>> FindUserByInvitation(
      absl::string_view invitation_id) override;
  absl::StatusOr<std::optional<ExistingUser>> FindUserByEmail(absl::string_view email) override;
  absl::StatusOr<std::string> CreateUser(const NewUser& user) override;
  absl::Status VerifyAttributes(absl::string_view user_id, const NewUser& expected) override;
  absl::Status AssignRealmRole(absl::string_view user_id, absl::string_view role_name) override;
  absl::StatusOr<ExistingUser> GetUser(absl::string_view user_id) override;
  absl::Status UpdateUser(absl::string_view user_id, const UserChanges& changes) override;
  absl::Status SetPassword(absl::string_view user_id, absl::string_view password) override;
  absl::Status DeleteUser(absl::string_view user_id) override;

 private:
  IdentityProvider& idp_;
  Metrics& metrics_;
};

// Database operation latency, from the connection pool's observer seam.
class DbOperationRecorder final : public QueryObserver {
 public:
  explicit DbOperationRecorder(Metrics& metrics) : metrics_(metrics) {}
  void OperationFinished(absl::string_view operation, absl::Duration elapsed,
                         const absl::Status& status) override {
    metrics_.DbOperation(operation, elapsed, status.ok());
  }

 private:
  Metrics& metrics_;
};

// Samples the outbox backlog every `interval` on its own thread (a COUNT query: too slow and
// too dependent on the database to run inside a scrape).
class OutboxSampler {
 public:
  OutboxSampler(OutboxStore& outbox, const Clock& clock, Metrics& metrics,
                absl::Duration interval)
      : loop_(interval, [&outbox, &clock, &metrics] {
          absl::StatusOr<OutboxStats> stats = outbox.Stats(clock.Now());
          if (stats.ok()) metrics.SetOutbox(*stats);
        }) {}

  // Samples at once, then every interval.
  void Start() { loop_.Start(); }
  // Stops and joins. Idempotent.
  void Stop() { loop_.Stop(); }

 private:
  PeriodicTask loop_;
};

}  // namespace securelink::invitations::metrics

#endif  // SECURELINK_SERVER_METRICS_INSTRUMENTED_H_
