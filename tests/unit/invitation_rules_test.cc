// The lifecycle rules of SPEC §2 as pure functions: effective state and allowed transitions.
#include "server/domain/invitation.h"

#include "gtest/gtest.h"
#include "server/domain/errors.h"

namespace securelink::invitations {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

Invitation InState(InvitationState state, absl::Time expire_time = kNow + absl::Hours(1)) {
  Invitation inv;
  inv.id = "0b7a6b8e-1111-4222-8333-444455556666";
  inv.state = state;
  inv.expire_time = expire_time;
  return inv;
}

TEST(EffectiveState, PendingPastItsExpiryIsExpiredAtOnce) {
  EXPECT_EQ(EffectiveState(InState(InvitationState::kPending, kNow), kNow),
            InvitationState::kExpired);
  EXPECT_EQ(EffectiveState(InState(InvitationState::kPending, kNow + absl::Microseconds(1)), kNow),
            InvitationState::kPending);
}

TEST(EffectiveState, FinalStatesIgnoreTheClock) {
  for (InvitationState s : {InvitationState::kAccepted, InvitationState::kRevoked}) {
    EXPECT_EQ(EffectiveState(InState(s, kNow - absl::Hours(1)), kNow), s);
  }
}

TEST(CheckCanResend, AllowedFromPendingAndExpired) {
  EXPECT_TRUE(CheckCanResend(InState(InvitationState::kPending), kNow).ok());
  EXPECT_TRUE(CheckCanResend(InState(InvitationState::kExpired), kNow).ok());
  EXPECT_TRUE(CheckCanResend(InState(InvitationState::kPending, kNow - absl::Hours(1)), kNow).ok());
}

TEST(CheckCanResend, RefusedFromAcceptedAndRevokedWithTheReason) {
  absl::Status accepted = CheckCanResend(InState(InvitationState::kAccepted), kNow);
  EXPECT_EQ(accepted.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(accepted), kReasonInvitationAlreadyAccepted);
  absl::Status revoked = CheckCanResend(InState(InvitationState::kRevoked), kNow);
  EXPECT_EQ(revoked.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(revoked), kReasonInvitationRevoked);
}

TEST(CheckCanRevoke, OnlyFromPending) {
  EXPECT_TRUE(CheckCanRevoke(InState(InvitationState::kPending), kNow).ok());
  EXPECT_EQ(ReasonOf(CheckCanRevoke(InState(InvitationState::kPending, kNow), kNow)),
            kReasonInvitationExpired);
  EXPECT_EQ(ReasonOf(CheckCanRevoke(InState(InvitationState::kRevoked), kNow)),
            kReasonInvitationRevoked);
  EXPECT_EQ(ReasonOf(CheckCanRevoke(InState(InvitationState::kAccepted), kNow)),
            kReasonInvitationAlreadyAccepted);
}

TEST(CheckLinkUsable, NamesTheStateThatKillsTheLink) {
  EXPECT_TRUE(CheckLinkUsable(InState(InvitationState::kPending), kNow).ok());
  absl::Status expired = CheckLinkUsable(InState(InvitationState::kPending, kNow), kNow);
  EXPECT_EQ(expired.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(expired), kReasonInvitationExpired);
  EXPECT_EQ(ReasonOf(CheckLinkUsable(InState(InvitationState::kRevoked), kNow)),
            kReasonInvitationRevoked);
  EXPECT_EQ(ReasonOf(CheckLinkUsable(InState(InvitationState::kAccepted), kNow)),
            kReasonInvitationAlreadyAccepted);
}

TEST(RoleRequiresTenant, OnlyGlobalSuperAdminsMayOmitTheTenant) {
  EXPECT_FALSE(RoleRequiresTenant(Role::kSuperAdmin));
  EXPECT_TRUE(RoleRequiresTenant(Role::kTenantAdmin));
  EXPECT_TRUE(RoleRequiresTenant(Role::kVpnUser));
}

TEST(Names, RoundTrip) {
  for (Role r : {Role::kSuperAdmin, Role::kTenantAdmin, Role::kVpnUser}) {
    EXPECT_EQ(RoleFromName(RoleName(r)), r);
  }
  for (InvitationState s : {InvitationState::kPending, InvitationState::kAccepted,
                            InvitationState::kExpired, InvitationState::kRevoked}) {
    EXPECT_EQ(StateFromName(StateName(s)), s);
  }
  EXPECT_EQ(RoleFromName("ROOT"), Role::kUnspecified);
}

}  // namespace
}  // namespace securelink::invitations
