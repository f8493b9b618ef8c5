-- How long a project's audit events are kept (days); workers purge older ones and keep the last
-- purged event's hash as the audit chain's anchor.
ALTER TABLE control.auth_settings
    ADD COLUMN audit_retention_days integer NOT NULL DEFAULT 90;
