-- Schema evolution: a per-project schema version, the history of applied changes, staged
-- (pending) changes, aliases left behind by renames, and relation metadata.

ALTER TABLE control.projects ADD COLUMN schema_version bigint NOT NULL DEFAULT 0;

-- One row per applied change set (a single immediate change, a staged batch, or a document apply).
CREATE TABLE control.schema_history (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    schema_version bigint NOT NULL,
    source         text NOT NULL,
    changes        jsonb NOT NULL,
    steps          jsonb NOT NULL,
    actor_user_id  uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, schema_version)
);

-- Changes staged for a later all-or-nothing apply, in staging order.
CREATE TABLE control.pending_changes (
    id            uuid PRIMARY KEY,
    seq           bigserial NOT NULL,
    project_id    uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    change        jsonb NOT NULL,
    actor_user_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_pending_changes_project ON control.pending_changes (project_id, seq);

-- Old names that keep resolving for a grace period after a rename.
CREATE TABLE control.collection_aliases (
    id            uuid PRIMARY KEY,
    seq           bigserial NOT NULL,
    project_id    uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    collection_id uuid NOT NULL REFERENCES control.collections (id) ON DELETE CASCADE,
    old_name      text NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_collection_aliases_project ON control.collection_aliases (project_id);

CREATE TABLE control.field_aliases (
    id            uuid PRIMARY KEY,
    seq           bigserial NOT NULL,
    field_id      uuid NOT NULL REFERENCES control.fields (id) ON DELETE CASCADE,
    collection_id uuid NOT NULL REFERENCES control.collections (id) ON DELETE CASCADE,
    old_name      text NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_field_aliases_collection ON control.field_aliases (collection_id);
