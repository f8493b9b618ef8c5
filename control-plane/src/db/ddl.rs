//! DDL inside project schemas. Every identifier enters as a `model::sql::Ident` made by [`ident`]
//! from a catalog name; names reaching here already passed the slug rule. DDL runs as the project's role (`SET LOCAL ROLE`),
//! so the project's tables belong to it and to nothing else.

use self::ident as q;
use model::sql::{quote_literal, Ident};
use sqlx::PgConnection;

/// A catalog name (schema, role, table, column, index or constraint) as an identifier.
pub fn ident(name: &str) -> Ident {
    Ident::from_catalog(name)
}

/// Creates the project's login-less role and its schema, owned by that role. The connecting user
/// is granted the role, which is what lets it (and workers using the same login) `SET ROLE`.
pub async fn create_project_namespace(
    db: &mut PgConnection,
    schema: &str,
    role: &str,
) -> Result<(), sqlx::Error> {
    let role_q = q(role);
    exec(db, &format!("CREATE ROLE {role_q} NOLOGIN")).await?;
    exec(db, &format!("GRANT {role_q} TO CURRENT_USER")).await?;
    exec(
        db,
        &format!("CREATE SCHEMA {} AUTHORIZATION {role_q}", q(schema)),
    )
    .await
}

/// Runs one statement without preparing it for reuse (DDL is one-off).
async fn exec(db: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).persistent(false).execute(db).await?;
    Ok(())
}

/// Runs statements as the project's role, then switches back.
pub async fn as_project_role(
    db: &mut PgConnection,
    role: &str,
    stmts: &[String],
) -> Result<(), sqlx::Error> {
    exec(db, &format!("SET LOCAL ROLE {}", q(role))).await?;
    for sql in stmts {
        exec(db, sql).await?;
    }
    exec(db, "RESET ROLE").await
}

/// `CREATE TABLE` for the `_users` system collection.
pub fn create_users_table(schema: &str) -> String {
    format!(
        "CREATE TABLE {}.\"_users\" (
            \"id\" text PRIMARY KEY,
            \"created_at\" timestamptz NOT NULL DEFAULT now(),
            \"updated_at\" timestamptz NOT NULL DEFAULT now(),
            \"created_by_user_id\" text,
            \"created_by_app_user_id\" text,
            \"email\" text NOT NULL,
            \"password_hash\" text,
            \"is_email_verified\" boolean NOT NULL DEFAULT false,
            \"is_disabled\" boolean NOT NULL DEFAULT false,
            CONSTRAINT \"uq__users_email\" UNIQUE (\"email\")
        )",
        q(schema)
    )
}

/// Version of [`create_auth_tables`]; `control.projects.auth_tables_version` records what each
/// project has.
pub const AUTH_TABLES_VERSION: i32 = 8;

