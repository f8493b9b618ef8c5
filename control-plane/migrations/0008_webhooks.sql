-- Webhook definitions (spec/webhooks.md). Compiled into the project config with their signing
-- keys; workers deliver from the project's outbox. The signing key is kept sealed
-- (ChaCha20-Poly1305 under SECRETS_KEY, bound to the row id), never in plain text.

CREATE TABLE control.webhooks (
    id                          uuid PRIMARY KEY,
    project_id                  uuid NOT NULL REFERENCES control.projects (id) ON DELETE CASCADE,
    name                        text NOT NULL,
    url                         text NOT NULL,
    -- The event names exactly as given (order kept): a JSON array of strings.
    events                      jsonb NOT NULL,
    -- Only events of these collections (by id, so renames keep the filter); NULL: every one.
    collection_ids              uuid[],
    -- Turned on by its admins. Workers may also stop a webhook (a 410 answer, too many failed
    -- deliveries): that state lives in the project's schema (`_webhook_state`), where they write.
    is_active                   boolean NOT NULL DEFAULT true,
    secret_sealed               bytea NOT NULL,
    -- After a rotation the previous key still signs (beside the new one) until it expires.
    previous_secret_sealed      bytea,
    previous_secret_expires_at  timestamptz,
    created_by                  uuid,
    created_at                  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at                  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_webhooks_project ON control.webhooks (project_id, created_at, id);
