//! SQL identifier quoting. Names from a compiled config enter SQL only through this.

/// Quotes an identifier for Postgres: wrapped in `"`, inner `"` doubled.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// Quotes a string literal for DDL, where bind parameters are not allowed: `'` doubled.
/// Only valid with `standard_conforming_strings = on` (the default since Postgres 9.1).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_names() {
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("we\"ird name"), "\"we\"\"ird name\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
