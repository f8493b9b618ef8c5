-- The control schema: admins, projects, and each project's catalog.
CREATE SCHEMA IF NOT EXISTS control;
REVOKE ALL ON SCHEMA control FROM PUBLIC;

-- Config versions are monotonic across every project, so a newer config always wins.
CREATE SEQUENCE control.config_version_seq;

CREATE TABLE control.admins (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE control.admin_refresh_tokens (
    id         uuid PRIMARY KEY,
    admin_id   uuid NOT NULL REFERENCES control.admins (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    revoked    boolean NOT NULL DEFAULT false,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE control.projects (
    id             uuid PRIMARY KEY,
    seq            bigserial NOT NULL,
    name           text NOT NULL,
    db_schema      text NOT NULL UNIQUE,
    db_role        text NOT NULL UNIQUE,
    config_version bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE control.memberships (
    id         uuid PRIMARY KEY,
    admin_id   uuid NOT NULL REFERENCES control.admins (id) ON DELETE CASCADE,
    project_id uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'owner',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (admin_id, project_id)
);
CREATE INDEX ix_memberships_project ON control.memberships (project_id);

CREATE TABLE control.collections (
    id             uuid PRIMARY KEY,
    seq            bigserial NOT NULL,
    project_id     uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name           text NOT NULL,
    display_name   text NOT NULL,
    sql_table_name text NOT NULL,
    is_active      boolean NOT NULL DEFAULT true,
    is_system      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE control.fields (
    id                            uuid PRIMARY KEY,
    seq                           bigserial NOT NULL,
    collection_id                 uuid NOT NULL REFERENCES control.collections (id) ON DELETE CASCADE,
    name                          text NOT NULL,
    display_name                  text NOT NULL,
    field_type                    text NOT NULL,
    sql_column_name               text NOT NULL,
    sql_type                      text NOT NULL,
    is_required                   boolean NOT NULL DEFAULT false,
    is_unique                     boolean NOT NULL DEFAULT false,
    is_indexed                    boolean NOT NULL DEFAULT false,
    default_value                 text,
    is_deleted                    boolean NOT NULL DEFAULT false,
    deleted_at                    timestamptz,
    is_system                     boolean NOT NULL DEFAULT false,
    is_hidden                     boolean NOT NULL DEFAULT false,
    relation_target_collection_id uuid,
    relation_type                 text,
    relation_on_delete            text NOT NULL DEFAULT 'RESTRICT',
    relation_display_field        text,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, name)
);

CREATE TABLE control.schema_ops (
    id            uuid PRIMARY KEY,
    seq           bigserial NOT NULL,
    project_id    uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    collection_id uuid,
    op_type       text NOT NULL,
    payload_json  jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'applied',
    error         text,
    actor_user_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_schema_ops_project ON control.schema_ops (project_id, created_at DESC, seq DESC);
