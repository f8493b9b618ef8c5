//! View request bodies: their shape (422 with the contract's item list) and the business rules
//! of `spec/views.md` (400: filter and join counts, operators, columns, limits). Pure: the
//! handlers supply the catalog.

use crate::db::catalog::Field;
use crate::db::views::{Definition, FilterDef, JoinDef, SortDef};
use crate::http::body::{Fields, JsonObject};
use crate::http::error::ApiError;
use crate::names::SYSTEM_COLUMNS;
use model::ViewOperator;
use serde_json::{json, Map, Value};

/// Most filters a view may have.
pub const MAX_FILTERS: usize = 20;
/// Most joins a view may have.
pub const MAX_JOINS: usize = 1;
/// Hard cap of `default_limit` and `max_limit`.
pub const LIMIT_CAP: i64 = 1000;

/// A checked `POST …/views` body. Empty lists and objects are already `None`.
pub struct CreateRequest {
    /// Name (length checked; the slug rule is the handler's 400).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Base collection id as sent.
    pub base_collection_id: String,
    /// Description.
    pub description: Option<String>,
    /// Projection, filters, sorts, joins, params schema.
    pub def: Definition,
    /// As sent (checked by [`limits`]).
    pub default_limit: i64,
    /// As sent (checked by [`limits`]).
    pub max_limit: i64,
}

/// A change of one definition part: `None` = not given, `Some(None)` = clear, `Some(Some(v))` = set.
pub type Change<T> = Option<Option<T>>;

/// A checked `PATCH …/views/{name}` body.
#[derive(Default)]
pub struct UpdateRequest {
    /// New display name (`None` when absent, null or empty).
    pub display_name: Option<String>,
    /// New description (`None` when absent or null).
    pub description: Option<String>,
    /// Projection change (`[]` clears).
    pub projection: Change<Vec<String>>,
    /// Filters change (`[]` clears).
    pub filters: Change<Vec<FilterDef>>,
    /// Sorts change (`[]` clears).
    pub sorts: Change<Vec<SortDef>>,
    /// Joins change (`[]` clears).
    pub joins: Change<Vec<JoinDef>>,
    /// Params schema change (`{}` clears).
    pub params_schema: Change<Value>,
}

impl UpdateRequest {
    /// Applies the changes to a definition.
    pub fn apply(self, def: &mut Definition) {
        fn set<T>(slot: &mut Option<T>, change: Change<T>) {
            if let Some(v) = change {
                *slot = v;
            }
        }
        set(&mut def.projection, self.projection);
        set(&mut def.filters, self.filters);
        set(&mut def.sorts, self.sorts);
        set(&mut def.joins, self.joins);
        set(&mut def.params_schema, self.params_schema);
    }
}

/// Reads a `POST …/views` body.
pub fn create(body: JsonObject) -> Result<CreateRequest, ApiError> {
    let map = body.0.clone();
    let mut f = Fields::new(body);
    let name = f.string("name", 1, 63);
    let display_name = f.string("display_name", 1, 255);
    let base = f.string("base_collection_id", 0, usize::MAX);
    let description = f.opt_string("description", usize::MAX);
    let mut r = Reader::default();
    let def = r.definition(&map);
    let default_limit = r.int(&map, "default_limit", 100);
    let max_limit = r.int(&map, "max_limit", LIMIT_CAP);
    finish(f, r)?;
    Ok(CreateRequest {
        name: name.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
        base_collection_id: base.unwrap_or_default(),
        description,
        def: Definition {
            projection: def.projection.flatten(),
            filters: def.filters.flatten(),
            sorts: def.sorts.flatten(),
            joins: def.joins.flatten(),
            params_schema: def.params_schema.flatten(),
        },
        default_limit,
        max_limit,
    })
}

/// Reads a `PATCH …/views/{name}` body.
pub fn update(body: JsonObject) -> Result<UpdateRequest, ApiError> {
    let map = body.0.clone();
    let mut f = Fields::new(body);
    let display_name = f.opt_string("display_name", 255);
    let description = f.opt_string("description", usize::MAX);
    let mut r = Reader::default();
    let def = r.definition(&map);
    finish(f, r)?;
    Ok(UpdateRequest {
        display_name: display_name.filter(|d| !d.is_empty()),
        description,
        ..def
    })
}

