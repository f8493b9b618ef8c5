-- Admin refresh tokens form families: a login or register starts one, each refresh hands the
-- family on to the new token. A token that was rotated out and is presented again has leaked, so
-- its whole family is revoked (reuse detection, as app-user sessions do). Tokens issued before
-- this migration each start their own family.
ALTER TABLE control.admin_refresh_tokens
    ADD COLUMN family_id uuid,
    ADD COLUMN rotated boolean NOT NULL DEFAULT false;
UPDATE control.admin_refresh_tokens SET family_id = id;
ALTER TABLE control.admin_refresh_tokens ALTER COLUMN family_id SET NOT NULL;
CREATE INDEX ix_admin_refresh_tokens_family ON control.admin_refresh_tokens (family_id);
