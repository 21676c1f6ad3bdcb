-- Tenant policies (SPEC §11): one row per tenant that has one; a tenant without a row behaves as
-- the defaults (any domain, no quota, the server's ttl, no reminder, English). `version` counts
-- the row's changes and is the etag's source; an update names the version it read, so of two
-- racing updates the second changes nothing and is told so (no lost updates, also across Galera
-- nodes: both write this row). Domains are stored normalised (A-labels), one per line.
CREATE TABLE tenant_policies (
  tenant_id VARCHAR(64) NOT NULL,
  allowed_email_domains TEXT NOT NULL,
  max_pending_invitations INT NOT NULL DEFAULT 0,
  default_ttl_seconds BIGINT NULL,
  reminder_before_expiry_seconds BIGINT NULL,
  default_locale VARCHAR(35) NOT NULL DEFAULT '',
  version BIGINT NOT NULL,
  update_time DATETIME(6) NOT NULL,
  updated_by VARCHAR(255) NOT NULL,
  PRIMARY KEY (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
