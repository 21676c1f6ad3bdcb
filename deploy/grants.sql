-- Database users for a deployment whose serving replicas may not change the schema
-- (deploy/k8s/migrate-job.yaml; README.md there, "Migrations").
--
--   invitations_migrate  runs `invitation_server --migrate_only` (a Job, once per release): the
--                        only user that creates and alters tables and triggers.
--   invitations          the serving replicas (INVITATIONS_MIGRATE=false): rows only.
--
-- Run as an administrator after creating both users with passwords from your secret store, e.g.
--   CREATE USER 'invitations_migrate'@'%' IDENTIFIED BY '<from the secret store>';
--   CREATE USER 'invitations'@'%' IDENTIFIED BY '<from the secret store>';
-- and replace `invitations` (the schema) and the host part '%' to match your installation.
-- tests/integration/migrate_only_test.cc runs this file's GRANT statements against a real
-- MariaDB and serves through the row-only user, so keep one statement per line.
--
-- What the serving user needs, found by running the service under it: rows of the schema only.
-- - The quota triggers (migration 0009) run with their DEFINER's rights, i.e. the migration
--   user's: it must keep its TRIGGER right on the schema and must not be dropped, or every
--   write to `invitations` fails (error 1449, "the user specified as a definer does not exist").
-- - The migration lock (schema_migration_lock) is an ordinary row; a replica with
--   --migrate=false only reads it (SELECT) to tell a migration in progress from a dead one.
-- - Session settings (isolation level, innodb_lock_wait_timeout, time_zone,
--   max_statement_time), `SET STATEMENT wsrep_sync_wait = 1 FOR ...` and the Galera status
--   reads (`SELECT @@wsrep_on`, `SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', ...)`)
--   need no privilege.
-- - SELECT ... FOR UPDATE [SKIP LOCKED] (outbox, sagas, event feed) needs SELECT and UPDATE.

-- The migration user: everything the migrations do, and the bookkeeping rows.
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, TRIGGER ON `invitations`.* TO 'invitations_migrate'@'%';

-- The serving replicas: rows only.
GRANT SELECT, INSERT, UPDATE, DELETE ON `invitations`.* TO 'invitations'@'%';
