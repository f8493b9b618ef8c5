//! Field validation rules (`spec/validations.md`): compiled once per config version from a
//! collection's fields, then run over record bodies. Pure: no I/O, no clock. Patterns and date
//! formats are compiled here, once; checking a record only reads them.
//!
//! A record passes a rule when its value is null or absent (rules never check presence). Every
//! active rule of a field runs, in the compiled order, and every failing message is kept.

mod value;

use crate::registry::SYSTEM_COLUMNS;
use chrono::format::Item;
use model::{rule_syntax, CollectionConfig, FieldConfig, RuleConfig};
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;
use value::{is_date, number, same, text};

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\A[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}\z").expect("email pattern")
});
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\Ahttps?://[^\s/$.?#].[^\s]*\z").expect("URL pattern"));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z")
        .expect("UUID pattern")
});

/// The rules of one collection: its live fields that have any, in creation order.
#[derive(Debug, Default)]
pub struct CollectionRules {
    fields: Vec<FieldRules>,
}

#[derive(Debug)]
struct FieldRules {
    /// The field's name: the key of its messages.
    name: String,
    /// The body keys that write the field: its column, its name, its former names.
    keys: Vec<String>,
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    check: Check,
    /// The admin's message; replaces the default one (an empty one does not).
    message: Option<String>,
}

/// What a rule checks, with its settings compiled.
#[derive(Debug)]
enum Check {
    MinLength(Bound),
    MaxLength(Bound),
    /// `regex` and `custom_regex`: a prefix match.
    Pattern(Regex),
    Email,
    Url,
    Uuid,
    NotEmpty,
    Date {
        items: Vec<Item<'static>>,
        format: String,
    },
    MinValue(Bound),
    MaxValue(Bound),
    Range(Bound, Bound),
    OneOf {
        values: Vec<Value>,
        shown: String,
    },
    /// Settings that cannot work (the control plane refuses them; older rows may hold them):
    /// the rule fails every value, saying why.
    Broken(String),
}

/// A number of a rule's settings: its value, and its text as the JSON gave it (`10`, `0.01`).
#[derive(Debug)]
struct Bound {
    value: f64,
    shown: String,
}

impl CollectionRules {
    /// Compiles the active rules of a collection's live fields. Rules of unknown types are left
    /// out.
    pub fn new(config: &CollectionConfig) -> Self {
        // A former name that a field or system column holds now writes that one, not this one.
        let taken = |name: &str| {
            SYSTEM_COLUMNS.iter().any(|(c, _)| *c == name)
                || config
                    .fields
                    .iter()
                    .any(|f| f.name == name || f.column == name)
        };
        let fields = config
            .fields
            .iter()
            .filter(|f| !f.is_deleted)
            .map(|f| FieldRules {
                name: f.name.clone(),
                keys: keys_of(f, taken),
                rules: f.rules.iter().filter_map(compile).collect(),
            })
            .filter(|f| !f.rules.is_empty())
            .collect();
        Self { fields }
    }

    /// True when no field has a rule.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The messages of every failing field of a record body, by field name; empty when the
    /// record passes. A field's value may come under its column, its name or a former name:
    /// every distinct non-null one found is checked (there is normally one), so whichever the
    /// write keeps has passed.
    pub fn evaluate(&self, body: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for f in &self.fields {
            let mut seen: Vec<&Value> = Vec::new();
            let mut messages: Vec<String> = Vec::new();
            for v in f.keys.iter().filter_map(|k| body.get(k)) {
                if v.is_null() || seen.contains(&v) {
                    continue;
                }
                let first = seen.is_empty();
                seen.push(v);
                for m in f.rules.iter().filter_map(|r| r.run(v).err()) {
                    if first || !messages.contains(&m) {
                        messages.push(m);
                    }
                }
            }
            if !messages.is_empty() {
                out.insert(f.name.clone(), messages.into());
            }
        }
        out
    }
}

fn keys_of(f: &FieldConfig, taken: impl Fn(&str) -> bool) -> Vec<String> {
    let mut keys = vec![f.column.clone()];
    for k in std::iter::once(&f.name).chain(&f.aliases) {
        if !keys.contains(k) && (*k == f.name || !taken(k)) {
            keys.push(k.clone());
        }
    }
    keys
}