/// Every 422 item of both readers, or `Ok`.
fn finish(f: Fields, r: Reader) -> Result<(), ApiError> {
    let mut items = f.finish().err().unwrap_or_default();
    items.extend(r.errors);
    if items.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(items))
    }
}

/// Reads the non-string parts of a body, collecting 422 items (locations may hold indexes).
#[derive(Default)]
struct Reader {
    errors: Vec<Value>,
}

/// A location inside the body, e.g. `["body", "filters", 0, "field"]`.
fn loc(path: &[Value], key: &str) -> Vec<Value> {
    let mut l = path.to_vec();
    l.push(Value::from(key));
    l
}

impl Reader {
    fn error(&mut self, loc: Vec<Value>, kind: &str, msg: &str, input: &Value) {
        self.errors
            .push(json!({ "type": kind, "loc": loc, "msg": msg, "input": input }));
    }

    /// The five definition parts as changes: absent or null → `None`, empty → `Some(None)`.
    fn definition(&mut self, map: &Map<String, Value>) -> UpdateRequest {
        let body = [Value::from("body")];
        UpdateRequest {
            projection: self.list(map, &body, "projection", |r, v, at| r.string(v, at)),
            filters: self.list(map, &body, "filters", Self::filter),
            sorts: self.list(map, &body, "sorts", Self::sort),
            joins: self.list(map, &body, "joins", Self::join),
            params_schema: match map.get("params_schema") {
                None | Some(Value::Null) => None,
                Some(Value::Object(o)) if o.is_empty() => Some(None),
                Some(v @ Value::Object(_)) => Some(Some(v.clone())),
                Some(v) => {
                    let at = loc(&body, "params_schema");
                    self.error(at, "dict_type", "Input should be a valid dictionary", v);
                    None
                }
            },
            ..UpdateRequest::default()
        }
    }

