-- The invitation's language (SPEC §11): the BCP 47 tag chosen at Create from the request's
-- locale, the tenant's default_locale and the languages the templates offer. Rows written before
-- languages existed were English.
ALTER TABLE invitations ADD COLUMN locale VARCHAR(35) NOT NULL DEFAULT 'en';
