-- Invitations and their audit trail.
-- active_email holds the email while the invitation is PENDING and is NULL otherwise: its unique
-- key is the one-active-invitation-per-email rule, enforced by the database itself.
CREATE TABLE invitations (
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  id CHAR(36) NOT NULL,
  email VARCHAR(254) NOT NULL,
  role VARCHAR(16) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL DEFAULT '',
  state VARCHAR(16) NOT NULL,
  active_email VARCHAR(254) NULL,
  token_hash CHAR(64) NOT NULL,
  sealed_token VARCHAR(255) NULL,
  request_id VARCHAR(128) NULL,
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  expire_time DATETIME(6) NOT NULL,
  accept_time DATETIME(6) NULL,
  revoke_time DATETIME(6) NULL,
  last_send_time DATETIME(6) NULL,
  send_count INT NOT NULL DEFAULT 0,
  created_by VARCHAR(255) NOT NULL DEFAULT '',
  user_id VARCHAR(64) NULL,
  revoke_reason VARCHAR(512) NULL,
  email_delivery_state VARCHAR(16) NOT NULL,
  email_last_error VARCHAR(1024) NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY uq_invitations_id (id),
  UNIQUE KEY uq_invitations_active_email (active_email),
  UNIQUE KEY uq_invitations_token_hash (token_hash),
  UNIQUE KEY uq_invitations_request_id (request_id),
  KEY ix_invitations_tenant_seq (tenant_id, seq),
  KEY ix_invitations_state_expire (state, expire_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE invitation_events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  invitation_id CHAR(36) NOT NULL,
  type VARCHAR(16) NOT NULL,
  actor VARCHAR(255) NOT NULL,
  tenant_id VARCHAR(64) NOT NULL DEFAULT '',
  email VARCHAR(254) NOT NULL,
  reason VARCHAR(512) NULL,
  event_time DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY ix_invitation_events_invitation (invitation_id, id),
  KEY ix_invitation_events_tenant (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