    /// An optional list whose items `item` reads.
    fn list<T>(
        &mut self,
        map: &Map<String, Value>,
        path: &[Value],
        key: &str,
        item: impl Fn(&mut Self, &Value, Vec<Value>) -> Option<T>,
    ) -> Change<Vec<T>> {
        let at = loc(path, key);
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let read: Vec<Option<T>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let mut item_at = at.clone();
                        item_at.push(Value::from(i));
                        item(self, v, item_at)
                    })
                    .collect();
                let read: Option<Vec<T>> = read.into_iter().collect();
                read.map(|list| (!list.is_empty()).then_some(list))
            }
            Some(v) => {
                self.error(at, "list_type", "Input should be a valid list", v);
                None
            }
        }
    }

    fn string(&mut self, v: &Value, at: Vec<Value>) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(at, "string_type", "Input should be a valid string", other);
                None
            }
        }
    }

    /// A required string key of an item.
    fn req_string(&mut self, obj: &Map<String, Value>, at: &[Value], key: &str) -> Option<String> {
        match obj.get(key) {
            None => {
                let input = Value::Object(obj.clone());
                self.error(loc(at, key), "missing", "Field required", &input);
                None
            }
            Some(v) => self.string(v, loc(at, key)),
        }
    }

    /// An optional string key of an item (absent or null → `None`); `Err` when invalid.
    fn opt_string(
        &mut self,
        obj: &Map<String, Value>,
        at: &[Value],
        key: &str,
    ) -> Result<Option<String>, ()> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string(v, loc(at, key)).map(Some).ok_or(()),
        }
    }

    /// A string key with a default.
    fn string_or(
        &mut self,
        obj: &Map<String, Value>,
        at: &[Value],
        key: &str,
        default: &str,
    ) -> Option<String> {
        match obj.get(key) {
            None => Some(default.to_owned()),
            Some(v) => self.string(v, loc(at, key)),
        }
    }

    /// A boolean key with a default.
    fn bool(&mut self, obj: &Map<String, Value>, at: &[Value], key: &str) -> Option<bool> {
        match obj.get(key) {
            None => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => {
                self.error(
                    loc(at, key),
                    "bool_type",
                    "Input should be a valid boolean",
                    v,
                );
                None
            }
        }
    }

    /// An item that must be an object.
    fn object<'v>(&mut self, v: &'v Value, at: &[Value]) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                let msg = "Input should be a valid dictionary or object to extract fields from";
                self.error(at.to_vec(), "model_type", msg, other);
                None
            }
        }
    }

    fn filter(&mut self, v: &Value, at: Vec<Value>) -> Option<FilterDef> {
        let o = self.object(v, &at)?;
        let field = self.req_string(o, &at, "field");
        let operator = self.req_string(o, &at, "operator");
        let is_param = self.bool(o, &at, "is_param");
        let param_name = self.opt_string(o, &at, "param_name");
        Some(FilterDef {
            field: field?,
            operator: operator?,
            value: o.get("value").cloned().unwrap_or(Value::Null),
            is_param: is_param?,
            param_name: param_name.ok()?,
        })
    }

    fn sort(&mut self, v: &Value, at: Vec<Value>) -> Option<SortDef> {
        let o = self.object(v, &at)?;
        let field = self.req_string(o, &at, "field");
        let desc = self.bool(o, &at, "desc");
        let is_param = self.bool(o, &at, "is_param");
        let param_name = self.opt_string(o, &at, "param_name");
        let desc_is_param = self.bool(o, &at, "desc_is_param");
        let desc_param_name = self.opt_string(o, &at, "desc_param_name");
        Some(SortDef {
            field: field?,
            desc: desc?,
            is_param: is_param?,
            param_name: param_name.ok()?,
            desc_is_param: desc_is_param?,
            desc_param_name: desc_param_name.ok()?,
        })
    }

    fn join(&mut self, v: &Value, at: Vec<Value>) -> Option<JoinDef> {
        let o = self.object(v, &at)?;
        let collection_id = self.req_string(o, &at, "collection_id");
        let on_field = self.req_string(o, &at, "on_field");
        let target_field = self.string_or(o, &at, "target_field", "id");
        let kind = self.string_or(o, &at, "type", "left");
        Some(JoinDef {
            collection_id: collection_id?,
            on_field: on_field?,
            target_field: target_field?,
            kind: kind?,
        })
    }

    /// An integer key with a default (integral floats and numeric strings are accepted).
    fn int(&mut self, map: &Map<String, Value>, key: &str, default: i64) -> i64 {
        let at = vec![Value::from("body"), Value::from(key)];
        match map.get(key) {
            None => default,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => i,
                None => match n.as_f64() {
                    Some(x) if x.fract() == 0.0 && x.abs() < 9.0e18 => x as i64,
                    _ => {
                        let msg = "Input should be a valid integer";
                        self.error(at, "int_from_float", msg, &Value::Number(n.clone()));
                        default
                    }
                },
            },
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                s.trim().parse().unwrap_or(default)
            }
            Some(v @ Value::String(_)) => {
                let msg = "Input should be a valid integer, unable to parse string as an integer";
                self.error(at, "int_parsing", msg, v);
                default
            }
            Some(v) => {
                self.error(at, "int_type", "Input should be a valid integer", v);
                default
            }
        }
    }
}

/// Filter count, join count, then each filter's operator (`spec/views.md` check order).
pub fn check_rules(
    filters: Option<&[FilterDef]>,
    joins: Option<&[JoinDef]>,
) -> Result<(), ApiError> {
    if filters.is_some_and(|f| f.len() > MAX_FILTERS) {
        return Err(ApiError::BadRequest(format!(
            "Too many filters. Maximum is {MAX_FILTERS}"
        )));
    }
    if joins.is_some_and(|j| j.len() > MAX_JOINS) {
        return Err(ApiError::BadRequest(format!(
            "Too many joins. Maximum is {MAX_JOINS} in v1"
        )));
    }
    for f in filters.unwrap_or_default() {
        if ViewOperator::parse(&f.operator).is_none() {
            return Err(ApiError::BadRequest(format!(
                "Invalid operator: {}",
                f.operator
            )));
        }
    }
    Ok(())
}

/// The columns a view of a collection may name: its active, visible fields and the system
/// columns.
pub fn columns(fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| !f.is_deleted && !f.is_hidden)
        .map(|f| f.name.clone())
        .chain(SYSTEM_COLUMNS.iter().map(|c| (*c).to_owned()))
        .collect()
}

/// The names of the active `json` fields (views filter them only by JSON equality, containment
/// or null tests, and never sort by them).
pub fn json_columns(fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| !f.is_deleted && !f.is_hidden && f.field_type == "json")
        .map(|f| f.name.clone())
        .collect()
}