/// The tables app-user auth keeps beside `_users` in a project's schema (names start with `_`,
/// which no collection name can): sessions (one per login; a refresh-token family), their
/// refresh tokens, one-time email tokens, OTP codes, OAuth identities and pending OAuth
/// authorizations, the audit events, and (version 3) the RBAC roles app users hold. Idempotent,
/// so older projects can be brought up to date.
pub fn create_auth_tables(schema: &str) -> Vec<String> {
    let s = q(schema);
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_auth_sessions\" (
                \"id\" uuid PRIMARY KEY,
                \"user_id\" text NOT NULL REFERENCES {s}.\"_users\" (\"id\") ON DELETE CASCADE,
                \"created_at\" timestamptz NOT NULL DEFAULT now(),
                \"revoked_at\" timestamptz,
                \"revoke_reason\" text,
                \"ip_address\" text,
                \"user_agent\" text
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__auth_sessions_user\" ON {s}.\"_auth_sessions\" (\"user_id\")"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_auth_refresh_tokens\" (
                \"token_hash\" text PRIMARY KEY,
                \"session_id\" uuid NOT NULL REFERENCES {s}.\"_auth_sessions\" (\"id\") ON DELETE CASCADE,
                \"user_id\" text NOT NULL,
                \"revoked\" boolean NOT NULL DEFAULT false,
                \"rotated\" boolean NOT NULL DEFAULT false,
                \"expires_at\" timestamptz NOT NULL,
                \"last_used_at\" timestamptz,
                \"created_at\" timestamptz NOT NULL DEFAULT now(),
                \"ip_address\" text,
                \"user_agent\" text
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__auth_refresh_tokens_session\" ON {s}.\"_auth_refresh_tokens\" (\"session_id\")"),
        format!("CREATE INDEX IF NOT EXISTS \"ix__auth_refresh_tokens_live\" ON {s}.\"_auth_refresh_tokens\" (\"user_id\") WHERE NOT \"revoked\""),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_auth_tokens\" (
                \"token_hash\" text PRIMARY KEY,
                \"user_id\" text NOT NULL REFERENCES {s}.\"_users\" (\"id\") ON DELETE CASCADE,
                \"purpose\" text NOT NULL,
                \"expires_at\" timestamptz NOT NULL,
                \"used_at\" timestamptz,
                \"created_at\" timestamptz NOT NULL DEFAULT now()
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__auth_tokens_user\" ON {s}.\"_auth_tokens\" (\"user_id\", \"purpose\")"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_auth_otp\" (
                \"email\" text NOT NULL,
                \"purpose\" text NOT NULL,
                \"code_hash\" text NOT NULL,
                \"attempts\" integer NOT NULL DEFAULT 0,
                \"expires_at\" timestamptz NOT NULL,
                \"created_at\" timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (\"email\", \"purpose\")
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_auth_identities\" (
                \"provider\" text NOT NULL,
                \"provider_user_id\" text NOT NULL,
                \"user_id\" text NOT NULL REFERENCES {s}.\"_users\" (\"id\") ON DELETE CASCADE,
                \"email\" text,
                \"created_at\" timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (\"provider\", \"provider_user_id\")
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_auth_oauth_states\" (
                \"id\" uuid PRIMARY KEY,
                \"provider\" text NOT NULL,
                \"redirect_uri\" text NOT NULL,
                \"verifier\" text NOT NULL,
                \"expires_at\" timestamptz NOT NULL
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__auth_oauth_states_expiry\" ON {s}.\"_auth_oauth_states\" (\"expires_at\")"),
        // Version 2: a started authorization is bound to the app that started it.
        format!("ALTER TABLE {s}.\"_auth_oauth_states\" ADD COLUMN IF NOT EXISTS \"flow_hash\" text"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_audit_events\" (
                \"seq\" bigserial PRIMARY KEY,
                \"id\" uuid NOT NULL UNIQUE,
                \"collection_id\" uuid,
                \"record_id\" text,
                \"action\" text NOT NULL,
                \"actor_user_id\" uuid,
                \"actor_api_key_id\" uuid,
                \"actor_app_user_id\" text,
                \"old_data_json\" text,
                \"new_data_json\" text,
                \"ip_address\" text,
                \"user_agent\" text,
                \"created_at\" timestamptz NOT NULL DEFAULT now()
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__audit_events_created\" ON {s}.\"_audit_events\" (\"created_at\" DESC, \"seq\" DESC)"),
        // Version 3: role assignments (the roles themselves are in the project config).
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_user_roles\" (
                \"user_id\" text NOT NULL REFERENCES {s}.\"_users\" (\"id\") ON DELETE CASCADE,
                \"role_id\" uuid NOT NULL,
                \"assigned_by\" text NOT NULL,
                \"assigned_at\" timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (\"user_id\", \"role_id\")
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__user_roles_role\" ON {s}.\"_user_roles\" (\"role_id\")"),
        // Version 4: webhook deliveries, the webhooks' outbox. A row is written in the transaction
        // of the change it reports; workers claim due rows (`next_attempt_at`, NULL once final)
        // and post `payload_json` as it is (the signature covers those bytes).
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_webhook_deliveries\" (
                \"id\" uuid PRIMARY KEY,
                \"webhook_id\" uuid NOT NULL,
                \"event_type\" text NOT NULL,
                \"payload_json\" text NOT NULL,
                \"status\" text NOT NULL DEFAULT 'pending',
                \"attempts\" integer NOT NULL DEFAULT 0,
                \"next_attempt_at\" timestamptz DEFAULT clock_timestamp(),
                \"response_status\" integer,
                \"response_body\" text,
                \"error\" text,
                \"created_at\" timestamptz NOT NULL DEFAULT clock_timestamp(),
                \"last_attempt_at\" timestamptz,
                \"delivered_at\" timestamptz
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__webhook_deliveries_hook\" ON {s}.\"_webhook_deliveries\" (\"webhook_id\", \"created_at\" DESC)"),
        format!("CREATE INDEX IF NOT EXISTS \"ix__webhook_deliveries_due\" ON {s}.\"_webhook_deliveries\" (\"next_attempt_at\") WHERE \"next_attempt_at\" IS NOT NULL"),
        // The audit log's hash chain: a background sealer gives each committed event, in the
        // order it sees them, its place in the chain (`chain_seq`), the previous event's hash and
        // its own; retention keeps the last purged event's place and hash as the anchor.
        format!("ALTER TABLE {s}.\"_audit_events\" ADD COLUMN IF NOT EXISTS \"chain_seq\" bigint"),
        format!("ALTER TABLE {s}.\"_audit_events\" ADD COLUMN IF NOT EXISTS \"prev_hash\" bytea"),
        format!("ALTER TABLE {s}.\"_audit_events\" ADD COLUMN IF NOT EXISTS \"hash\" bytea"),
        format!("CREATE UNIQUE INDEX IF NOT EXISTS \"ix__audit_events_chain\" ON {s}.\"_audit_events\" (\"chain_seq\")"),
        format!("CREATE INDEX IF NOT EXISTS \"ix__audit_events_unsealed\" ON {s}.\"_audit_events\" (\"seq\") WHERE \"chain_seq\" IS NULL"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_audit_anchor\" (
                \"one\" boolean PRIMARY KEY DEFAULT true CHECK (\"one\"),
                \"chain_seq\" bigint NOT NULL,
                \"hash\" bytea NOT NULL,
                \"purged_at\" timestamptz NOT NULL DEFAULT clock_timestamp()
            )"
        ),
        // Why the platform stopped a webhook (20 failed deliveries in a row, or a 410 answer),
        // kept where workers can write it; an admin turning the webhook on again clears it.
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_webhook_state\" (
                \"webhook_id\" uuid PRIMARY KEY,
                \"consecutive_failures\" integer NOT NULL DEFAULT 0,
                \"disabled_reason\" text,
                \"disabled_at\" timestamptz,
                \"updated_at\" timestamptz NOT NULL DEFAULT clock_timestamp()
            )"
        ),
        // Version 5: the metadata of stored files (spec/files.md). `object_key` names the object
        // in the file store (generated, never the uploaded name). The uploader's ids are also
        // readable under the collections' owner column names, so file policies use the same
        // conditions as records (`owner`, `app_user_owner`).
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_files\" (
                \"id\" uuid PRIMARY KEY,
                \"object_key\" text NOT NULL,
                \"filename\" text NOT NULL,
                \"original_filename\" text NOT NULL,
                \"content_type\" text NOT NULL,
                \"size_bytes\" bigint NOT NULL,
                \"bucket\" text,
                \"collection_id\" uuid,
                \"record_id\" text,
                \"field_name\" text,
                \"is_public\" boolean NOT NULL DEFAULT false,
                \"uploaded_by_user_id\" text,
                \"uploaded_by_app_user_id\" text,
                \"created_by_user_id\" text GENERATED ALWAYS AS (\"uploaded_by_user_id\") STORED,
                \"created_by_app_user_id\" text GENERATED ALWAYS AS (\"uploaded_by_app_user_id\") STORED,
                \"created_at\" timestamptz NOT NULL DEFAULT clock_timestamp(),
                \"updated_at\" timestamptz NOT NULL DEFAULT clock_timestamp()
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__files_newest\" ON {s}.\"_files\" (\"created_at\" DESC, \"id\")"),
        format!("CREATE INDEX IF NOT EXISTS \"ix__files_bucket\" ON {s}.\"_files\" (\"bucket\", \"created_at\" DESC)"),
        // Version 6: each webhook's due deliveries in order, so claiming a webhook's next rows
        // never walks past another webhook's backlog.
        format!("CREATE INDEX IF NOT EXISTS \"ix__webhook_deliveries_hook_due\" ON {s}.\"_webhook_deliveries\" (\"webhook_id\", \"next_attempt_at\") WHERE \"next_attempt_at\" IS NOT NULL"),
        // Version 7: workflow runs (spec/workflows.md). A record write inserts its runs in its own
        // statement (the outbox); workers claim due runs (`next_at`, NULL once finished), and
        // while one runs `next_at` is its lease: a worker that dies leaves a run that another
        // resumes at `next_step`. Each executed step keeps a row.
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_workflow_runs\" (
                \"id\" uuid PRIMARY KEY,
                \"workflow_id\" uuid NOT NULL,
                \"status\" text NOT NULL DEFAULT 'pending',
                \"depth\" smallint NOT NULL DEFAULT 1,
                \"trigger_json\" text NOT NULL,
                \"next_step\" integer NOT NULL DEFAULT 0,
                \"steps_run\" integer NOT NULL DEFAULT 0,
                \"next_at\" timestamptz DEFAULT clock_timestamp(),
                \"deadline_at\" timestamptz,
                \"error\" text,
                \"created_at\" timestamptz NOT NULL DEFAULT clock_timestamp(),
                \"started_at\" timestamptz,
                \"finished_at\" timestamptz
            )"
        ),
        format!("CREATE INDEX IF NOT EXISTS \"ix__workflow_runs_flow\" ON {s}.\"_workflow_runs\" (\"workflow_id\", \"created_at\" DESC, \"id\")"),
        format!("CREATE INDEX IF NOT EXISTS \"ix__workflow_runs_due\" ON {s}.\"_workflow_runs\" (\"next_at\") WHERE \"next_at\" IS NOT NULL"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_workflow_run_steps\" (
                \"run_id\" uuid NOT NULL,
                \"step_index\" integer NOT NULL,
                \"name\" text,
                \"action\" text NOT NULL,
                \"status\" text NOT NULL,
                \"input_json\" text,
                \"output_json\" text,
                \"error\" text,
                \"attempts\" integer NOT NULL DEFAULT 0,
                \"started_at\" timestamptz NOT NULL DEFAULT clock_timestamp(),
                \"finished_at\" timestamptz,
                PRIMARY KEY (\"run_id\", \"step_index\")
            )"
        ),
        // The last due time of each schedule that started a run: claiming a due time is one
        // conditional upsert, so it starts exactly one run whichever workers see it.
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.\"_workflow_schedule\" (
                \"workflow_id\" uuid PRIMARY KEY,
                \"last_due\" timestamptz NOT NULL
            )"
        ),
        // Version 8: the outbox tables churn (every delivery and run is updated after it is
        // written, every audit event once when sealed) and only grow, so autovacuum's default
        // (20 % of the table dead) comes ever later, and claims step over more dead index
        // entries meanwhile: vacuum them after a fixed number of dead rows instead.
        format!(
            "ALTER TABLE {s}.\"_webhook_deliveries\" SET (autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0)"
        ),
        format!(
            "ALTER TABLE {s}.\"_workflow_runs\" SET (autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0)"
        ),
        format!(
            "ALTER TABLE {s}.\"_audit_events\" SET (autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 20000, autovacuum_vacuum_cost_delay = 0)"
        ),
    ]
}

