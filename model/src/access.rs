//! Access policies, roles and validation rules as they travel in the compiled config
//! (`spec/policies.md`, `spec/rbac.md`, `spec/validations.md`), and the compiler of a policy's
//! `condition_json` into a condition tree over columns.
//!
//! The control plane compiles every condition once, resolving field names to columns and typing
//! fixed values for their column; workers turn the tree into a row predicate of the query
//! planner, bound with the caller, and render it into the statement that reads or writes rows.

use crate::value::coerce_text;
use crate::FieldType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A data action a policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `POST …/data/{c}`
    Create,
    /// `GET …/data/{c}/{id}` (and expansions of `c`)
    Read,
    /// `PATCH …/data/{c}/{id}`
    Update,
    /// `DELETE …/data/{c}/{id}`
    Delete,
    /// `GET …/data/{c}` (and aggregates)
    List,
}

impl Action {
    /// Every action, in the contract's order.
    pub const ALL: [Action; 5] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Delete,
        Self::List,
    ];

    /// Parses a contract name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::List => "list",
        }
    }
}

/// The kind of caller a policy may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A member admin (always allowed; listed for completeness).
    AdminUser,
    /// A signed-in app user of the project.
    AppUser,
    /// An API key of the project.
    ApiKey,
    /// Nobody.
    Anonymous,
}

impl PrincipalKind {
    /// Every kind, in the contract's order.
    pub const ALL: [PrincipalKind; 4] = [
        Self::AdminUser,
        Self::AppUser,
        Self::ApiKey,
        Self::Anonymous,
    ];

    /// What a policy without `allowed_principals` names.
    pub const DEFAULT: [PrincipalKind; 2] = [Self::AdminUser, Self::ApiKey];

    /// Parses a contract name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdminUser => "admin_user",
            Self::AppUser => "app_user",
            Self::ApiKey => "api_key",
            Self::Anonymous => "anonymous",
        }
    }

    /// Parses `allowed_principals` (comma list; null or empty means the default). `Err` names the
    /// first unknown entry.
    pub fn parse_list(raw: Option<&str>) -> Result<Vec<Self>, String> {
        let items: Vec<&str> = raw
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(Self::DEFAULT.to_vec());
        }
        items
            .into_iter()
            .map(|s| Self::parse(s).ok_or_else(|| s.to_owned()))
            .collect()
    }
}

/// Parses `allowed_roles` (comma list of role names). Null or the empty string means no role
/// restriction (`None`); anything else is the list of its trimmed, non-empty names, which may be
/// empty (`","`, `" , "`): such a policy admits no app user, as a role nobody holds would.
pub fn parse_roles(raw: Option<&str>) -> Option<Vec<String>> {
    let raw = raw.filter(|r| !r.is_empty())?;
    Some(
        raw.split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// An active policy of a collection, compiled. A collection's policies travel ordered as they
/// are evaluated: `priority` descending, then creation order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// Catalog id.
    pub id: Uuid,
    /// Name (for logs).
    pub name: String,
    /// The action it governs.
    pub action: Action,
    /// `effect == "allow"`.
    pub allow: bool,
    /// The caller kinds it applies to (defaults resolved).
    pub principals: Vec<PrincipalKind>,
    /// Applies only to callers with a verified email (never API keys or anonymous).
    pub require_email_verified: bool,
    /// Role names an app user must hold one of; `None`: no restriction. A list left empty by
    /// its commas (`","`) is `Some([])`, which no app user passes (see [`parse_roles`]).
    pub roles: Option<Vec<String>>,
    /// The compiled `condition_json` (`Const(true)` when there is none).
    pub condition: Cond,
}

/// A compiled condition: a boolean tree over the record's columns and the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cond {
    /// Always this.
    Const(bool),
    /// The caller is not anonymous.
    Authenticated,
    /// Every one holds (empty: true).
    All(Vec<Cond>),
    /// Any one holds (empty: false).
    Any(Vec<Cond>),
    /// The inner one does not hold.
    Not(Box<Cond>),
    /// `column <op> operand`; false when the column is NULL or the operand undefined for the
    /// caller.
    Compare {
        /// Physical column name.
        column: String,
        /// Comparison.
        op: CmpOp,
        /// The right-hand side.
        operand: Operand,
    },
    /// The column is NULL (`null: true`) or not.
    IsNull {
        /// Physical column name.
        column: String,
        /// Which test.
        null: bool,
    },
}

