-- Idempotent ResendInvitation (SPEC §10): each request_id a caller sent with a Resend, the
-- invitation it resent and the link that resend issued (its token hash), written in the same
-- transaction as the resend. A retry with the same request_id is answered from here: the same
-- link while it is still current, and no second email.
CREATE TABLE resend_requests (
  request_id VARCHAR(128) NOT NULL,
  invitation_id CHAR(36) NOT NULL,
  token_hash CHAR(64) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (request_id),
  KEY ix_resend_requests_invitation (invitation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
