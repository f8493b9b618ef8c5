//! How rules read a submitted JSON value, as the contract's original (Python) read it: its
//! string form, its conversion to a number, equality for `enum`, and whether a text is a date
//! in a strftime format.

use chrono::format::{self, Item, ParseErrorKind, Parsed};
use serde_json::Value;
use std::borrow::Cow;

/// The value's string form: a string as is, a number as the JSON gave it (`10`, `0.01`),
/// booleans `True`/`False`, lists and objects as JSON.
pub fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("True"),
        Value::Bool(false) => Cow::Borrowed("False"),
        Value::Null => Cow::Borrowed("None"),
        other => Cow::Owned(other.to_string()),
    }
}

/// The value as a float: numbers, booleans (1 and 0) and numeric strings (surrounding blanks
/// allowed); `Err` with the reason otherwise.
pub fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a float")),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("could not convert string to float: '{s}'")),
        Value::Array(_) => {
            Err("float() argument must be a string or a real number, not 'list'".into())
        }
        Value::Object(_) => {
            Err("float() argument must be a string or a real number, not 'dict'".into())
        }
        Value::Null => {
            Err("float() argument must be a string or a real number, not 'NoneType'".into())
        }
    }
}

/// Equality of JSON values that keeps their types apart (`"1"` is not `1`, `true` is not `1`)
/// but compares numbers by value (`1` is `1.0`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `text` is, as a whole, a date (and/or time) in the strftime `items`. Like Python's
/// `strptime`, what the format leaves out is 1900-01-01 00:00, and what it gives must make a
/// real date: `2024-02-30` is not one, `10:30` alone is.
pub fn is_date(items: &[Item<'static>], text: &str) -> bool {
    let mut p = Parsed::new();
    if format::parse(&mut p, text, items.iter()).is_err() {
        return false;
    }
    let no_year = [
        p.year(),
        p.year_div_100(),
        p.year_mod_100(),
        p.isoyear(),
        p.isoyear_div_100(),
        p.isoyear_mod_100(),
    ]
    .iter()
    .all(Option::is_none);
    let no_week = [p.week_from_sun(), p.week_from_mon(), p.isoweek()]
        .iter()
        .all(Option::is_none);
    let by_day = p.ordinal().is_none() && no_week;
    // The setters only fail on values out of range, which these defaults are not.
    if no_year {
        let _ = p.set_year(1900);
    }
    if by_day && p.month().is_none() {
        let _ = p.set_month(1);
    }
    if by_day && p.day().is_none() {
        let _ = p.set_day(1);
    }
    let resolves = |r: Result<(), chrono::ParseError>| match r {
        Ok(()) => true,
        Err(e) => e.kind() == ParseErrorKind::NotEnough,
    };
    resolves(p.to_naive_date().map(drop)) && resolves(p.to_naive_time().map(drop))
}
