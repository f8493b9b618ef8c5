-- Views (saved queries, spec/views.md) and the snapshot of every version of their definition.
CREATE TABLE control.views (
    id                 uuid PRIMARY KEY,
    project_id         uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name               text NOT NULL,
    display_name       text NOT NULL,
    description        text,
    base_collection_id uuid NOT NULL REFERENCES control.collections (id) ON DELETE CASCADE,
    projection_json    jsonb,
    filters_json       jsonb,
    sorts_json         jsonb,
    joins_json         jsonb,
    params_schema_json jsonb,
    default_limit      bigint NOT NULL DEFAULT 100,
    max_limit          bigint NOT NULL DEFAULT 1000,
    version            bigint NOT NULL DEFAULT 1,
    is_active          boolean NOT NULL DEFAULT true,
    created_by_user_id uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- A name is unique among the active views of a project; a deleted view's name can be reused.
CREATE UNIQUE INDEX ux_views_active_name ON control.views (project_id, name) WHERE is_active;
CREATE INDEX ix_views_base_collection ON control.views (base_collection_id);

CREATE TABLE control.view_versions (
    id                 uuid PRIMARY KEY,
    view_id            uuid NOT NULL REFERENCES control.views (id) ON DELETE CASCADE,
    version            bigint NOT NULL,
    projection_json    jsonb,
    filters_json       jsonb,
    sorts_json         jsonb,
    joins_json         jsonb,
    params_schema_json jsonb,
    created_by_user_id uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (view_id, version)
);
