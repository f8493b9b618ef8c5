//! The name rules of `spec/schema.md`: the request pattern (422), the slug rule with reserved
//! words (400), and the column names Postgres keeps for itself (400).

/// Words no collection or field may be named.
pub const RESERVED: &[&str] = &[
    "select",
    "insert",
    "update",
    "delete",
    "drop",
    "create",
    "alter",
    "table",
    "index",
    "from",
    "where",
    "and",
    "or",
    "not",
    "null",
    "true",
    "false",
    "primary",
    "foreign",
    "key",
    "references",
    "constraint",
    "unique",
    "check",
    "default",
    "on",
    "cascade",
    "set",
    "grant",
    "revoke",
    "user",
    "role",
    "schema",
    "database",
    "public",
    "information_schema",
    "pg_catalog",
];

/// Column names every user-defined collection already has.
pub const SYSTEM_COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "created_by_user_id",
    "created_by_app_user_id",
];

/// Columns Postgres keeps on every table (`oid` only on old servers); a field or relation of
/// such a name could never be a column.
pub const POSTGRES_SYSTEM_COLUMNS: &[&str] =
    &["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"];

/// Whether `name` is a column name Postgres reserves for a system column.
pub fn is_postgres_system_column(name: &str) -> bool {
    POSTGRES_SYSTEM_COLUMNS.contains(&name)
}

/// The request-schema pattern `^[a-z][a-z0-9_]*$`, 1–63 chars.
pub fn matches_pattern(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// The slug rule: the pattern and not a reserved word.
pub fn is_valid_slug(name: &str) -> bool {
    matches_pattern(name) && !RESERVED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["order", "posts", "a", "audit_logs", "x1_"] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in [
            "",
            "Invalid Name",
            "_users",
            "1a",
            "a-b",
            "we\"ird",
            "a;b",
            &"a".repeat(64),
        ] {
            assert!(!matches_pattern(bad), "{bad}");
        }
        assert!(matches_pattern("select") && !is_valid_slug("select"));
        assert!(is_valid_slug("users") && !is_valid_slug("user"));
        for pg in ["ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"] {
            assert!(is_valid_slug(pg) && is_postgres_system_column(pg), "{pg}");
        }
        assert!(!is_postgres_system_column("oids") && !is_postgres_system_column("CTID"));
    }
}
