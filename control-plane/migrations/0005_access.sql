-- Access policies (spec/policies.md) and RBAC roles (spec/rbac.md). Both are compiled into the
-- project config. Which app user holds which role lives in each project's own schema
-- (`_user_roles`), where workers read and write it.

CREATE TABLE control.policies (
    id                     uuid PRIMARY KEY,
    collection_id          uuid NOT NULL REFERENCES control.collections (id) ON DELETE CASCADE,
    name                   text NOT NULL,
    action                 text NOT NULL,
    effect                 text NOT NULL DEFAULT 'allow',
    -- Kept as the exact text sent (echoed byte for byte); compiled when the config is built.
    condition_json         text,
    is_active              boolean NOT NULL DEFAULT true,
    priority               integer NOT NULL DEFAULT 0,
    allowed_principals     text,
    require_email_verified boolean NOT NULL DEFAULT false,
    allowed_roles          text,
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Evaluation order: priority first, then creation order.
CREATE INDEX ix_policies_collection
    ON control.policies (collection_id, priority DESC, created_at, id);

CREATE TABLE control.roles (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name         text NOT NULL,
    display_name text NOT NULL,
    description  text,
    is_default   boolean NOT NULL DEFAULT false,
    is_system    boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (project_id, name)
);
