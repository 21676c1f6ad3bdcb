#include "server/grpc/proto_convert.h"

#include "absl/strings/str_cat.h"

namespace securelink::invitations {

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t seconds = nanos / 1000000000;
  int64_t rem = nanos % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rem));
}

v1::Role ToProto(Role role) {
  switch (role) {
    case Role::kSuperAdmin: return v1::ROLE_SUPER_ADMIN;
    case Role::kTenantAdmin: return v1::ROLE_TENANT_ADMIN;
    case Role::kVpnUser: return v1::ROLE_VPN_USER;
    case Role::kUnspecified: break;
  }
  return v1::ROLE_UNSPECIFIED;
}

v1::InvitationState ToProto(InvitationState state) {
  switch (state) {
    case InvitationState::kPending: return v1::INVITATION_STATE_PENDING;
    case InvitationState::kAccepted: return v1::INVITATION_STATE_ACCEPTED;
    case InvitationState::kExpired: return v1::INVITATION_STATE_EXPIRED;
    case InvitationState::kRevoked: return v1::INVITATION_STATE_REVOKED;
    case InvitationState::kUnspecified: break;
  }
  return v1::INVITATION_STATE_UNSPECIFIED;
}

v1::BulkInviteOutcome ToProto(BulkOutcome outcome) {
  switch (outcome) {
    case BulkOutcome::kCreated: return v1::BULK_INVITE_OUTCOME_CREATED;
    case BulkOutcome::kSkippedPending: return v1::BULK_INVITE_OUTCOME_SKIPPED_PENDING;
    case BulkOutcome::kSkippedDuplicate: return v1::BULK_INVITE_OUTCOME_SKIPPED_DUPLICATE;
    case BulkOutcome::kInvalidEmail: return v1::BULK_INVITE_OUTCOME_INVALID_EMAIL;
    case BulkOutcome::kDomainNotAllowed: return v1::BULK_INVITE_OUTCOME_DOMAIN_NOT_ALLOWED;
    case BulkOutcome::kPendingLimitReached:
      return v1::BULK_INVITE_OUTCOME_PENDING_LIMIT_REACHED;
    case BulkOutcome::kFailed: return v1::BULK_INVITE_OUTCOME_FAILED;
  }
  return v1::BULK_INVITE_OUTCOME_UNSPECIFIED;
}

namespace {

v1::EmailDeliveryState ToProto(EmailDeliveryState state) {
  switch (state) {
    case EmailDeliveryState::kSuppressed: return v1::EMAIL_DELIVERY_STATE_SUPPRESSED;
    case EmailDeliveryState::kQueued: return v1::EMAIL_DELIVERY_STATE_QUEUED;
    case EmailDeliveryState::kSent: return v1::EMAIL_DELIVERY_STATE_SENT;
    case EmailDeliveryState::kFailed: return v1::EMAIL_DELIVERY_STATE_FAILED;
    case EmailDeliveryState::kUnspecified: break;
  }
  return v1::EMAIL_DELIVERY_STATE_UNSPECIFIED;
}

}  // namespace

void ToProto(const Invitation& in, v1::Invitation* out) {
  out->set_id(in.id);
  out->set_email(in.email);
  out->set_role(ToProto(in.role));
  out->set_tenant_id(in.tenant_id);
  out->set_state(ToProto(in.state));
  ToProto(in.create_time, out->mutable_create_time());
  ToProto(in.update_time, out->mutable_update_time());
  ToProto(in.expire_time, out->mutable_expire_time());
  if (in.accept_time) ToProto(*in.accept_time, out->mutable_accept_time());
  if (in.revoke_time) ToProto(*in.revoke_time, out->mutable_revoke_time());
  if (in.last_send_time) ToProto(*in.last_send_time, out->mutable_last_send_time());
  out->set_send_count(in.send_count);
  out->set_created_by(in.created_by);
  out->set_user_id(in.user_id);
  out->set_email_delivery_state(ToProto(in.email_delivery_state));
  out->set_email_last_error(in.email_last_error);
  out->set_revoke_reason(in.revoke_reason);
  out->set_locale(in.locale);
}

