// Conversions between the API's protobuf messages and the domain's plain types.
#ifndef SECURELINK_SERVER_GRPC_PROTO_CONVERT_H_
#define SECURELINK_SERVER_GRPC_PROTO_CONVERT_H_

#include <optional>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "server/bulk_invite.h"
#include "server/domain/invitation.h"
#include "server/domain/tenant_policy.h"
#include "storage/event_store.h"

namespace securelink::invitations {

void ToProto(const Invitation& in, v1::Invitation* out);
v1::Role ToProto(Role role);
v1::InvitationState ToProto(InvitationState state);
v1::BulkInviteOutcome ToProto(BulkOutcome outcome);
void ToProto(absl::Time t, google::protobuf::Timestamp* out);
// The etag is PolicyEtag(version); update_time is left unset for a policy never stored.
void ToProto(const TenantPolicy& in, v1::TenantPolicy* out);
// The settable fields and tenant_id; the output-only ones (update_time, updated_by, etag) are
// the caller's to read from the request itself.
TenantPolicy FromProto(const v1::TenantPolicy& in);
// event_id is the decimal feed position.
void ToProto(const FeedEvent& in, v1::InvitationEvent* out);

// Unknown enum numbers map to kUnspecified, which validation then refuses.
Role FromProto(v1::Role role);
InvitationState FromProto(v1::InvitationState state);

// nullopt when `has` is false. A Duration whose seconds/nanos disagree in sign is taken as is.
std::optional<absl::Duration> FromProto(bool has, const google::protobuf::Duration& d);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_PROTO_CONVERT_H_
