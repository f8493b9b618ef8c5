-- Admin API tokens: long-lived credentials for automation (the admin REST API; later the gRPC
-- admin API and the CLI). Shown once; only the SHA-256 digest is kept. A token may be limited to
-- some projects (`project_ids`, NULL for all of its admin's) and to reading (`read_only`), may
-- expire, and may be revoked.

CREATE TABLE control.admin_api_tokens (
    id            uuid PRIMARY KEY,
    admin_id      uuid NOT NULL REFERENCES control.admins (id) ON DELETE CASCADE,
    name          text NOT NULL,
    prefix        text NOT NULL,
    token_hash    text NOT NULL UNIQUE,
    project_ids   uuid[],
    read_only     boolean NOT NULL DEFAULT false,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX ix_admin_api_tokens_admin ON control.admin_api_tokens (admin_id, created_at, id);
