//! The filters of `GET …/audit/events` and its export (`spec/audit.md`), read from the query
//! string and rendered as SQL with bound values. The contract's names (`collection_id`,
//! `start_date`, `end_date`, `search`, `actor_type`) and the longer forms (`collection` by name,
//! `actor_user_id`, `actor_app_user_id`, `actor_api_key_id`, `since`, `until`, `q`) are both taken.

use chrono::{DateTime, NaiveDate, Utc};
use model::error_body::validation_item;
use model::ProjectConfig;
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// Largest page.
pub const MAX_LIMIT: i64 = 1000;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: i64 = 100;

/// Why the filters were refused.
#[derive(Debug)]
pub enum FilterError {
    /// 422 items.
    Invalid(Vec<Value>),
    /// 400: a collection name that is not one of the project's.
    UnknownCollection(String),
}

/// Filters of a listing, checked.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// `None` inside: a value that can match nothing (a malformed id).
    collection_id: Option<Option<Uuid>>,
    record_id: Option<String>,
    action: Option<String>,
    actor_user_id: Option<Option<Uuid>>,
    actor_api_key_id: Option<Option<Uuid>>,
    actor_app_user_id: Option<String>,
    /// The column that must be set (`actor_type`).
    actor_column: Option<&'static str>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    search: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// An ISO 8601 time or date; a date alone is its midnight (UTC).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