/// A comparison of a condition leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// substring of the text form
    Contains,
    /// prefix of the text form
    StartsWith,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// A fixed value, already coerced to the column's type (its canonical text).
    Value(String),
    /// The caller's id (admin or app user); undefined for API keys and anonymous.
    UserId,
    /// The app user's id; undefined for everyone else.
    AppUserId,
    /// The caller's email; undefined for API keys and anonymous.
    Email,
    /// The current time.
    Now,
}

/// A project's role, compiled. Beside what access checks need (`id`, `name`, `is_default`) it
/// carries the rest of the contract's `RoleOut`, which workers answer for role assignments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleConfig {
    /// Role id (what assignments store).
    pub id: Uuid,
    /// Role name (what policies name).
    pub name: String,
    /// New app users receive it.
    pub is_default: bool,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Created by `rbac/initialize`: cannot be changed or deleted.
    #[serde(default)]
    pub is_system: bool,
    /// Created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// An active validation rule of a field, compiled. A field's rules travel in evaluation order:
/// `priority` ascending, then creation order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleConfig {
    /// Catalog id.
    pub id: Uuid,
    /// One of [`RULE_TYPES`].
    pub rule_type: String,
    /// The rule's settings (`{"min": 3}`), or null.
    pub config: Option<Value>,
    /// Replaces the default message when set.
    pub error_message: Option<String>,
}

/// Rule types in the contract's order.
pub const RULE_TYPES: [&str; 13] = [
    "min_length",
    "max_length",
    "regex",
    "email",
    "url",
    "min_value",
    "max_value",
    "range",
    "enum",
    "not_empty",
    "uuid",
    "date_format",
    "custom_regex",
];

/// `condition_json` is not a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid condition JSON")]
pub struct InvalidCondition;

/// A column a condition may name: its physical name and the type its values coerce to.
pub type ColumnOf<'a> = &'a dyn Fn(&str) -> Option<(String, FieldType)>;

/// Compiles `condition_json` (spec/policies.md): the typed forms (`authenticated`, `owner`,
/// `app_user_owner`, `field_equals`, `and`, `or`, `not`; an unknown `type` is true), or, without
/// `type`, the console's form (entries AND-ed, `$`-operators, `$current_user_id`,
/// `$current_app_user_id`, `$now`). `column` resolves a field or column name; a name it does not
/// know compares as a NULL value would. Absent or empty: `Const(true)`.
pub fn compile_condition(raw: Option<&str>, column: ColumnOf) -> Result<Cond, InvalidCondition> {
    let raw = raw.unwrap_or_default();
    if raw.trim().is_empty() {
        return Ok(Cond::Const(true));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(o)) => object(&o, column),
        _ => Err(InvalidCondition),
    }
}

/// Checks the shape of `condition_json` without resolving names (policy create and update).
pub fn check_condition(raw: Option<&str>) -> Result<(), InvalidCondition> {
    compile_condition(raw, &|name| Some((name.to_owned(), FieldType::String))).map(|_| ())
}

fn object(o: &Map<String, Value>, column: ColumnOf) -> Result<Cond, InvalidCondition> {
    let Some(t) = o.get("type") else {
        return console(o, column);
    };
    let t = t.as_str().ok_or(InvalidCondition)?;
    let field = |default: Option<&str>| -> Result<String, InvalidCondition> {
        match (o.get("field"), default) {
            (Some(Value::String(f)), _) => Ok(f.clone()),
            (None | Some(Value::Null), Some(d)) => Ok(d.to_owned()),
            _ => Err(InvalidCondition),
        }
    };
    let list = |key: &str| -> Result<Vec<Cond>, InvalidCondition> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|c| match c {
                    Value::Object(c) => object(c, column),
                    _ => Err(InvalidCondition),
                })
                .collect(),
            Some(_) => Err(InvalidCondition),
        }
    };
    const OWNER_FIELD: Option<&str> = Some("created_by_app_user_id");
    Ok(match t {
        "authenticated" => Cond::Authenticated,
        "owner" => compare(column, &field(OWNER_FIELD)?, CmpOp::Eq, Operand::UserId),
        "app_user_owner" => compare(column, &field(OWNER_FIELD)?, CmpOp::Eq, Operand::AppUserId),
        "field_equals" => {
            let name = field(None)?;
            match o.get("value").unwrap_or(&Value::Null) {
                Value::String(s) if s == "principal.user_id" => {
                    compare(column, &name, CmpOp::Eq, Operand::UserId)
                }
                Value::String(s) if s == "principal.email" => {
                    compare(column, &name, CmpOp::Eq, Operand::Email)
                }
                Value::String(s) if s == "principal.app_user_id" => {
                    compare(column, &name, CmpOp::Eq, Operand::AppUserId)
                }
                v => json_equals(column, &name, v),
            }
        }
        "and" => Cond::All(list("conditions")?),
        "or" => Cond::Any(list("conditions")?),
        "not" => match o.get("condition") {
            None | Some(Value::Null) => Cond::Not(Box::new(Cond::All(Vec::new()))),
            Some(Value::Object(c)) => Cond::Not(Box::new(object(c, column)?)),
            Some(_) => return Err(InvalidCondition),
        },
        _ => Cond::Const(true),
    })
}

