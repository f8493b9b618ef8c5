-- App-user authentication: per-project auth settings, token signing keys, API keys and OAuth
-- providers. App users themselves, their sessions and one-time tokens live in each project's
-- own schema (created by the control plane, used by workers).

CREATE TABLE control.auth_settings (
    project_id                 uuid PRIMARY KEY REFERENCES control.projects (id) ON DELETE CASCADE,
    enable_email_password      boolean NOT NULL DEFAULT true,
    enable_magic_link          boolean NOT NULL DEFAULT false,
    enable_otp                 boolean NOT NULL DEFAULT false,
    enable_oauth_google        boolean NOT NULL DEFAULT false,
    enable_oauth_github        boolean NOT NULL DEFAULT false,
    access_ttl_minutes         integer NOT NULL DEFAULT 15,
    refresh_ttl_days           integer NOT NULL DEFAULT 7,
    session_mode               text    NOT NULL DEFAULT 'header',
    allow_public_signup        boolean NOT NULL DEFAULT true,
    require_email_verification boolean NOT NULL DEFAULT false,
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

-- HS256 keys of app-user tokens. The newest unretired key signs; retired keys keep verifying
-- for a day (longer than any access token lives), then drop out of the config.
CREATE TABLE control.signing_keys (
    kid        text PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    retired_at timestamptz
);
CREATE INDEX ix_signing_keys_project ON control.signing_keys (project_id, created_at DESC);

-- Existing projects get their first key (gen_random_uuid is a CSPRNG: 244 random bits here).
INSERT INTO control.signing_keys (kid, project_id, secret)
SELECT 'k' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 12), id,
       replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
FROM control.projects;

CREATE TABLE control.api_keys (
    id         uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name       text NOT NULL,
    prefix     text NOT NULL,
    key_hash   text NOT NULL UNIQUE,
    revoked    boolean NOT NULL DEFAULT false,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_api_keys_project ON control.api_keys (project_id, created_at);

CREATE TABLE control.oauth_providers (
    project_id    uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name          text NOT NULL,
    kind          text NOT NULL,
    client_id     text NOT NULL,
    client_secret text NOT NULL,
    issuer        text,
    authorize_url text,
    token_url     text,
    userinfo_url  text,
    scopes        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name)
);

-- Version of the auth tables inside each project's schema; the control plane brings older
-- projects up to date at start-up.
ALTER TABLE control.projects ADD COLUMN auth_tables_version integer NOT NULL DEFAULT 0;
