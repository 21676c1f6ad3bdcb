-- The transactional outbox (SPEC §4): one row per invitation email, written in the same
-- transaction as the Create/Resend/BulkInvite that issues it. Dispatchers in every replica claim
-- due rows with SELECT ... FOR UPDATE SKIP LOCKED and a lease, send without holding any lock, then
-- record the outcome. token_hash names the link the message carries: a message whose link is no
-- longer the invitation's current one is SUPERSEDED, never sent.
CREATE TABLE email_outbox (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  invitation_id CHAR(36) NOT NULL,
  message_id VARCHAR(255) NOT NULL,
  token_hash CHAR(64) NOT NULL,
  state VARCHAR(16) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_time DATETIME(6) NOT NULL,
  lease_owner VARCHAR(64) NULL,
  lease_expire_time DATETIME(6) NULL,
  last_error VARCHAR(1024) NULL,
  create_time DATETIME(6) NOT NULL,
  update_time DATETIME(6) NOT NULL,
  sent_time DATETIME(6) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_email_outbox_message_id (message_id),
  KEY ix_email_outbox_due (state, next_attempt_time),
  KEY ix_email_outbox_invitation (invitation_id, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
