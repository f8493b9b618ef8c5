//! JSON of typed rows, written by the worker exactly as Postgres writes it (`row_to_json`,
//! `json_agg`): a list page's rows travel in the binary protocol, which costs Postgres far less
//! than building their JSON. Every value is written byte for byte as Postgres would; a value
//! Postgres writes in a form not reproduced here (a date before year 1, an infinite timestamp)
//! makes [`write_row`] say so, and the caller asks Postgres for the JSON instead.
//!
//! Floats are the exception to "typed": Postgres' shortest form (`float8out`) is not always
//! the shortest round-trip form other libraries find (it gives `7.1479401845784816e+16` where
//! `7.147940184578482e+16` would do), so a float column is selected as text (`::text`, which is
//! `float8out`) and written as the number it spells.

use sqlx::postgres::PgRow;
use sqlx::Row;

/// A column type whose values can be written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text`
    Text,
    /// `bigint`
    Int8,
    /// `double precision`, selected as text ([`Field::select`])
    Float8,
    /// `boolean`
    Bool,
    /// `date`
    Date,
    /// `timestamptz`
    Timestamptz,
    /// `uuid`
    Uuid,
    /// `jsonb`
    Jsonb,
}

impl Kind {
    /// The kind of a column of this Postgres type, if its values can be written here.
    pub fn of(sql_type: &str) -> Option<Self> {
        Some(match sql_type {
            "text" => Self::Text,
            "bigint" => Self::Int8,
            "double precision" => Self::Float8,
            "boolean" => Self::Bool,
            "date" => Self::Date,
            "timestamptz" => Self::Timestamptz,
            "uuid" => Self::Uuid,
            "jsonb" => Self::Jsonb,
            _ => return None,
        })
    }
}

/// One column of a row: its key, already written as `"name":`, its kind and how it is selected.
#[derive(Debug, Clone)]
pub struct Field {
    /// `"name":`
    pub key: String,
    /// Its type.
    pub kind: Kind,
    /// The column.
    pub ident: model::sql::Ident,
}

impl Field {
    /// The column `name` (`ident`) of `kind`.
    pub fn new(name: &str, ident: model::sql::Ident, kind: Kind) -> Self {
        let mut key = String::with_capacity(name.len() + 3);
        escape(&mut key, name);
        key.push(':');
        Self { key, kind, ident }
    }

    /// Whether it is selected as text (`<column>::text`) rather than as itself.
    pub fn as_text(&self) -> bool {
        self.kind == Kind::Float8
    }
}

