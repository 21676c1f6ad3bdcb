// What invitectl prints.
#include "format.h"

#include "fake_invitation_service.h"
#include "gtest/gtest.h"
#include "securelink/invitations/errors.h"

namespace securelink::invitations::invitectl {
namespace {

v1::Invitation MakeInvitation(std::string id, std::string email, v1::InvitationState state) {
  v1::Invitation invitation;
  invitation.set_id(std::move(id));
  invitation.set_email(std::move(email));
  invitation.set_role(v1::ROLE_VPN_USER);
  invitation.set_tenant_id("acme");
  invitation.set_state(state);
  invitation.mutable_expire_time()->set_seconds(1714557600);  // 2024-05-01T10:00:00Z
  return invitation;
}

TEST(FormatInvitationTableTest, AlignsColumnsUnderAHeader) {
  v1::Invitation global = MakeInvitation("inv-2", "root@example.com", v1::INVITATION_STATE_EXPIRED);
  global.set_role(v1::ROLE_SUPER_ADMIN);
  global.clear_tenant_id();
  EXPECT_EQ(FormatInvitationTable(
                {MakeInvitation("inv-1", "a@b.c", v1::INVITATION_STATE_PENDING), global}),
            "STATE    EMAIL             ROLE         TENANT  EXPIRES               ID\n"
            "pending  a@b.c             vpn-user     acme    2024-05-01T10:00:00Z  inv-1\n"
            "expired  root@example.com  super-admin  -       2024-05-01T10:00:00Z  inv-2\n");
}

TEST(FormatInvitationTest, ShowsOnlyFieldsThatAreSet) {
  const std::string text =
      FormatInvitation(MakeInvitation("inv-1", "a@b.c", v1::INVITATION_STATE_PENDING));
  EXPECT_EQ(text,
            "id:          inv-1\n"
            "email:       a@b.c\n"
            "role:        vpn-user\n"
            "tenant:      acme\n"
            "state:       pending\n"
            "expires:     2024-05-01T10:00:00Z\n"
            "emails_sent: 0\n");
}

TEST(FormatErrorTest, CodeMessageThenReasonAndViolationsIndented) {
  const absl::Status status = client::ToAbslStatus(testing::RichStatus(
      grpc::StatusCode::INVALID_ARGUMENT, "the request has 2 invalid fields", "INVALID_FIELDS", {},
      {{"email", "must contain exactly one '@'"}, {"tenant_id", "required for vpn-user"}}));
  EXPECT_EQ(FormatError(status),
            "error: INVALID_ARGUMENT: the request has 2 invalid fields\n"
            "  reason: INVALID_FIELDS\n"
            "  field email: must contain exactly one '@'\n"
            "  field tenant_id: required for vpn-user\n");
  EXPECT_EQ(FormatError(absl::UnavailableError("connection refused")),
            "error: UNAVAILABLE: connection refused\n");
}

TEST(FormatBulkTest, ResultAndSummaryLines) {
  v1::BulkInviteResult result;
  result.set_line(12);
  result.set_input("Bob@Example.com");
  result.set_outcome(v1::BULK_INVITE_OUTCOME_SKIPPED_PENDING);
  result.set_invitation_id("inv-9");
  result.set_message("an active invitation exists");
  EXPECT_EQ(FormatBulkResult(result),
            "    12  skipped-pending    Bob@Example.com  inv-9  (an active invitation exists)");
  v1::BulkInviteSummary summary;
  summary.set_total(5);
  summary.set_created(2);
  summary.set_skipped(1);
  summary.set_invalid(1);
  summary.set_failed(1);
  EXPECT_EQ(FormatBulkSummary(summary), "total 5: created 2, skipped 1, invalid 1, failed 1");
}

TEST(FormatProgressBarTest, FillsInProportionAndNeverPassesFull) {
  BulkProgress progress;
  progress.expected = 10;
  v1::BulkInviteResult created;
  created.set_outcome(v1::BULK_INVITE_OUTCOME_CREATED);
  v1::BulkInviteResult invalid;
  invalid.set_outcome(v1::BULK_INVITE_OUTCOME_INVALID_EMAIL);
  for (int i = 0; i < 4; ++i) progress.Add(created);
  progress.Add(invalid);
  EXPECT_EQ(FormatProgressBar(progress, 10),
            "[#####.....]  5/10  50%  created 4  skipped 0  invalid 1  failed 0");
  for (int i = 0; i < 10; ++i) progress.Add(created);  // more than estimated
  EXPECT_EQ(FormatProgressBar(progress, 10),
            "[##########] 15/15 100%  created 14  skipped 0  invalid 1  failed 0");
}

TEST(ToJsonTest, ProtobufJsonWithCamelCaseNames) {
  v1::ListInvitationsResponse response;
  *response.add_invitations() = MakeInvitation("inv-1", "a@b.c", v1::INVITATION_STATE_PENDING);
  response.set_total_size(1);
  const std::string json = ToJson(response, /*compact=*/true);
  EXPECT_EQ(json,
            "{\"invitations\":[{\"id\":\"inv-1\",\"email\":\"a@b.c\",\"role\":\"ROLE_VPN_USER\","
            "\"tenantId\":\"acme\",\"state\":\"INVITATION_STATE_PENDING\","
            "\"expireTime\":\"2024-05-01T10:00:00Z\"}],\"totalSize\":1}\n");
}

}  // namespace
}  // namespace securelink::invitations::invitectl
