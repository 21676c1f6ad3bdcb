-- The event feed's positions (SPEC §3 WatchInvitationEvents). AUTO_INCREMENT ids are handed out
-- when a row is inserted, not when its transaction commits, so "id > last seen" can skip an event
-- whose transaction commits late. A sequencer (any replica, one at a time, serialised on the
-- event_feed_sequence row) gives committed events a `seq` in the order it finds them; each batch
-- commits atomically and after the previous one, so every reader sees a gap-free prefix of seq.
ALTER TABLE invitation_events
  ADD COLUMN seq BIGINT UNSIGNED NULL,
  ADD UNIQUE KEY ux_invitation_events_seq (seq),
  ADD KEY ix_invitation_events_tenant_seq (tenant_id, seq);

CREATE TABLE event_feed_sequence (
  id TINYINT UNSIGNED NOT NULL,
  last_seq BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO event_feed_sequence (id, last_seq) VALUES (1, 0);
