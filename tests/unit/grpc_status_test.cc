// The one absl → gRPC status mapping carries reasons and field violations as google.rpc details.
#include "server/grpc/grpc_status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/domain/errors.h"
#include "server/domain/invitation.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations {
namespace {

using ::securelink::testing::ErrorMetadata;
using ::securelink::testing::ErrorReason;
using ::securelink::testing::RetryDelay;
using ::securelink::testing::ViolatedFields;
using ::testing::ElementsAre;

TEST(ToGrpcStatus, KeepsCodeAndMessage) {
  grpc::Status s = ToGrpcStatus(absl::UnavailableError("database down"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "database down");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ToGrpcStatus, ReasonBecomesErrorInfoWithMetadata) {
  Invitation holder;
  holder.id = "id-1";
  holder.tenant_id = "acme";
  grpc::Status s = ToGrpcStatus(ActiveInvitationExistsError("a@b.co", holder));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ErrorReason(s), "ACTIVE_INVITATION_EXISTS");
  EXPECT_EQ(ErrorMetadata(s, "invitation_id"), "id-1");
}

TEST(ToGrpcStatus, ARetryDelayBecomesRetryInfoBesideTheReason) {
  grpc::Status s = ToGrpcStatus(WithRetryDelay(
      ReasonedError(absl::StatusCode::kResourceExhausted, "overloaded", "SERVER_OVERLOADED"),
      absl::Milliseconds(1500)));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(), "overloaded");
  EXPECT_EQ(ErrorReason(s), "SERVER_OVERLOADED");
  EXPECT_EQ(RetryDelay(s), absl::Milliseconds(1500));
  // On a status without other details too.
  EXPECT_EQ(RetryDelay(ToGrpcStatus(WithRetryDelay(absl::UnavailableError("down"),
                                                   absl::Seconds(1)))),
            absl::Seconds(1));
  EXPECT_EQ(RetryDelay(ToGrpcStatus(absl::UnavailableError("down"))), std::nullopt);
}

TEST(ToGrpcStatus, FieldViolationsBecomeBadRequest) {
  grpc::Status s = ToGrpcStatus(InvalidFields({{"email", "is missing an '@'"},
                                               {"tenant_id", "is required"}}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("email", "tenant_id"));
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("email: is missing an '@'"));
}

}  // namespace
}  // namespace securelink::invitations
