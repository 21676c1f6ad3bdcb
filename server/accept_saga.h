// Accepting an invitation (SPEC §5, §10): the Keycloak account and the ACCEPTED invitation are
// made in a saga whose every database step is fenced by a claim on the link, so that
//   - an account never becomes usable unless the database first recorded the link as the winner:
//     the account is created disabled, checked and given its role, then the invitation becomes
//     ACCEPTED (the decision), and only then is the account enabled;
//   - an attempt overtaken by a revoke, a resend or a newer attempt of the same link cannot
//     commit, and what it made stays disabled and is removed;
//   - an account made through an older link is never handed to a newer link's holder, and an
//     account a crashed attempt of the same link left behind is taken over with this attempt's
//     password and names;
//   - a saga interrupted by a crash is finished (ACCEPTED: enable the account) or undone (revoked
//     or expired: delete it) by the recoverer of any replica once its lease has passed.
// Knows neither gRPC nor SQL: it talks to the InvitationStore and the IdentityProvider seams.
#ifndef SECURELINK_SERVER_ACCEPT_SAGA_H_
#define SECURELINK_SERVER_ACCEPT_SAGA_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/auth/authorization.h"
#include "server/domain/clock.h"
#include "server/domain/invitation.h"
#include "server/keycloak/identity_provider.h"
#include "server/util/periodic_task.h"
#include "storage/invitation_store.h"

namespace securelink::invitations {

// What the invitee submits with the link.
struct AcceptInvitationInput {
  std::string token;
  std::string password;  // never logged
  std::string first_name;
  std::string last_name;
  std::string username;  // empty: the email
  std::string request_id;  // the call's, for the ACCEPTED event and the saga's log lines
};

struct AcceptSagaOptions {
  // How long an attempt holds its claim before a recoverer may take the saga over. Far above what
  // a healthy saga takes (a handful of Keycloak calls, each bounded by its request timeout): a
  // live attempt that is taken over fails safe, but its invitee has to submit again.
  absl::Duration lease = absl::Minutes(5);
  // After ACCEPTED, how long the attempt has to enable the account before a recoverer does (at
  // most the lease).
  absl::Duration finish_grace = absl::Seconds(30);
  // How often each replica's recoverer looks for sagas whose lease has passed, and how many it
  // takes at a time.
  absl::Duration recovery_interval = absl::Seconds(15);
  int recovery_batch = 50;
};

// ErrorInfo reason of the ABORTED answer to an attempt that another attempt of the same link
// overtook (a double submit): the other one carries on; retrying is safe.
inline constexpr absl::string_view kReasonAcceptSuperseded = "ACCEPT_SUPERSEDED";

class AcceptSaga {
 public:
  // Everything passed in must outlive the saga; `roles` names the realm role of each invited role.
  AcceptSaga(InvitationStore& store, const Clock& clock, IdentityProvider& identity_provider,
             RoleNames roles, AcceptSagaOptions options);

  // Accepts `invitation` (found by the hash of in.token, its link usable) for the invitee's
  // input. Errors as InvitationService::Accept documents.
  absl::StatusOr<Invitation> Accept(const Invitation& invitation, const AcceptInvitationInput& in);

  // Finishes or undoes up to one batch of sagas whose lease has passed; returns how many it
  // handled. A saga that cannot be settled now (Keycloak down) is retried after another lease.
  absl::StatusOr<int> RecoverDue();

  const AcceptSagaOptions& options() const { return options_; }

 private:
  // An update of invitation `id` that applies only while `attempt` holds the claim and `link` is
  // still the invitation's usable link; otherwise the dead-link error (or ABORTED /
  // ACCEPT_SUPERSEDED when another attempt took over). `change` edits the new row values.
  absl::StatusOr<Invitation> Fenced(const std::string& id, const std::string& attempt,
                                    const std::string& link,
                                    const std::function<void(InvitationChange&)>& change);
  // The account this attempt will finish: the one an earlier attempt of the same link left
  // (taken over), or a new one; accounts from older links are deleted on the way.
  absl::StatusOr<std::string> ProvideAccount(const Invitation& claimed, bool same_link,
                                             const NewUser& user);
  // Makes `user_id` this invitee's (disabled, their names and password), or deletes it and
  // returns nullopt when it cannot be (another username); nullopt also when it is gone.
  absl::StatusOr<std::optional<std::string>> TakeOver(const std::string& user_id,
                                                      const NewUser& user);
  // Settles one saga taken over by the recoverer.
  absl::Status Recover(const Invitation& invitation);
  // Clears the claim if `attempt` still holds it; `forget_account` also forgets accept_user_id.
  absl::Status Release(const std::string& id, const std::string& attempt, bool forget_account);

  InvitationStore& store_;
  const Clock& clock_;
  IdentityProvider& idp_;
  const RoleNames roles_;
  const AcceptSagaOptions options_;
};

// Every replica runs one: settles due sagas at start and then every recovery_interval.
class AcceptRecoverer {
 public:
  // `saga` must outlive the recoverer.
  explicit AcceptRecoverer(AcceptSaga& saga);
  void Start() { loop_.Start(); }
  // Lets a pass in progress finish. Idempotent.
  void Stop() { loop_.Stop(); }

 private:
  PeriodicTask loop_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_ACCEPT_SAGA_H_