/// Refuses a sort by a `json` field, and a filter on one with an operator a JSON value cannot
/// take (ordering, lists, text matches).
pub fn check_json_columns(
    filters: Option<&[FilterDef]>,
    sorts: Option<&[SortDef]>,
    json: &[String],
) -> Result<(), ApiError> {
    let is_json = |name: &str| json.iter().any(|j| j == name);
    if let Some(bad) = sorts.unwrap_or_default().iter().find(|s| is_json(&s.field)) {
        return Err(ApiError::BadRequest(format!(
            "Cannot sort by json field '{}'",
            bad.field
        )));
    }
    for f in filters
        .unwrap_or_default()
        .iter()
        .filter(|f| is_json(&f.field))
    {
        let ok = matches!(
            ViewOperator::parse(&f.operator),
            Some(
                ViewOperator::Eq
                    | ViewOperator::Ne
                    | ViewOperator::Contains
                    | ViewOperator::IsNull
                    | ViewOperator::IsNotNull
            )
        );
        if !ok {
            return Err(ApiError::BadRequest(format!(
                "Operator '{}' cannot be used on json field '{}' (use =, !=, contains, is_null or is_not_null)",
                f.operator, f.field
            )));
        }
    }
    Ok(())
}

/// Every projection, filter and sort column must be one of `columns`.
pub fn check_columns(
    projection: Option<&[String]>,
    filters: Option<&[FilterDef]>,
    sorts: Option<&[SortDef]>,
    columns: &[String],
) -> Result<(), ApiError> {
    let known = |name: &str| columns.iter().any(|c| c == name);
    let unknown = |what: &str, name: &str| {
        ApiError::BadRequest(format!(
            "Unknown {what} field: {name} (not a column of the base collection)"
        ))
    };
    if let Some(bad) = projection.unwrap_or_default().iter().find(|c| !known(c)) {
        return Err(unknown("projection", bad));
    }
    if let Some(bad) = filters
        .unwrap_or_default()
        .iter()
        .find(|f| !known(&f.field))
    {
        return Err(unknown("filter", &bad.field));
    }
    if let Some(bad) = sorts.unwrap_or_default().iter().find(|s| !known(&s.field)) {
        return Err(unknown("sort", &bad.field));
    }
    Ok(())
}

