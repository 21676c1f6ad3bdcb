// Decoding of google.rpc details from grpc::Status and from the absl::Status the client returns.
#include "securelink/invitations/errors.h"

#include "absl/strings/cord.h"
#include "fake_invitation_service.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace securelink::invitations::client {
namespace {

using ::securelink::invitations::testing::RichStatus;

TEST(DecodeErrorTest, ReadsReasonMetadataAndFieldViolationsFromGrpcDetails) {
  const grpc::Status status = RichStatus(
      grpc::StatusCode::INVALID_ARGUMENT, "2 fields are invalid", "INVALID_FIELDS",
      {{"count", "2"}, {"request", "create"}},
      {{"email", "must contain exactly one '@'"}, {"tenant_id", "required for vpn-user"}});

  const InvitationError error = DecodeError(status);

  EXPECT_EQ(error.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.message, "2 fields are invalid");
  EXPECT_EQ(error.reason, "INVALID_FIELDS");
  EXPECT_EQ(error.domain, "invitations.securelink");
  EXPECT_EQ(error.metadata,
            (std::map<std::string, std::string>{{"count", "2"}, {"request", "create"}}));
  ASSERT_EQ(error.field_violations.size(), 2u);
  EXPECT_EQ(error.field_violations[0].field, "email");
  EXPECT_EQ(error.field_violations[0].description, "must contain exactly one '@'");
  EXPECT_EQ(error.field_violations[1].field, "tenant_id");
}

TEST(DecodeErrorTest, AbslStatusKeepsCodeMessageAndDetails) {
  const grpc::Status grpc_status =
      RichStatus(grpc::StatusCode::ALREADY_EXISTS, "an active invitation exists",
                 std::string(kReasonActiveInvitationExists), {{"invitation_id", "inv-7"}});

  const absl::Status status = ToAbslStatus(grpc_status);

  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), "an active invitation exists");
  EXPECT_EQ(ErrorReason(status), kReasonActiveInvitationExists);
  const InvitationError error = DecodeError(status);
  EXPECT_EQ(error.metadata.at("invitation_id"), "inv-7");
  EXPECT_TRUE(error.field_violations.empty());
}

TEST(DecodeErrorTest, StatusWithoutDetailsHasCodeAndMessageOnly) {
  const grpc::Status grpc_status(grpc::StatusCode::UNAVAILABLE, "connection refused");
  const absl::Status status = ToAbslStatus(grpc_status);

  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(status.GetPayload(kStatusDetailsTypeUrl).has_value());
  const InvitationError error = DecodeError(status);
  EXPECT_EQ(error.code, absl::StatusCode::kUnavailable);
  EXPECT_EQ(error.message, "connection refused");
  EXPECT_TRUE(error.reason.empty());
  EXPECT_TRUE(error.field_violations.empty());
}

TEST(DecodeErrorTest, MalformedDetailsAreIgnoredNotFatal) {
  const grpc::Status status(grpc::StatusCode::INTERNAL, "oops", "\xff\xff not a proto");
  const InvitationError error = DecodeError(status);
  EXPECT_EQ(error.code, absl::StatusCode::kInternal);
  EXPECT_EQ(error.message, "oops");
  EXPECT_TRUE(error.reason.empty());
}

TEST(DecodeErrorTest, UnknownDetailTypesAreSkipped) {
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(1);
  details.add_details()->PackFrom(retry);
  google::rpc::ErrorInfo info;
  info.set_reason("RATE_LIMITED");
  details.add_details()->PackFrom(info);
  const grpc::Status status(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down",
                            details.SerializeAsString());

  EXPECT_EQ(DecodeError(status).reason, "RATE_LIMITED");
}

TEST(DecodeErrorTest, OkIsOk) {
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK).ok());
  EXPECT_TRUE(DecodeError(grpc::Status::OK).ok());
  EXPECT_TRUE(DecodeError(absl::OkStatus()).ok());
}

TEST(DecodeErrorTest, StatusBuiltByOtherCodeCanCarryThePayload) {
  // A service that wraps the client may construct statuses itself; the payload is the contract.
  google::rpc::Status details;
  google::rpc::BadRequest bad_request;
  auto* violation = bad_request.add_field_violations();
  violation->set_field("email");
  violation->set_description("too long");
  details.add_details()->PackFrom(bad_request);
  absl::Status status = absl::InvalidArgumentError("email too long");
  status.SetPayload(kStatusDetailsTypeUrl, absl::Cord(details.SerializeAsString()));

  const InvitationError error = DecodeError(status);
  ASSERT_EQ(error.field_violations.size(), 1u);
  EXPECT_EQ(error.field_violations[0].description, "too long");
}

TEST(InvitationErrorTest, ToStringPutsReasonAndEachViolationOnItsOwnLine) {
  const InvitationError error = DecodeError(RichStatus(
      grpc::StatusCode::FAILED_PRECONDITION, "the invitation expired", "INVITATION_EXPIRED",
      {{"invitation_id", "inv-1"}, {"expired", "2024-01-01"}}, {{"token", "expired link"}}));
  EXPECT_EQ(error.ToString(),
            "FAILED_PRECONDITION: the invitation expired\n"
            "reason: INVITATION_EXPIRED (expired=2024-01-01, invitation_id=inv-1)\n"
            "field token: expired link");
}

}  // namespace
}  // namespace securelink::invitations::client
