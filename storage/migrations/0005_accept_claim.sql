-- The accept saga's claim (SPEC §10). Before it calls Keycloak, an accept attempt claims the link
-- by writing its attempt id and a lease; every later step of the saga, and the final ACCEPTED,
-- commit only while the attempt still holds the claim and the link is still current, so an
-- attempt overtaken by a revoke, a resend or a newer attempt can never finish. accept_link_hash
-- names the link under which accept_user_id (the account a saga made) was created: an account
-- made through another, older link is never handed to this link's holder. The lease is also when
-- the saga is due for recovery: a replica's recoverer takes over claims whose lease has passed
-- (the attempt died, or a revoke or an expiry left clean-up to do) and finishes or undoes them.
ALTER TABLE invitations
  ADD COLUMN accept_attempt_id CHAR(36) NULL,
  ADD COLUMN accept_lease_expire_time DATETIME(6) NULL,
  ADD COLUMN accept_link_hash CHAR(64) NULL,
  ADD KEY ix_invitations_accept_lease (accept_lease_expire_time);