/// Checks and caps `default_limit` and `max_limit`: each at least 1, at most [`LIMIT_CAP`].
pub fn limits(default_limit: i64, max_limit: i64) -> Result<(i64, i64), ApiError> {
    for (name, v) in [("default_limit", default_limit), ("max_limit", max_limit)] {
        if v < 1 {
            return Err(ApiError::BadRequest(format!("{name} must be at least 1")));
        }
    }
    Ok((default_limit.min(LIMIT_CAP), max_limit.min(LIMIT_CAP)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => JsonObject(m),
            _ => unreachable!(),
        }
    }

    fn detail(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("not a 400: {other:?}"),
        }
    }

    fn locs(e: ApiError) -> Vec<Value> {
        match e {
            ApiError::Validation(items) => items.into_iter().map(|i| i["loc"].clone()).collect(),
            other => panic!("not a 422: {other:?}"),
        }
    }

    fn filter(field: &str, op: &str) -> FilterDef {
        FilterDef {
            field: field.into(),
            operator: op.into(),
            value: Value::Null,
            is_param: false,
            param_name: None,
        }
    }

    #[test]
    fn create_fills_defaults_and_nulls_empty_parts() {
        let req = create(body(json!({
            "name": "v", "display_name": "V", "base_collection_id": "x",
            "projection": [], "filters": [{"field": "a", "operator": "="}],
            "sorts": [{"field": "id"}], "joins": [], "params_schema": {}
        })))
        .unwrap();
        assert_eq!(req.def.projection, None);
        assert_eq!(req.def.joins, None);
        assert_eq!(req.def.params_schema, None);
        assert_eq!(req.def.filters, Some(vec![filter("a", "=")]));
        let sort = &req.def.sorts.as_ref().unwrap()[0];
        assert_eq!(
            serde_json::to_value(sort).unwrap(),
            json!({"field": "id", "desc": false, "is_param": false, "param_name": null,
                   "desc_is_param": false, "desc_param_name": null})
        );
        assert_eq!((req.default_limit, req.max_limit), (100, 1000));
        assert_eq!(req.description, None);
    }

    #[test]
    fn create_reports_every_shape_error_with_its_location() {
        let err = create(body(json!({
            "display_name": "", "base_collection_id": 3,
            "filters": [{"field": "a"}, 7], "sorts": {"field": "id"},
            "joins": [{"collection_id": "c", "on_field": "x", "type": 1}],
            "params_schema": [], "default_limit": "ten"
        })))
        .err()
        .unwrap();
        let got = locs(err);
        for want in [
            json!(["body", "name"]),
            json!(["body", "display_name"]),
            json!(["body", "base_collection_id"]),
            json!(["body", "filters", 0, "operator"]),
            json!(["body", "filters", 1]),
            json!(["body", "sorts"]),
            json!(["body", "joins", 0, "type"]),
            json!(["body", "params_schema"]),
            json!(["body", "default_limit"]),
        ] {
            assert!(got.contains(&want), "{want} not in {got:?}");
        }
        assert_eq!(got.len(), 9, "{got:?}");
    }

    #[test]
    fn update_tells_absent_from_clear() {
        let req = update(body(json!({
            "display_name": "", "filters": [], "sorts": null, "params_schema": {},
            "projection": ["a"]
        })))
        .unwrap();
        assert_eq!(req.display_name, None);
        assert_eq!(req.filters, Some(None));
        assert_eq!(req.sorts, None);
        assert_eq!(req.joins, None);
        assert_eq!(req.params_schema, Some(None));
        let mut def = Definition {
            filters: Some(vec![filter("a", "=")]),
            sorts: Some(vec![]),
            params_schema: Some(json!({"p": {}})),
            ..Definition::default()
        };
        req.apply(&mut def);
        assert_eq!(def.filters, None);
        assert_eq!(def.sorts, Some(vec![]));
        assert_eq!(def.params_schema, None);
        assert_eq!(def.projection, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn rules_in_contract_order() {
        let many: Vec<FilterDef> = (0..21).map(|_| filter("a", "bogus")).collect();
        let join = JoinDef {
            collection_id: "c".into(),
            on_field: "x".into(),
            target_field: "id".into(),
            kind: "left".into(),
        };
        let joins = vec![join.clone(), join];
        assert_eq!(
            detail(check_rules(Some(&many), Some(&joins)).unwrap_err()),
            "Too many filters. Maximum is 20"
        );
        assert_eq!(
            detail(check_rules(Some(&many[..20]), Some(&joins)).unwrap_err()),
            "Too many joins. Maximum is 1 in v1"
        );
        assert_eq!(
            detail(check_rules(Some(&many[..1]), Some(&joins[..1])).unwrap_err()),
            "Invalid operator: bogus"
        );
        let ok: Vec<FilterDef> = ViewOperator::ALL
            .iter()
            .map(|op| filter("a", op.as_str()))
            .collect();
        assert!(check_rules(Some(&ok), None).is_ok());
        assert!(check_rules(None, None).is_ok());
    }

    #[test]
    fn columns_are_fields_and_system_columns() {
        let cols: Vec<String> = ["title", "id", "created_at", "created_by_app_user_id"]
            .map(String::from)
            .to_vec();
        let proj = vec!["title".to_owned(), "id".to_owned()];
        let sort = SortDef {
            field: "nope".into(),
            desc: false,
            is_param: false,
            param_name: None,
            desc_is_param: false,
            desc_param_name: None,
        };
        assert!(check_columns(Some(&proj), Some(&[filter("title", "=")]), None, &cols).is_ok());
        let bad = vec!["title".to_owned(), "secret".to_owned()];
        assert!(
            detail(check_columns(Some(&bad), None, None, &cols).unwrap_err())
                .starts_with("Unknown projection field: secret")
        );
        assert!(
            detail(check_columns(None, Some(&[filter("x", "=")]), None, &cols).unwrap_err())
                .starts_with("Unknown filter field: x")
        );
        assert!(
            detail(check_columns(None, None, Some(&[sort]), &cols).unwrap_err())
                .starts_with("Unknown sort field: nope")
        );
    }

    #[test]
    fn limits_are_positive_and_capped() {
        assert_eq!(limits(100, 1000).unwrap(), (100, 1000));
        assert_eq!(limits(5000, 5000).unwrap(), (1000, 1000));
        assert_eq!(
            detail(limits(0, 10).unwrap_err()),
            "default_limit must be at least 1"
        );
        assert_eq!(
            detail(limits(10, -1).unwrap_err()),
            "max_limit must be at least 1"
        );
    }
}