/// `CREATE TABLE` for a user-defined collection: the system columns only.
pub fn create_collection_table(schema: &str, table: &str) -> String {
    format!(
        "CREATE TABLE {}.{} (
            \"id\" bigserial PRIMARY KEY,
            \"created_at\" timestamptz NOT NULL DEFAULT now(),
            \"updated_at\" timestamptz NOT NULL DEFAULT now(),
            \"created_by_user_id\" text,
            \"created_by_app_user_id\" text
        )",
        q(schema),
        q(table)
    )
}

/// A column to add.
pub struct AddColumn<'a> {
    /// Schema.
    pub schema: &'a str,
    /// Table.
    pub table: &'a str,
    /// Column.
    pub column: &'a str,
    /// Postgres type.
    pub sql_type: &'a str,
    /// `NOT NULL DEFAULT <default>` (the default was checked against the type).
    pub required_default: Option<&'a str>,
    /// Unique index.
    pub unique: bool,
    /// Plain index.
    pub indexed: bool,
}

/// `ALTER TABLE … ADD COLUMN` plus its index.
pub fn add_column(c: &AddColumn<'_>) -> Vec<String> {
    let table = format!("{}.{}", q(c.schema), q(c.table));
    let mut add = format!(
        "ALTER TABLE {table} ADD COLUMN {} {}",
        q(c.column),
        c.sql_type
    );
    if let Some(default) = c.required_default {
        add.push_str(&format!(
            " NOT NULL DEFAULT CAST({} AS {})",
            quote_literal(default),
            c.sql_type
        ));
    }
    let mut stmts = vec![add];
    if c.unique || c.indexed {
        stmts.push(create_index_for(
            c.schema, c.table, c.column, c.unique, c.sql_type,
        ));
    }
    stmts
}

