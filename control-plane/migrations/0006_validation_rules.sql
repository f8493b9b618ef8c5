-- Field validation rules (spec/validations.md). A rule goes with its field; workers receive the
-- active ones in the compiled config, ordered by priority, then creation (clock time, so rules
-- made in one transaction keep their order).
CREATE TABLE control.validation_rules (
    id            uuid PRIMARY KEY,
    field_id      uuid NOT NULL REFERENCES control.fields (id) ON DELETE CASCADE,
    rule_type     text NOT NULL,
    config        jsonb,
    error_message text,
    priority      integer NOT NULL DEFAULT 0,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_validation_rules_field ON control.validation_rules (field_id, priority, created_at);