impl AuditFilter {
    /// Reads the query string. `limit` must be 1–1000 and `offset` ≥ 0 (422 otherwise); the
    /// contract's `start_date`/`end_date` are ignored when unparsable, `since`/`until` are not.
    pub fn parse(config: &ProjectConfig, params: &[(String, String)]) -> Result<Self, FilterError> {
        let mut f = AuditFilter {
            limit: DEFAULT_LIMIT,
            ..Default::default()
        };
        let mut errors = Vec::new();
        let mut bad = |key: &str, kind: &str, msg: &str, input: &str| {
            errors.push(validation_item(
                kind,
                &["query", key],
                msg,
                Value::String(input.into()),
            ));
        };
        for (key, value) in params {
            if value.contains('\0') {
                bad(
                    key,
                    "string_nul",
                    "Value should not contain NUL characters",
                    value,
                );
                continue;
            }
            let v = value.clone();
            match key.as_str() {
                "collection_id" => f.collection_id = Some(Uuid::parse_str(&v).ok()),
                "collection" => match config.collection(&v) {
                    Some(c) => f.collection_id = Some(Some(c.id)),
                    None => return Err(FilterError::UnknownCollection(v)),
                },
                "record_id" => f.record_id = Some(v),
                "action" => f.action = Some(v),
                "actor_user_id" => f.actor_user_id = Some(Uuid::parse_str(&v).ok()),
                "actor_api_key_id" => f.actor_api_key_id = Some(Uuid::parse_str(&v).ok()),
                "actor_app_user_id" => f.actor_app_user_id = Some(v),
                "actor_type" => {
                    f.actor_column = match v.as_str() {
                        "admin_user" => Some("actor_user_id"),
                        "app_user" => Some("actor_app_user_id"),
                        "api_key" => Some("actor_api_key_id"),
                        _ => None,
                    }
                }
                "start_date" => f.since = parse_time(&v).or(f.since),
                "end_date" => f.until = parse_time(&v).or(f.until),
                "since" | "until" => match parse_time(&v) {
                    Some(t) if key == "since" => f.since = Some(t),
                    Some(t) => f.until = Some(t),
                    None => bad(
                        key,
                        "datetime_parsing",
                        "Input should be an ISO 8601 date or time",
                        &v,
                    ),
                },
                "search" | "q" => f.search = Some(v).filter(|s| !s.is_empty()),
                "limit" => match v.parse::<i64>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => f.limit = n,
                    Ok(n) if n < 1 => bad(
                        key,
                        "greater_than_equal",
                        "Input should be greater than or equal to 1",
                        &v,
                    ),
                    Ok(_) => bad(
                        key,
                        "less_than_equal",
                        "Input should be less than or equal to 1000",
                        &v,
                    ),
                    Err(_) => bad(key, "int_parsing", "Input should be a valid integer", &v),
                },
                "offset" => match v.parse::<i64>() {
                    Ok(n) if n >= 0 => f.offset = n,
                    Ok(_) => bad(
                        key,
                        "greater_than_equal",
                        "Input should be greater than or equal to 0",
                        &v,
                    ),
                    Err(_) => bad(key, "int_parsing", "Input should be a valid integer", &v),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(FilterError::Invalid(errors))
        }
    }

    /// ` WHERE …` (always present) with every value bound.
    pub fn push_where(&self, qb: &mut QueryBuilder<'_, Postgres>) {
        qb.push(" WHERE true");
        let eq_uuid =
            |qb: &mut QueryBuilder<'_, Postgres>, col: &str, v: &Option<Option<Uuid>>| match v {
                None => {}
                Some(Some(id)) => {
                    qb.push(format_args!(" AND e.\"{col}\" = ")).push_bind(*id);
                }
                Some(None) => {
                    qb.push(" AND false");
                }
            };
        eq_uuid(qb, "collection_id", &self.collection_id);
        eq_uuid(qb, "actor_user_id", &self.actor_user_id);
        eq_uuid(qb, "actor_api_key_id", &self.actor_api_key_id);
        for (col, v) in [
            ("record_id", &self.record_id),
            ("action", &self.action),
            ("actor_app_user_id", &self.actor_app_user_id),
        ] {
            if let Some(v) = v {
                qb.push(format_args!(" AND e.\"{col}\" = "))
                    .push_bind(v.clone());
            }
        }
        if let Some(col) = self.actor_column {
            qb.push(format_args!(" AND e.\"{col}\" IS NOT NULL"));
        }
        if let Some(t) = self.since {
            qb.push(" AND e.\"created_at\" >= ").push_bind(t);
        }
        if let Some(t) = self.until {
            qb.push(" AND e.\"created_at\" <= ").push_bind(t);
        }
        if let Some(s) = &self.search {
            let pattern = format!(
                "%{}%",
                s.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            qb.push(" AND (e.\"record_id\" ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR e.\"new_data_json\" ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR e.\"old_data_json\" ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR e.\"ip_address\" ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> ProjectConfig {
        serde_json::from_value(json!({
            "project_id": Uuid::new_v4(), "version": 1, "name": "p", "db_schema": "s",
            "db_role": "r", "admin_token_key": "k", "members": [], "collections": []
        }))
        .unwrap()
    }

    fn parse(q: &[(&str, &str)]) -> Result<AuditFilter, FilterError> {
        let params: Vec<(String, String)> =
            q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        AuditFilter::parse(&config(), &params)
    }

    fn sql(f: &AuditFilter) -> String {
        let mut qb = QueryBuilder::new("SELECT 1 FROM t e");
        f.push_where(&mut qb);
        qb.sql().to_owned()
    }

    #[test]
    fn limits_and_offsets_are_checked() {
        for bad in [
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "x"),
            ("offset", "-1"),
            ("since", "yesterday"),
        ] {
            assert!(
                matches!(parse(&[bad]), Err(FilterError::Invalid(_))),
                "{bad:?}"
            );
        }
        let f = parse(&[("limit", "1000"), ("offset", "0")]).unwrap();
        assert_eq!((f.limit, f.offset), (1000, 0));
        // The contract's dates are ignored when unparsable.
        assert!(parse(&[("start_date", "soon")]).unwrap().since.is_none());
        assert!(matches!(
            parse(&[("collection", "nope")]),
            Err(FilterError::UnknownCollection(_))
        ));
    }

    #[test]
    fn values_are_bound_and_malformed_ids_match_nothing() {
        let f = parse(&[
            ("action", "create' OR 1=1 --"),
            ("search", "50%_off"),
            ("actor_type", "api_key"),
            ("collection_id", "not-a-uuid"),
            ("start_date", "2026-01-01"),
        ])
        .unwrap();
        let s = sql(&f);
        assert!(!s.contains("OR 1=1") && !s.contains("50%"), "{s}");
        assert!(
            s.contains("AND false") && s.contains("\"actor_api_key_id\" IS NOT NULL"),
            "{s}"
        );
        assert_eq!(f.search.as_deref(), Some("50%_off"));
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
    }
}
