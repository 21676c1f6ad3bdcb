-- The accept saga's persisted intermediate step (SPEC §5): the Keycloak user created for this
-- invitation, recorded before the invitation becomes ACCEPTED, so a crash between Keycloak and
-- MySQL is resumed by adopting that user rather than creating another.
ALTER TABLE invitations ADD COLUMN accept_user_id VARCHAR(64) NULL;