/// Compiles one rule; `None` for a rule type this worker does not know.
fn compile(rule: &RuleConfig) -> Option<Rule> {
    let settings = rule.config.as_ref().and_then(Value::as_object);
    let get = |key: &str| settings.and_then(|s| s.get(key));
    let check = match rule.rule_type.as_str() {
        "min_length" => bound(get("min"), "min", 0).map(Check::MinLength),
        "max_length" => bound(get("max"), "max", 255).map(Check::MaxLength),
        "regex" | "custom_regex" => string(get("pattern"), "pattern", "").and_then(|p| {
            let flags = string(get("flags"), "flags", "")?;
            rule_syntax::pattern(&p, &flags)
                .map(Check::Pattern)
                .map_err(|e| format!("invalid pattern: {e}"))
        }),
        "email" => Ok(Check::Email),
        "url" => Ok(Check::Url),
        "uuid" => Ok(Check::Uuid),
        "not_empty" => Ok(Check::NotEmpty),
        "date_format" => string(get("format"), "format", "%Y-%m-%d").and_then(|format| {
            match rule_syntax::date_format(&format) {
                Some(items) => Ok(Check::Date { items, format }),
                None => Err(format!("'{format}' is not a valid date format")),
            }
        }),
        "min_value" => bound(get("min"), "min", 0).map(Check::MinValue),
        "max_value" => bound(get("max"), "max", 0).map(Check::MaxValue),
        "range" => bound(get("min"), "min", 0)
            .and_then(|lo| Ok(Check::Range(lo, bound(get("max"), "max", 0)?))),
        "enum" => match get("values") {
            None => Ok(one_of(Vec::new())),
            Some(Value::Array(values)) => Ok(one_of(values.clone())),
            Some(_) => Err("'values' is not a list".to_owned()),
        },
        _ => return None,
    };
    Some(Rule {
        check: check.unwrap_or_else(Check::Broken),
        message: rule.error_message.clone().filter(|m| !m.is_empty()),
    })
}

/// A number setting, `default` when absent.
fn bound(v: Option<&Value>, key: &str, default: i64) -> Result<Bound, String> {
    match v {
        None => Ok(Bound {
            value: default as f64,
            shown: default.to_string(),
        }),
        Some(Value::Number(n)) => Ok(Bound {
            value: n.as_f64().unwrap_or(f64::NAN),
            shown: n.to_string(),
        }),
        Some(_) => Err(format!("'{key}' is not a number")),
    }
}

/// A string setting, `default` when absent.
fn string(v: Option<&Value>, key: &str, default: &str) -> Result<String, String> {
    match v {
        None => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("'{key}' is not a string")),
    }
}

fn one_of(values: Vec<Value>) -> Check {
    let shown = values
        .iter()
        .map(|v| text(v))
        .collect::<Vec<_>>()
        .join(", ");
    Check::OneOf { values, shown }
}

impl Rule {
    /// `Err` with the message when `v` (not null) fails.
    fn run(&self, v: &Value) -> Result<(), String> {
        let failure = match self.check.passes(v) {
            Ok(true) => return Ok(()),
            Ok(false) => self.check.message(),
            Err(reason) => format!("Validation error: {reason}"),
        };
        Err(self.message.clone().unwrap_or(failure))
    }
}

impl Check {
    /// Whether `v` passes; `Err` with the reason when it cannot be judged (a text where a
    /// number belongs, settings that cannot work).
    fn passes(&self, v: &Value) -> Result<bool, String> {
        let length = || text(v).chars().count() as f64;
        Ok(match self {
            Self::MinLength(b) => length() >= b.value,
            Self::MaxLength(b) => length() <= b.value,
            Self::Pattern(re) => re.is_match(&text(v)),
            Self::Email => EMAIL.is_match(&text(v)),
            Self::Url => URL.is_match(&text(v)),
            Self::Uuid => UUID.is_match(&text(v)),
            Self::NotEmpty => !text(v).trim().is_empty(),
            Self::Date { items, .. } => is_date(items, &text(v)),
            Self::MinValue(b) => number(v)? >= b.value,
            Self::MaxValue(b) => number(v)? <= b.value,
            Self::Range(lo, hi) => {
                let x = number(v)?;
                x >= lo.value && x <= hi.value
            }
            Self::OneOf { values, .. } => values.iter().any(|w| same(v, w)),
            Self::Broken(reason) => return Err(reason.clone()),
        })
    }

    /// The default failure message.
    fn message(&self) -> String {
        match self {
            Self::MinLength(b) => format!("Must be at least {} characters", b.shown),
            Self::MaxLength(b) => format!("Must be at most {} characters", b.shown),
            Self::Pattern(_) => "Does not match required pattern".into(),
            Self::Email => "Invalid email format".into(),
            Self::Url => "Invalid URL format".into(),
            Self::Uuid => "Invalid UUID format".into(),
            Self::NotEmpty => "Cannot be empty".into(),
            Self::Date { format, .. } => format!("Invalid date format, expected {format}"),
            Self::MinValue(b) => format!("Must be at least {}", b.shown),
            Self::MaxValue(b) => format!("Must be at most {}", b.shown),
            Self::Range(lo, hi) => format!("Must be between {} and {}", lo.shown, hi.shown),
            Self::OneOf { shown, .. } => format!("Must be one of: {shown}"),
            Self::Broken(reason) => format!("Validation error: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests;
