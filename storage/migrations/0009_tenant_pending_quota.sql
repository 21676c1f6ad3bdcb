-- The pending quota (SPEC §11), kept by the database so that no write path can forget it and no
-- two writers can both take the last place. Triggers on invitations do the work whenever a row's
-- active_email is set (a place taken) or cleared (a place freed):
--
-- 1. They first write the tenant's guard row of this connection's slot. A policy update that sets
--    a limit writes every slot before it counts the tenant's pending invitations, so it waits for
--    (or, on another Galera node, fails certification against) every write in flight that could
--    have missed the limit, and every later write sees the limit.
-- 2. Only then do they read the tenant's max_pending_invitations. Without a limit nothing is
--    counted: tenants without a quota never meet on one row. With a limit, taking a place is one
--    conditional UPDATE of the tenant's counter row, allowed while the count is under the limit;
--    when it changes no row the statement fails with SQLSTATE 45000
--    'TENANT_PENDING_LIMIT_REACHED' and writes nothing. Writers racing for the last place all
--    write that one row: one waits for the other's commit (InnoDB) or loses certification
--    (Galera) and is decided again. Freeing a place always succeeds, so lowering the limit below
--    today's count refuses new invitations and touches none that exist.
CREATE TABLE tenant_pending_counts (
  tenant_id VARCHAR(64) NOT NULL,
  pending INT NOT NULL,
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- 32 slots per tenant (by connection id): concurrent writers of one tenant rarely share one.
CREATE TABLE tenant_quota_guards (
  tenant_id VARCHAR(64) NOT NULL,
  slot TINYINT UNSIGNED NOT NULL,
  writes BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (tenant_id, slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO tenant_pending_counts (tenant_id, pending)
  SELECT tenant_id, COUNT(*) FROM invitations WHERE active_email IS NOT NULL GROUP BY tenant_id;

DELIMITER //
CREATE TRIGGER invitations_take_pending_place BEFORE INSERT ON invitations FOR EACH ROW
BEGIN
  DECLARE pending_limit INT DEFAULT 0;
  IF NEW.active_email IS NOT NULL THEN
    INSERT INTO tenant_quota_guards (tenant_id, slot, writes)
      VALUES (NEW.tenant_id, CONNECTION_ID() % 32, 1)
      ON DUPLICATE KEY UPDATE writes = writes + 1;
    SELECT COALESCE(MAX(max_pending_invitations), 0) INTO pending_limit
      FROM tenant_policies WHERE tenant_id = NEW.tenant_id;
    IF pending_limit > 0 THEN
      INSERT INTO tenant_pending_counts (tenant_id, pending) VALUES (NEW.tenant_id, 0)
        ON DUPLICATE KEY UPDATE pending = pending;
      UPDATE tenant_pending_counts SET pending = pending + 1
        WHERE tenant_id = NEW.tenant_id AND pending < pending_limit;
      IF ROW_COUNT() = 0 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'TENANT_PENDING_LIMIT_REACHED';
      END IF;
    END IF;
  END IF;
END//
DELIMITER ;

DELIMITER //
CREATE TRIGGER invitations_move_pending_place BEFORE UPDATE ON invitations FOR EACH ROW
BEGIN
  DECLARE pending_limit INT DEFAULT 0;
  IF (OLD.active_email IS NULL) <> (NEW.active_email IS NULL) THEN
    INSERT INTO tenant_quota_guards (tenant_id, slot, writes)
      VALUES (NEW.tenant_id, CONNECTION_ID() % 32, 1)
      ON DUPLICATE KEY UPDATE writes = writes + 1;
    SELECT COALESCE(MAX(max_pending_invitations), 0) INTO pending_limit
      FROM tenant_policies WHERE tenant_id = NEW.tenant_id;
    IF pending_limit > 0 AND NEW.active_email IS NOT NULL THEN
      INSERT INTO tenant_pending_counts (tenant_id, pending) VALUES (NEW.tenant_id, 0)
        ON DUPLICATE KEY UPDATE pending = pending;
      UPDATE tenant_pending_counts SET pending = pending + 1
        WHERE tenant_id = NEW.tenant_id AND pending < pending_limit;
      IF ROW_COUNT() = 0 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'TENANT_PENDING_LIMIT_REACHED';
      END IF;
    ELSEIF pending_limit > 0 THEN
      UPDATE tenant_pending_counts SET pending = pending - 1 WHERE tenant_id = OLD.tenant_id;
    END IF;
  END IF;
END//
DELIMITER ;
