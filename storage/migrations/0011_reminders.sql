-- Reminder emails (SPEC §11). An outbox row says which kind of message it is: the first mail of
-- a link (INVITATION) or the one reminder of it (REMINDER); the dispatcher renders and records
-- them differently, and everything else about delivery (lease, retries, the re-check of the link
-- right before SMTP) is shared. invitations.reminder_token_hash names the link whose reminder was
-- queued: a reminder is due only while it differs from token_hash, so there is at most one per
-- link, and a Resend (a new token_hash) starts a new cycle without touching this column.
ALTER TABLE email_outbox ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'INVITATION';
ALTER TABLE invitations ADD COLUMN reminder_token_hash CHAR(64) NULL;
-- The reminder pass reads, per tenant with a reminder policy, the PENDING rows whose expiry lies
-- in (now, now + R]: a range of this index, not a scan of every pending invitation.
CREATE INDEX ix_invitations_reminder_due ON invitations (tenant_id, state, expire_time);