/// Appends `s` as a JSON string, escaped as Postgres' `escape_json` does. Runs of bytes that need
/// no escape are found eight at a time and copied whole.
pub fn escape(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        // Only ASCII bytes are escaped, so `start` and `i` are on character boundaries.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        } else {
            out.push_str(esc);
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Whether one of the eight bytes of `word` is below 0x20, `"` or `\` (a byte-wise test; where
/// in the word does not matter, only whether).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    (below_space
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 2000-01-01, Postgres' epoch.
const PG_EPOCH_DAYS: i32 = 730_120;

fn pg_date(days: i32) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_num_days_from_ce_opt(days.checked_add(PG_EPOCH_DAYS)?)
        .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
}

/// Whether the row's columns from `first` on are of the types `fields` expect (the config a
/// worker holds may lag a type change for a moment: its page then comes from Postgres).
pub fn types_match(row: &PgRow, first: usize, fields: &[Field]) -> bool {
    use sqlx::{Column, TypeInfo};
    let columns = row.columns();
    columns.len() == first + fields.len()
        && fields.iter().zip(&columns[first..]).all(|(f, c)| {
            let name = c.type_info().name();
            match f.kind {
                Kind::Text | Kind::Float8 => name == "TEXT",
                Kind::Int8 => name == "INT8",
                Kind::Bool => name == "BOOL",
                Kind::Date => name == "DATE",
                Kind::Timestamptz => name == "TIMESTAMPTZ",
                Kind::Uuid => name == "UUID",
                Kind::Jsonb => name == "JSONB",
            }
        })
}

/// Appends one row's columns from `first` on as a JSON object, as `row_to_json` writes it.
/// False (and `out` unspecified) when a value is one Postgres writes in a form not reproduced
/// here.
pub fn write_row(
    out: &mut String,
    row: &PgRow,
    first: usize,
    fields: &[Field],
) -> Result<bool, sqlx::Error> {
    out.push('{');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&f.key);
        // The statement selected each column as its field says, in the binary format: the
        // bytes are read as that type without sqlx's per-value type checks.
        let Some(bytes) = row.try_get_unchecked::<Option<&[u8]>, _>(first + i)? else {
            out.push_str("null");
            continue;
        };
        match f.kind {
            Kind::Text => escape(out, text(bytes)?),
            Kind::Int8 => {
                let v = i64::from_be_bytes(bytes.try_into().map_err(|_| bad("bigint"))?);
                out.push_str(itoa::Buffer::new().format(v));
            }
            Kind::Float8 => {
                // `float8out`'s text: a JSON number, or one of the words JSON has no number for.
                let s = text(bytes)?;
                match s {
                    "NaN" | "Infinity" | "-Infinity" => escape(out, s),
                    _ => out.push_str(s),
                }
            }
            Kind::Bool => out.push_str(if bytes.first() == Some(&1) {
                "true"
            } else {
                "false"
            }),
            Kind::Date => {
                let days = i32::from_be_bytes(bytes.try_into().map_err(|_| bad("date"))?);
                let Some(d) = pg_date(days) else {
                    return Ok(false);
                };
                out.push('"');
                push_date(out, d);
                out.push('"');
            }
            Kind::Timestamptz => {
                let us = i64::from_be_bytes(bytes.try_into().map_err(|_| bad("timestamptz"))?);
                let days = us.div_euclid(86_400_000_000);
                let rest = us.rem_euclid(86_400_000_000);
                let Some(d) = i32::try_from(days).ok().and_then(pg_date) else {
                    return Ok(false);
                };
                let secs = rest / 1_000_000;
                let mut micros = rest % 1_000_000;
                out.push('"');
                push_date(out, d);
                out.push('T');
                push_digits(out, secs / 3600, 2);
                out.push(':');
                push_digits(out, secs / 60 % 60, 2);
                out.push(':');
                push_digits(out, secs % 60, 2);
                if micros != 0 {
                    let mut width = 6;
                    while micros % 10 == 0 {
                        micros /= 10;
                        width -= 1;
                    }
                    out.push('.');
                    push_digits(out, micros, width);
                }
                // The worker's sessions run in UTC.
                out.push_str("+00:00\"");
            }
            Kind::Uuid => {
                let v = uuid::Uuid::from_slice(bytes).map_err(|_| bad("uuid"))?;
                out.push('"');
                out.push_str(
                    v.hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer()),
                );
                out.push('"');
            }
            Kind::Jsonb => {
                // jsonb's binary form is a version byte, then its text as `jsonb_out` writes it.
                match bytes.split_first() {
                    Some((1, rest)) => out.push_str(text(rest)?),
                    _ => return Ok(false),
                }
            }
        }
    }
    out.push('}');
    Ok(true)
}

/// `YYYY-MM-DD` (years 1 to 9999).
fn push_date(out: &mut String, d: chrono::NaiveDate) {
    use chrono::Datelike;
    push_digits(out, i64::from(d.year()), 4);
    out.push('-');
    push_digits(out, i64::from(d.month()), 2);
    out.push('-');
    push_digits(out, i64::from(d.day()), 2);
}

/// `v` (not negative) in at least `width` digits, zero-padded.
fn push_digits(out: &mut String, v: i64, width: usize) {
    if let (2, Ok(v @ 0..=99)) = (width, u8::try_from(v)) {
        // Hours, minutes, seconds, months and days: two digits, without formatting.
        out.push(char::from(b'0' + v / 10));
        out.push(char::from(b'0' + v % 10));
        return;
    }
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v);
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(s);
}

fn text(bytes: &[u8]) -> Result<&str, sqlx::Error> {
    std::str::from_utf8(bytes).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn bad(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("a {what} value of unexpected length").into())
}

/// The separator `json_agg` writes between elements.
pub const AGG_SEPARATOR: &str = ", \n ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_postgres_escapes_them() {
        let mut s = String::new();
        escape(&mut s, "tab\there\u{1} \"q\" é \\ /");
        assert_eq!(s, r#""tab\there\u0001 \"q\" é \\ /""#);
    }

    /// The escape a byte at a time, as Postgres writes it.
    fn escape_slowly(s: &str) -> String {
        let mut out = String::from('"');
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn every_escaped_byte_is_found_at_every_place_in_a_word() {
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', ' ', '!', '#', '[', ']', '\u{7f}', 'é', '😀'])
            .collect();
        for len in 0..24 {
            for at in 0..len {
                for &c in &specials {
                    let s: String = (0..len).map(|i| if i == at { c } else { 'a' }).collect();
                    let mut out = String::new();
                    escape(&mut out, &s);
                    assert_eq!(out, escape_slowly(&s), "{s:?}");
                }
            }
        }
        // Bytes next to the ones searched for (0x1f/0x20, 0x21/0x22/0x23, 0x5b/0x5c/0x5d) and
        // multi-byte characters whose bytes are all at or above 0x80.
        let mut out = String::new();
        let s = "\u{1f} !\"#[\\]ÿ€😀\u{1}x".repeat(5);
        escape(&mut out, &s);
        assert_eq!(out, escape_slowly(&s));
    }
}