/// `"schema"."table"`.
pub fn table(schema: &str, table: &str) -> String {
    format!("{}.{}", q(schema), q(table))
}

/// The longest identifier Postgres keeps (`NAMEDATALEN - 1` bytes); longer ones it cuts short.
const MAX_IDENT_BYTES: usize = 63;

/// The index name of a unique (`uq`) or plain (`ix`) index on one column.
pub fn index_name(prefix: &str, table: &str, column: &str) -> String {
    object_name(prefix, table, column)
}

/// The name of a relation column's foreign key.
pub fn foreign_key_name(table: &str, column: &str) -> String {
    object_name("fk", table, column)
}

/// `<prefix>_<table>_<column>`, or, past 63 bytes (where Postgres would cut two such names to
/// the same one), its first 54 bytes and 8 hex digits of its SHA-256.
fn object_name(prefix: &str, table: &str, column: &str) -> String {
    use sha2::{Digest, Sha256};
    let full = format!("{prefix}_{table}_{column}");
    if full.len() <= MAX_IDENT_BYTES {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let mut end = MAX_IDENT_BYTES - 9;
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    let hash = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    format!("{}_{hash:08x}", &full[..end])
}

/// `CREATE [UNIQUE] INDEX` on one column.
pub fn create_index(schema: &str, tbl: &str, column: &str, unique: bool) -> String {
    let (kind, prefix) = if unique {
        ("UNIQUE INDEX", "uq")
    } else {
        ("INDEX", "ix")
    };
    format!(
        "CREATE {kind} {} ON {} ({})",
        q(&index_name(prefix, tbl, column)),
        table(schema, tbl),
        q(column)
    )
}

/// The index of a field's column: on `jsonb` a GIN index, which serves JSON containment (`@>`,
/// the `__contains` filter); a B-tree otherwise.
pub fn create_index_for(
    schema: &str,
    tbl: &str,
    column: &str,
    unique: bool,
    sql_type: &str,
) -> String {
    if sql_type != "jsonb" || unique {
        return create_index(schema, tbl, column, unique);
    }
    format!(
        "CREATE INDEX {} ON {} USING gin ({})",
        q(&index_name("ix", tbl, column)),
        table(schema, tbl),
        q(column)
    )
}

/// `DROP INDEX` of an index found on the column.
pub fn drop_index(schema: &str, name: &str) -> String {
    format!("DROP INDEX {}.{}", q(schema), q(name))
}

/// `ALTER INDEX … RENAME TO` for an index found on a renamed table or column.
pub fn rename_index(schema: &str, name: &str, new_name: &str) -> String {
    format!(
        "ALTER INDEX {}.{} RENAME TO {}",
        q(schema),
        q(name),
        q(new_name)
    )
}

/// A relation column: a nullable (or NOT NULL) key column, its index and its foreign key.
pub struct AddRelation<'a> {
    /// Schema.
    pub schema: &'a str,
    /// Source table.
    pub table: &'a str,
    /// Key column (`<name>_id`).
    pub column: &'a str,
    /// `bigint`, or `text` for `_users`.
    pub sql_type: &'a str,
    /// NOT NULL (only on empty tables).
    pub required: bool,
    /// Target table.
    pub target_table: &'a str,
    /// `RESTRICT`, `CASCADE` or `SET NULL` (already checked against that list).
    pub on_delete: &'a str,
}

