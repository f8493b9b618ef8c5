//! SQL identifiers as a type. A name enters SQL text only as an [`Ident`], and an `Ident` comes
//! only from the compiled project config (the methods on [`crate::config`]'s types), from a name
//! written in our own code ([`Ident::fixed`]), or, in the control plane's DDL, from its catalog
//! (`Ident::from_catalog`, behind the `catalog` feature). A string from a request has no way in.

use std::fmt;
use std::sync::Arc;

/// A quoted SQL identifier (`"we""ird"`), or a schema-qualified one (`"p_1"."order"`), rendered
/// once when it is made; cloning it is a reference count.
///
/// Nothing outside the compiled config makes one from a runtime string:
///
/// ```compile_fail
/// let _ = model::sql::Ident::new("name from a request");
/// ```
///
/// ```compile_fail
/// let name = String::from("name from a request");
/// let _ = model::sql::Ident::fixed(&name);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The name as written (`we"ird`; `order` for a qualified `"p_1"."order"`).
    name: Arc<str>,
    /// The SQL text.
    quoted: Arc<str>,
}

impl Ident {
    /// Quotes `name`: wrapped in `"`, inner `"` doubled. Only the compiled config makes these.
    pub(crate) fn new(name: &str) -> Self {
        let mut out = String::with_capacity(name.len() + 2);
        out.push('"');
        for ch in name.chars() {
            if ch == '"' {
                out.push('"');
            }
            out.push(ch);
        }
        out.push('"');
        Self {
            name: name.into(),
            quoted: out.into(),
        }
    }

    /// A name written in our own code (a system column, a table of ours).
    pub fn fixed(name: &'static str) -> Self {
        Self::new(name)
    }

    /// A name read from the control plane's catalog, for its DDL: a schema, role, table, column,
    /// index or constraint name that passed the name rules when it was stored.
    #[cfg(feature = "catalog")]
    pub fn from_catalog(name: &str) -> Self {
        Self::new(name)
    }

    /// `<self>.<name>`, e.g. a table in its schema.
    pub fn qualify(&self, name: &Ident) -> Self {
        Self {
            name: name.name.clone(),
            quoted: format!("{}.{}", self.quoted, name.quoted).into(),
        }
    }

    /// The name as written, unquoted (the last part of a qualified name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SQL text.
    pub fn as_sql(&self) -> &str {
        &self.quoted
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted)
    }
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted)
    }
}

/// Comma-separated identifiers (a select or column list), joined once.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentList(Arc<str>);

impl IdentList {
    /// Joins identifiers with `, `.
    pub fn join<'a>(idents: impl IntoIterator<Item = &'a Ident>) -> Self {
        let mut out = String::new();
        for (i, id) in idents.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&id.quoted);
        }
        Self(out.into())
    }

    /// The SQL text.
    pub fn as_sql(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdentList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdentList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Quotes a string literal for DDL, where bind parameters are not allowed: `'` doubled.
/// Only valid with `standard_conforming_strings = on` (the default since Postgres 9.1).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Whether a database error means the database cannot be reached right now (down, restarting,
/// refusing or dropping connections, out of connection slots), so that the request may succeed
/// if retried shortly: such errors answer 503 with `Retry-After`, not 500.
#[cfg(feature = "db")]
pub fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // 08: connection exception; 57P01-03: shut down, crashed, starting; 53300: too
            // many connections; 25006: a read-only server (a former primary during a
            // switchover).
            c.starts_with("08")
                || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300" | "25006")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_names() {
        for (name, sql) in [
            ("order", "\"order\""),
            ("we\"ird name", "\"we\"\"ird name\""),
            ("\"", "\"\"\"\""),
            ("a\"; DROP TABLE x; --", "\"a\"\"; DROP TABLE x; --\""),
            ("back\\slash", "\"back\\slash\""),
            ("名前", "\"名前\""),
            ("", "\"\""),
        ] {
            let id = Ident::new(name);
            assert_eq!(id.as_sql(), sql);
            assert_eq!(id.to_string(), sql);
            assert_eq!(id.name(), name);
        }
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn qualified_names_and_lists() {
        let t = Ident::fixed("p_1").qualify(&Ident::new("we\"ird"));
        assert_eq!(t.as_sql(), "\"p_1\".\"we\"\"ird\"");
        assert_eq!(t.name(), "we\"ird");
        let list = IdentList::join([&Ident::fixed("id"), &Ident::new("a\"b")]);
        assert_eq!(list.as_sql(), "\"id\", \"a\"\"b\"");
        assert_eq!(IdentList::join([]).as_sql(), "");
    }
}
