-- Workflow definitions (spec/workflows.md). `trigger_config` and `steps` are kept exactly as
-- given (the contract returns them as stored); they are checked when saved and compiled into the
-- project config, where workers run them. Runs live in the project's schema.

CREATE TABLE control.workflows (
    id              uuid PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name            text NOT NULL,
    description     text,
    trigger_type    text NOT NULL,
    trigger_config  jsonb NOT NULL DEFAULT '{}',
    steps           jsonb NOT NULL DEFAULT '[]',
    is_active       boolean NOT NULL DEFAULT true,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_workflows_project ON control.workflows (project_id, created_at, id);
