-- Cells: every project lives on one cell, a Postgres cluster with its own workers. Projects made
-- before cells existed are on the default cell, the control database itself.
ALTER TABLE control.projects ADD COLUMN cell text NOT NULL DEFAULT 'default';
CREATE INDEX projects_cell ON control.projects (cell);

-- Two-phase commits decided for another cell. A change of a project on another cell prepares its
-- cell transaction, records its id here in the control transaction, commits that, then commits the
-- prepared one; a prepared transaction whose id is not here after a crash is rolled back.
CREATE TABLE control.cell_commits (
    gid text PRIMARY KEY,
    cell text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now()
);
