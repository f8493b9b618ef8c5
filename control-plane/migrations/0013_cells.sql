-- Cells: every project lives on one cell, a Postgres cluster with its own workers. Projects made
-- before cells existed are on the default cell, the control database itself.
ALTER TABLE control.projects ADD COLUMN cell text NOT NULL DEFAULT 'default';
CREATE INDEX projects_cell ON control.projects (cell);

-- Decisions of two-phase commits in another cell. A change of a project on another cell prepares
-- its cell transaction, records `commit` here in the control transaction, commits that, then
-- commits the prepared one. A prepared transaction whose decision is unknown is settled by
-- inserting `abort` unless a decision is already there (`control_plane::cells::settle`).
CREATE TABLE control.cell_commits (
    gid text PRIMARY KEY,
    cell text NOT NULL,
    decision text NOT NULL DEFAULT 'commit' CHECK (decision IN ('commit', 'abort')),
    -- The moment of the insert (not of the transaction's start): rows are cleaned up by age.
    decided_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