Role FromProto(v1::Role role) {
  switch (role) {
    case v1::ROLE_SUPER_ADMIN: return Role::kSuperAdmin;
    case v1::ROLE_TENANT_ADMIN: return Role::kTenantAdmin;
    case v1::ROLE_VPN_USER: return Role::kVpnUser;
    default: return Role::kUnspecified;
  }
}

InvitationState FromProto(v1::InvitationState state) {
  switch (state) {
    case v1::INVITATION_STATE_PENDING: return InvitationState::kPending;
    case v1::INVITATION_STATE_ACCEPTED: return InvitationState::kAccepted;
    case v1::INVITATION_STATE_EXPIRED: return InvitationState::kExpired;
    case v1::INVITATION_STATE_REVOKED: return InvitationState::kRevoked;
    default: return InvitationState::kUnspecified;
  }
}

std::optional<absl::Duration> FromProto(bool has, const google::protobuf::Duration& d) {
  if (!has) return std::nullopt;
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

namespace {

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

}  // namespace

void ToProto(const TenantPolicy& in, v1::TenantPolicy* out) {
  out->set_tenant_id(in.tenant_id);
  for (const std::string& d : in.allowed_email_domains) out->add_allowed_email_domains(d);
  out->set_max_pending_invitations(in.max_pending_invitations);
  if (in.default_ttl.has_value()) ToProto(*in.default_ttl, out->mutable_default_ttl());
  if (in.reminder_before_expiry.has_value()) {
    ToProto(*in.reminder_before_expiry, out->mutable_reminder_before_expiry());
  }
  out->set_default_locale(in.default_locale);
  if (in.version > 0) ToProto(in.update_time, out->mutable_update_time());
  out->set_updated_by(in.updated_by);
  out->set_etag(PolicyEtag(in.version));
}

TenantPolicy FromProto(const v1::TenantPolicy& in) {
  TenantPolicy out;
  out.tenant_id = in.tenant_id();
  out.allowed_email_domains.assign(in.allowed_email_domains().begin(),
                                   in.allowed_email_domains().end());
  out.max_pending_invitations = in.max_pending_invitations();
  out.default_ttl = FromProto(in.has_default_ttl(), in.default_ttl());
  out.reminder_before_expiry =
      FromProto(in.has_reminder_before_expiry(), in.reminder_before_expiry());
  out.default_locale = in.default_locale();
  return out;
}

void ToProto(const FeedEvent& in, v1::InvitationEvent* out) {
  out->set_event_id(absl::StrCat(in.seq));
  out->set_invitation_id(in.invitation_id);
  switch (in.type) {
    case AuditEventType::kCreated: out->set_type(v1::INVITATION_EVENT_TYPE_CREATED); break;
    case AuditEventType::kResent: out->set_type(v1::INVITATION_EVENT_TYPE_RESENT); break;
    case AuditEventType::kRevoked: out->set_type(v1::INVITATION_EVENT_TYPE_REVOKED); break;
    case AuditEventType::kExpired: out->set_type(v1::INVITATION_EVENT_TYPE_EXPIRED); break;
    case AuditEventType::kAccepted: out->set_type(v1::INVITATION_EVENT_TYPE_ACCEPTED); break;
    case AuditEventType::kEmailSent: out->set_type(v1::INVITATION_EVENT_TYPE_EMAIL_SENT); break;
    case AuditEventType::kEmailFailed: out->set_type(v1::INVITATION_EVENT_TYPE_EMAIL_FAILED); break;
    case AuditEventType::kReminderSent:
      out->set_type(v1::INVITATION_EVENT_TYPE_REMINDER_SENT);
      break;
    case AuditEventType::kPolicyUpdated:
      out->set_type(v1::INVITATION_EVENT_TYPE_POLICY_UPDATED);
      break;
  }
  out->set_actor(in.actor);
  out->set_tenant_id(in.tenant_id);
  out->set_email(in.email);
  ToProto(in.event_time, out->mutable_event_time());
  out->set_request_id(in.request_id);
  out->set_reason(in.reason);
}

}  // namespace securelink::invitations
