// The invitation lifecycle (SPEC §2): validates requests, applies the state rules, mints links
// and persists through InvitationStore. Knows neither gRPC nor SQL; the gRPC handlers translate.
#ifndef SECURELINK_SERVER_INVITATION_SERVICE_H_
#define SECURELINK_SERVER_INVITATION_SERVICE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/accept_saga.h"
#include "server/auth/authorization.h"
#include "server/domain/clock.h"
#include "server/domain/invitation.h"
#include "server/domain/token.h"
#include "server/domain/validation.h"
#include "storage/invitation_store.h"
#include "storage/tenant_policy_store.h"

namespace securelink::invitations {

struct InvitationServiceOptions {
  TtlPolicy ttl;
  // The link is `<registration_base_url>?token=<token>`.
  std::string registration_base_url = "http://127.0.0.1:8080/register";
  int default_page_size = 50;
  int max_page_size = 500;
  // Realm roles mapped on accept (SPEC §9).
  RoleNames roles;
  // The languages both the email and the page templates offer (canonical BCP 47 tags): an
  // invitation's locale is resolved among them at Create.
  std::vector<std::string> available_locales = {"en"};
};

// Who is asking, from the caller's verified token (server/auth): `subject` is recorded as
// created_by and as the audit actor; kind and tenant drive the SPEC §6 checks.
using Caller = Principal;

struct CreateInvitationInput {
  std::string email;
  Role role = Role::kUnspecified;
  std::string tenant_id;
  std::optional<absl::Duration> ttl;
  std::string request_id;
  bool suppress_email = false;
  std::string locale;  // BCP 47 as sent; empty: the tenant's default_locale, then "en"
};

// An invitation together with its freshly minted link (Create and Resend only).
struct IssuedInvitation {
  Invitation invitation;
  std::string registration_url;
};

struct ListInvitationsInput {
  std::string tenant_id;
  std::vector<InvitationState> states;
  std::string email_query;
  int page_size = 0;  // 0: the default
  std::string page_token;
};

struct ListInvitationsOutput {
  std::vector<Invitation> invitations;
  std::string next_page_token;
  int64_t total_size = 0;
};

class InvitationService {
 public:
  // `store`, `clock` and `accept_saga` must outlive the service. Without an accept saga (no
  // identity provider configured) AcceptInvitation is UNAVAILABLE.
  InvitationService(InvitationStore& store, const Clock& clock, TokenSealer sealer,
                    InvitationServiceOptions options, AcceptSaga* accept_saga = nullptr,
                    TenantPolicyStore* policies = nullptr);

  // Creates a PENDING invitation and returns it with its registration URL. With a request_id
  // seen before, returns the first result again (ALREADY_EXISTS / REQUEST_ID_REUSED if the
  // email, role or tenant differ). Errors: INVALID_ARGUMENT with field violations;
  // ALREADY_EXISTS / ACTIVE_INVITATION_EXISTS naming the active invitation for the email.
  absl::StatusOr<IssuedInvitation> Create(const Caller& caller, const CreateInvitationInput& in);

  // The invitation with `id`, in its effective state. NOT_FOUND if none; PERMISSION_DENIED when
  // the caller may not see it.
  absl::StatusOr<Invitation> Get(const Caller& caller, absl::string_view id);

  // A page of invitations, newest first, limited to what the caller may see. INVALID_ARGUMENT
  // for a bad page size, page token (including one issued for other filters), tenant or state.
  absl::StatusOr<ListInvitationsOutput> List(const Caller& caller, const ListInvitationsInput& in);

  // A fresh link and expiry (now + ttl, or the default) for a PENDING or EXPIRED invitation;
  // the previous link stops working at once. With a request_id seen before, returns that first
  // result again without resending (its link only while it is still the current one;
  // ALREADY_EXISTS / REQUEST_ID_REUSED if it named another invitation). FAILED_PRECONDITION from
  // ACCEPTED or REVOKED; ALREADY_EXISTS when reviving it would give the email two active
  // invitations.
  absl::StatusOr<IssuedInvitation> Resend(const Caller& caller, absl::string_view id,
                                          std::optional<absl::Duration> ttl,
                                          absl::string_view request_id = "");

  // Revokes a PENDING invitation for good. FAILED_PRECONDITION from any other state.
  absl::StatusOr<Invitation> Revoke(const Caller& caller, absl::string_view id,
                                    absl::string_view reason);

  // The invitation a registration token belongs to, if the link may still be used.
  // NOT_FOUND / INVITATION_TOKEN_INVALID for unknown, malformed or superseded tokens alike;
  // FAILED_PRECONDITION with INVITATION_EXPIRED / _REVOKED / _ALREADY_ACCEPTED otherwise.
  absl::StatusOr<Invitation> ValidateToken(absl::string_view token);

  // Creates the invitee's Keycloak account with the invited role and tenant (or takes over the
  // one an interrupted attempt of the same link left) and marks the invitation ACCEPTED, exactly
  // once even under concurrent attempts (server/accept_saga.h). Token errors as for
  // ValidateToken, also when a revoke or resend overtakes the attempt; INVALID_ARGUMENT for bad
  // fields or Keycloak's password policy (with its message); ALREADY_EXISTS when another account
  // has the email or username; ABORTED / ACCEPT_SUPERSEDED when a concurrent attempt of the same
  // link overtook this one; UNAVAILABLE when Keycloak is unreachable. On any error the invitation
  // stays PENDING.
  absl::StatusOr<Invitation> Accept(const AcceptInvitationInput& in);

 private:
  std::string RegistrationUrl(absl::string_view token) const;
  // The answer to a Resend whose request_id was recorded before.
  absl::StatusOr<IssuedInvitation> ReplayResend(const Caller& caller, absl::string_view id,
                                                absl::string_view request_id,
                                                const ResendRecord& record);

  // The tenant's policy, from the cache unless `fresh` (then read and cached). A cached one may
  // be stale: Create has the store check its version when writing.
  absl::StatusOr<std::optional<TenantPolicy>> PolicyOf(const std::string& tenant_id, bool fresh)
      ABSL_LOCKS_EXCLUDED(policy_cache_mu_);

  static constexpr size_t kMaxCachedPolicies = 10000;

  InvitationStore& store_;
  const Clock& clock_;
  TokenSealer sealer_;
  InvitationServiceOptions options_;
  AcceptSaga* accept_saga_;
  TenantPolicyStore* policies_;  // nullptr: every tenant has the defaults
  absl::Mutex policy_cache_mu_;
  absl::flat_hash_map<std::string, std::optional<TenantPolicy>> policy_cache_
      ABSL_GUARDED_BY(policy_cache_mu_);
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_INVITATION_SERVICE_H_
