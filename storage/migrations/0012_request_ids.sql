-- The request id of the call behind each audit event and each queued email (the caller's
-- x-request-id, its traceparent's trace id, or one the service made): an operator follows one
-- call from its RPC log line to its events on the feed and to the dispatcher's mail log lines.
-- NULL for the service's own changes (expiry, reminders) and rows written before this column.
ALTER TABLE invitation_events ADD COLUMN request_id VARCHAR(64) NULL;
ALTER TABLE email_outbox ADD COLUMN request_id VARCHAR(64) NULL;
