-- The pending quota (SPEC §11), kept by the database so that no write path can forget it and no
-- two writers can both take the last place: tenant_pending_counts holds each tenant's number of
-- PENDING invitations (rows whose active_email is set), and triggers on invitations move it.
-- Taking a place is one conditional UPDATE of the tenant's counter row, allowed while the count
-- is under the tenant's max_pending_invitations (0 or no policy: no limit); when it changes no
-- row the statement fails with SQLSTATE 45000 'TENANT_PENDING_LIMIT_REACHED' and writes nothing.
-- Two replicas (or two Galera nodes) racing for the last place both write this one row: one
-- waits for the other's commit (InnoDB) or loses certification (Galera) and is retried, then
-- refused. Freeing a place (accept, revoke, expiry) always succeeds, so lowering the limit below
-- today's count refuses new invitations and touches none that exist.
CREATE TABLE tenant_pending_counts (
  tenant_id VARCHAR(64) NOT NULL,
  pending INT NOT NULL,
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO tenant_pending_counts (tenant_id, pending)
  SELECT tenant_id, COUNT(*) FROM invitations WHERE active_email IS NOT NULL GROUP BY tenant_id;

DELIMITER //
CREATE TRIGGER invitations_take_pending_place BEFORE INSERT ON invitations FOR EACH ROW
BEGIN
  IF NEW.active_email IS NOT NULL THEN
    INSERT INTO tenant_pending_counts (tenant_id, pending) VALUES (NEW.tenant_id, 0)
      ON DUPLICATE KEY UPDATE pending = pending;
    UPDATE tenant_pending_counts c LEFT JOIN tenant_policies p ON p.tenant_id = c.tenant_id
      SET c.pending = c.pending + 1
      WHERE c.tenant_id = NEW.tenant_id
        AND (p.max_pending_invitations IS NULL OR p.max_pending_invitations <= 0
             OR c.pending < p.max_pending_invitations);
    IF ROW_COUNT() = 0 THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'TENANT_PENDING_LIMIT_REACHED';
    END IF;
  END IF;
END//
DELIMITER ;

DELIMITER //
CREATE TRIGGER invitations_move_pending_place BEFORE UPDATE ON invitations FOR EACH ROW
BEGIN
  IF OLD.active_email IS NULL AND NEW.active_email IS NOT NULL THEN
    INSERT INTO tenant_pending_counts (tenant_id, pending) VALUES (NEW.tenant_id, 0)
      ON DUPLICATE KEY UPDATE pending = pending;
    UPDATE tenant_pending_counts c LEFT JOIN tenant_policies p ON p.tenant_id = c.tenant_id
      SET c.pending = c.pending + 1
      WHERE c.tenant_id = NEW.tenant_id
        AND (p.max_pending_invitations IS NULL OR p.max_pending_invitations <= 0
             OR c.pending < p.max_pending_invitations);
    IF ROW_COUNT() = 0 THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'TENANT_PENDING_LIMIT_REACHED';
    END IF;
  ELSEIF OLD.active_email IS NOT NULL AND NEW.active_email IS NULL THEN
    UPDATE tenant_pending_counts SET pending = pending - 1 WHERE tenant_id = OLD.tenant_id;
  END IF;
END//
DELIMITER ;