/// `ADD COLUMN … REFERENCES …`, its index.
pub fn add_relation(r: &AddRelation<'_>) -> Vec<String> {
    let t = table(r.schema, r.table);
    let action = match r.on_delete {
        "CASCADE" => "CASCADE",
        "SET NULL" => "SET NULL",
        _ => "RESTRICT",
    };
    vec![
        format!(
            "ALTER TABLE {t} ADD COLUMN {} {}{} CONSTRAINT {} REFERENCES {} (\"id\") ON DELETE {action}",
            q(r.column),
            r.sql_type,
            if r.required { " NOT NULL" } else { "" },
            q(&foreign_key_name(r.table, r.column)),
            table(r.schema, r.target_table),
        ),
        create_index(r.schema, r.table, r.column, false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_object_names_stay_apart_within_63_bytes() {
        assert_eq!(index_name("uq", "order", "select"), "uq_order_select");
        assert_eq!(foreign_key_name("posts", "author_id"), "fk_posts_author_id");
        let table = "c".repeat(63);
        let (one, two) = ("q".repeat(62) + "1", "q".repeat(62) + "2");
        let a = index_name("uq", &table, &one);
        let b = index_name("uq", &table, &two);
        assert_ne!(a, b);
        for n in [&a, &b, &foreign_key_name(&table, &one)] {
            assert_eq!(n.len(), 63, "{n}");
            assert!(n.starts_with("uq_ccc") || n.starts_with("fk_ccc"), "{n}");
        }
        // Stable: the same name every time (renames compute it again).
        assert_eq!(a, index_name("uq", &table, &one));
    }

    #[test]
    fn add_column_quotes_everything() {
        let sql = add_column(&AddColumn {
            schema: "p_1",
            table: "order",
            column: "select",
            sql_type: "bigint",
            required_default: Some("1'; DROP TABLE x; --"),
            unique: true,
            indexed: false,
        });
        assert_eq!(
            sql,
            [
                "ALTER TABLE \"p_1\".\"order\" ADD COLUMN \"select\" bigint NOT NULL DEFAULT \
                 CAST('1''; DROP TABLE x; --' AS bigint)",
                "CREATE UNIQUE INDEX \"uq_order_select\" ON \"p_1\".\"order\" (\"select\")"
            ]
        );
    }

    #[test]
    fn a_json_column_gets_a_gin_index_with_a_json_default() {
        let sql = add_column(&AddColumn {
            schema: "p_1",
            table: "order",
            column: "meta",
            sql_type: "jsonb",
            required_default: Some(r#"{"it's":1}"#),
            unique: false,
            indexed: true,
        });
        assert_eq!(
            sql,
            [
                "ALTER TABLE \"p_1\".\"order\" ADD COLUMN \"meta\" jsonb NOT NULL DEFAULT \
                 CAST('{\"it''s\":1}' AS jsonb)",
                "CREATE INDEX \"ix_order_meta\" ON \"p_1\".\"order\" USING gin (\"meta\")"
            ]
        );
    }
}