/// `record[field] == operand` where the operand is the caller's.
fn compare(column: ColumnOf, name: &str, op: CmpOp, operand: Operand) -> Cond {
    match column(name) {
        Some((column, _)) => Cond::Compare {
            column,
            op,
            operand,
        },
        None => Cond::Const(false),
    }
}

/// `record[field] == value` with JSON equality: the types must match (`1` ≠ `"1"`).
fn json_equals(column: ColumnOf, name: &str, v: &Value) -> Cond {
    let Some((column, ty)) = column(name) else {
        // A missing key reads as null.
        return Cond::Const(v.is_null());
    };
    let text = match (ty, v) {
        (_, Value::Null) => return Cond::IsNull { column, null: true },
        // A json field compares as JSON (`jsonb` equality: `{"a":1}` equals `{ "a": 1 }`).
        (FieldType::Json, v) => crate::value::coerce_json(ty, v).ok().flatten(),
        (
            FieldType::String
            | FieldType::Text
            | FieldType::Date
            | FieldType::Datetime
            | FieldType::Uuid,
            Value::String(s),
        ) => coerce_text(ty, s).ok(),
        (FieldType::Int | FieldType::Relation, Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(|i| i.to_string()),
        (FieldType::Float, Value::Number(n)) => n.as_f64().map(|f| f.to_string()),
        (FieldType::Bool, Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    match text {
        Some(value) => Cond::Compare {
            column,
            op: CmpOp::Eq,
            operand: Operand::Value(value),
        },
        None => Cond::Const(false),
    }
}

/// A console entry on a json field: only `$eq`/`$neq` with a literal, compared as JSON (`"gold"`
/// is the JSON string); ordering, text matches and the caller's values cannot apply to a JSON
/// value, so they make the condition invalid (refused when the policy is written).
fn json_entry(
    column: String,
    op: CmpOp,
    operand: Option<Operand>,
    v: &Value,
) -> Result<Cond, InvalidCondition> {
    if operand.is_some() || !matches!(op, CmpOp::Eq | CmpOp::Neq) {
        return Err(InvalidCondition);
    }
    Ok(match crate::value::coerce_json(FieldType::Json, v) {
        Ok(Some(value)) => Cond::Compare {
            column,
            op,
            operand: Operand::Value(value),
        },
        Ok(None) => Cond::IsNull {
            column,
            null: op == CmpOp::Eq,
        },
        Err(_) => Cond::Const(false),
    })
}

/// The console's form: `{"title": "x", "owner": "$current_user_id", "n": {"$gt": "5"}}`.
fn console(o: &Map<String, Value>, column: ColumnOf) -> Result<Cond, InvalidCondition> {
    let mut all = Vec::new();
    for (name, v) in o {
        match v {
            Value::Object(ops) => {
                for (op, v) in ops {
                    let op = match op.as_str() {
                        "$eq" => CmpOp::Eq,
                        "$neq" => CmpOp::Neq,
                        "$gt" => CmpOp::Gt,
                        "$gte" => CmpOp::Gte,
                        "$lt" => CmpOp::Lt,
                        "$lte" => CmpOp::Lte,
                        "$contains" => CmpOp::Contains,
                        "$starts_with" => CmpOp::StartsWith,
                        _ => return Err(InvalidCondition),
                    };
                    all.push(console_entry(column, name, op, v)?);
                }
            }
            v => all.push(console_entry(column, name, CmpOp::Eq, v)?),
        }
    }
    Ok(Cond::All(all))
}

fn console_entry(
    column: ColumnOf,
    name: &str,
    op: CmpOp,
    v: &Value,
) -> Result<Cond, InvalidCondition> {
    let operand = match v {
        Value::String(s) if s == "$current_user_id" => Some(Operand::UserId),
        Value::String(s) if s == "$current_app_user_id" => Some(Operand::AppUserId),
        Value::String(s) if s == "$now" => Some(Operand::Now),
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => None,
        Value::Array(_) | Value::Object(_) => return Err(InvalidCondition),
    };
    let Some((column, ty)) = column(name) else {
        return Ok(Cond::Const(
            v.is_null() && op == CmpOp::Eq && operand.is_none(),
        ));
    };
    if ty == FieldType::Json {
        return json_entry(column, op, operand, v);
    }
    if let Some(operand) = operand {
        return Ok(Cond::Compare {
            column,
            op,
            operand,
        });
    }
    let text = match v {
        Value::Null => {
            return Ok(match op {
                CmpOp::Eq => Cond::IsNull { column, null: true },
                CmpOp::Neq => Cond::IsNull {
                    column,
                    null: false,
                },
                _ => Cond::Const(false),
            })
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // Text matches take the value as given; comparisons coerce it like a query filter does.
    let value = if matches!(op, CmpOp::Contains | CmpOp::StartsWith) {
        Some(text)
    } else {
        coerce_text(ty, &text).ok()
    };
    Ok(match value {
        Some(value) => Cond::Compare {
            column,
            op,
            operand: Operand::Value(value),
        },
        None => Cond::Const(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(name: &str) -> Option<(String, FieldType)> {
        match name {
            "title" => Some(("title".into(), FieldType::String)),
            "n" | "n_col" => Some(("n_col".into(), FieldType::Int)),
            "created_by_app_user_id" => Some((name.into(), FieldType::String)),
            "at" => Some(("at".into(), FieldType::Datetime)),
            "meta" => Some(("meta".into(), FieldType::Json)),
            _ => None,
        }
    }

    #[test]
    fn json_fields_compare_as_json_values_only() {
        let value = |v: &str| Operand::Value(v.into());
        assert_eq!(
            c(r#"{"type":"field_equals","field":"meta","value":{"b":[1,null],"a":"x"}}"#),
            Ok(cmp("meta", CmpOp::Eq, value(r#"{"a":"x","b":[1,null]}"#)))
        );
        assert_eq!(
            c(r#"{"type":"field_equals","field":"meta","value":null}"#),
            Ok(Cond::IsNull {
                column: "meta".into(),
                null: true
            })
        );
        assert_eq!(
            c(r#"{"meta":"gold"}"#),
            Ok(Cond::All(vec![cmp("meta", CmpOp::Eq, value(r#""gold""#))]))
        );
        assert_eq!(
            c(r#"{"meta":{"$neq":5}}"#),
            Ok(Cond::All(vec![cmp("meta", CmpOp::Neq, value("5"))]))
        );
        for bad in [
            r#"{"meta":{"$gt":1}}"#,
            r#"{"meta":{"$contains":"a"}}"#,
            r#"{"meta":{"$starts_with":"a"}}"#,
            r#"{"meta":"$current_user_id"}"#,
            r#"{"meta":{"$lte":"$now"}}"#,
        ] {
            assert_eq!(c(bad), Err(InvalidCondition), "{bad}");
            // Without the field's type (the shape check), the same condition is well formed.
            assert!(check_condition(Some(bad)).is_ok(), "{bad}");
        }
    }

    fn c(raw: &str) -> Result<Cond, InvalidCondition> {
        compile_condition(Some(raw), &columns)
    }

    fn cmp(column: &str, op: CmpOp, operand: Operand) -> Cond {
        Cond::Compare {
            column: column.into(),
            op,
            operand,
        }
    }

    #[test]
    fn role_lists_fail_closed() {
        assert_eq!(parse_roles(None), None);
        assert_eq!(parse_roles(Some("")), None);
        let none: Option<Vec<String>> = Some(vec![]);
        for empty in [",", " , ", " ", ",,", " ,\t, "] {
            assert_eq!(parse_roles(Some(empty)), none, "{empty:?}");
        }
        assert_eq!(
            parse_roles(Some(" editor, ,admin ")),
            Some(vec!["editor".to_owned(), "admin".to_owned()])
        );
    }

    #[test]
    fn typed_forms() {
        assert_eq!(c(r#"{"type":"authenticated"}"#), Ok(Cond::Authenticated));
        assert_eq!(
            c(r#"{"type":"owner"}"#),
            Ok(cmp("created_by_app_user_id", CmpOp::Eq, Operand::UserId))
        );
        assert_eq!(
            c(r#"{"type":"app_user_owner","field":"title"}"#),
            Ok(cmp("title", CmpOp::Eq, Operand::AppUserId))
        );
        assert_eq!(
            c(r#"{"type":"owner","field":"nope"}"#),
            Ok(Cond::Const(false))
        );
        assert_eq!(
            c(r#"{"type":"field_equals","field":"title","value":"principal.email"}"#),
            Ok(cmp("title", CmpOp::Eq, Operand::Email))
        );
        assert_eq!(c(r#"{"type":"mystery"}"#), Ok(Cond::Const(true)));
        assert_eq!(
            c(r#"{"type":"not"}"#),
            Ok(Cond::Not(Box::new(Cond::All(vec![]))))
        );
        assert_eq!(
            c(r#"{"type":"or","conditions":[{"type":"authenticated"}]}"#),
            Ok(Cond::Any(vec![Cond::Authenticated]))
        );
    }

    #[test]
    fn field_equals_is_type_sensitive() {
        let eq = |v: &str| cmp("n_col", CmpOp::Eq, Operand::Value(v.into()));
        assert_eq!(
            c(r#"{"type":"field_equals","field":"n","value":1}"#),
            Ok(eq("1"))
        );
        assert_eq!(
            c(r#"{"type":"field_equals","field":"n","value":"1"}"#),
            Ok(Cond::Const(false))
        );
        assert_eq!(
            c(r#"{"type":"field_equals","field":"title","value":1}"#),
            Ok(Cond::Const(false))
        );
        assert_eq!(
            c(r#"{"type":"field_equals","field":"title","value":null}"#),
            Ok(Cond::IsNull {
                column: "title".into(),
                null: true
            })
        );
        assert_eq!(
            c(r#"{"type":"field_equals","field":"gone","value":null}"#),
            Ok(Cond::Const(true))
        );
    }

    #[test]
    fn console_form() {
        assert_eq!(
            c(r#"{"created_by_app_user_id":"$current_user_id","n":{"$gt":"5"}}"#),
            Ok(Cond::All(vec![
                cmp("created_by_app_user_id", CmpOp::Eq, Operand::UserId),
                cmp("n_col", CmpOp::Gt, Operand::Value("5".into())),
            ]))
        );
        assert_eq!(
            c(r#"{"at":{"$lt":"$now"}}"#),
            Ok(Cond::All(vec![cmp("at", CmpOp::Lt, Operand::Now)]))
        );
        assert_eq!(
            c(r#"{"n":{"$gt":"abc"}}"#),
            Ok(Cond::All(vec![Cond::Const(false)]))
        );
        assert_eq!(c("{}"), Ok(Cond::All(vec![])));
    }

    #[test]
    fn malformed_conditions_are_refused() {
        for raw in [
            "not valid json",
            "[]",
            "true",
            "\"x\"",
            r#"{"type":5}"#,
            r#"{"type":"and","conditions":{}}"#,
            r#"{"type":"and","conditions":[1]}"#,
            r#"{"type":"not","condition":[]}"#,
            r#"{"type":"owner","field":3}"#,
            r#"{"type":"field_equals"}"#,
            r#"{"n":{"$regex":"x"}}"#,
            r#"{"n":[1,2]}"#,
        ] {
            assert_eq!(c(raw), Err(InvalidCondition), "{raw}");
            assert_eq!(check_condition(Some(raw)), Err(InvalidCondition), "{raw}");
        }
        assert_eq!(compile_condition(None, &columns), Ok(Cond::Const(true)));
        assert_eq!(
            compile_condition(Some(" "), &columns),
            Ok(Cond::Const(true))
        );
        assert!(check_condition(Some(r#"{"anything":"goes"}"#)).is_ok());
    }

    #[test]
    fn principal_lists() {
        assert_eq!(
            PrincipalKind::parse_list(None),
            Ok(PrincipalKind::DEFAULT.to_vec())
        );
        assert_eq!(
            PrincipalKind::parse_list(Some("")),
            Ok(PrincipalKind::DEFAULT.to_vec())
        );
        assert_eq!(
            PrincipalKind::parse_list(Some(" app_user , anonymous")),
            Ok(vec![PrincipalKind::AppUser, PrincipalKind::Anonymous])
        );
        assert_eq!(
            PrincipalKind::parse_list(Some("app_user,root")),
            Err("root".into())
        );
    }
}
