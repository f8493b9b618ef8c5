use super::CollectionRules;
use model::{CollectionConfig, FieldConfig, FieldType, IdKind, RuleConfig};
use serde_json::{json, Map, Value};
use uuid::Uuid;

fn rule(rule_type: &str, config: Value) -> RuleConfig {
    RuleConfig {
        id: Uuid::new_v4(),
        rule_type: rule_type.into(),
        config: (!config.is_null()).then_some(config),
        error_message: None,
    }
}

fn with_message(mut r: RuleConfig, message: &str) -> RuleConfig {
    r.error_message = Some(message.into());
    r
}

fn field(name: &str, ty: FieldType, rules: Vec<RuleConfig>) -> FieldConfig {
    FieldConfig {
        id: Uuid::new_v4(),
        name: name.into(),
        column: name.into(),
        field_type: ty,
        sql_type: ty.sql_type().into(),
        is_required: false,
        is_hidden: false,
        is_deleted: false,
        is_system: false,
        aliases: vec![],
        relation: None,
        rules,
    }
}

fn rules_of(fields: Vec<FieldConfig>) -> CollectionRules {
    CollectionRules::new(&CollectionConfig {
        id: Uuid::new_v4(),
        name: "order".into(),
        table: "order".into(),
        is_system: false,
        id_kind: IdKind::Int,
        fields,
        aliases: vec![],
        policies: vec![],
    })
}

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// The messages one rule gives for `value` (empty: it passes).
fn messages(r: RuleConfig, value: Value) -> Vec<String> {
    let rules = rules_of(vec![field("f", FieldType::String, vec![r])]);
    match rules.evaluate(&body(json!({ "f": value }))).remove("f") {
        None => vec![],
        Some(Value::Array(m)) => m.iter().map(|m| m.as_str().unwrap().to_owned()).collect(),
        Some(other) => panic!("{other}"),
    }
}

/// Asserts the rule lets every `good` value through and fails every `bad` one with `message`.
fn judge(r: RuleConfig, good: &[Value], bad: &[Value], message: &str) {
    for v in good {
        assert_eq!(messages(r.clone(), v.clone()), Vec::<String>::new(), "{v}");
    }
    for v in bad {
        assert_eq!(messages(r.clone(), v.clone()), vec![message], "{v}");
    }
}

#[test]
fn lengths_count_characters_of_the_string_form() {
    let min = rule("min_length", json!({"min": 3}));
    judge(
        min,
        &[json!("abc"), json!("héé"), json!(123)],
        &[json!("ab"), json!(12), json!("")],
        "Must be at least 3 characters",
    );
    let max = rule("max_length", json!({"max": 5}));
    judge(
        max,
        &[json!("héllo"), json!(true)],
        &[json!("hello!"), json!(123456)],
        "Must be at most 5 characters",
    );
    // Defaults: at least 0, at most 255.
    assert!(messages(rule("min_length", Value::Null), json!("")).is_empty());
    let long = "x".repeat(256);
    assert_eq!(
        messages(rule("max_length", Value::Null), json!(long)),
        ["Must be at most 255 characters"]
    );
}

#[test]
fn patterns_match_a_prefix_and_honour_flags() {
    let prefix = rule("regex", json!({"pattern": "[a-z]+"}));
    judge(
        prefix,
        &[json!("abc"), json!("abc123")],
        &[json!("123abc"), json!("ABC")],
        "Does not match required pattern",
    );
    let total = rule("regex", json!({"pattern": "^[a-z]+$"}));
    judge(
        total,
        &[json!("abc")],
        &[json!("abc123")],
        "Does not match required pattern",
    );
    let ignore_case = rule("regex", json!({"pattern": "[a-z]+$", "flags": "i"}));
    judge(
        ignore_case,
        &[json!("ABC")],
        &[json!("AB1")],
        "Does not match required pattern",
    );
    let custom = rule(
        "custom_regex",
        json!({"pattern": "^SKU-\\d+$", "flags": "mi"}),
    );
    judge(
        custom,
        &[json!("sku-12"), json!("SKU-1\nnext line")],
        &[json!("SKU-"), json!("x\nSKU-1")],
        "Does not match required pattern",
    );
    // An empty pattern matches everything; numbers are matched by their string form.
    assert!(messages(rule("regex", Value::Null), json!("anything")).is_empty());
    assert!(messages(rule("regex", json!({"pattern": "\\d{3}$"})), json!(123)).is_empty());
}

#[test]
fn formats_of_email_url_and_uuid() {
    judge(
        rule("email", Value::Null),
        &[json!("test@example.com"), json!("a.b+c@sub.example.co")],
        &[
            json!("not-an-email"),
            json!("a@b"),
            json!("a@b.c"),
            json!("test@example.com\n"),
            json!(" test@example.com"),
        ],
        "Invalid email format",
    );
    judge(
        rule("url", Value::Null),
        &[json!("https://example.com/a?b=c"), json!("http://x.io")],
        &[
            json!("ftp://example.com"),
            json!("https://"),
            json!("https://exa mple.com"),
            json!("example.com"),
        ],
        "Invalid URL format",
    );
    judge(
        rule("uuid", Value::Null),
        &[
            json!("0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9f"),
            json!("0B5E7B9E-5F4C-4A4E-9D7E-6A3B2C1D0E9F"),
        ],
        &[
            json!("0b5e7b9e5f4c4a4e9d7e6a3b2c1d0e9f"),
            json!("0b5e7b9e-5f4c-4a4e-9d7e-6a3b2c1d0e9"),
            json!("g0000000-0000-0000-0000-000000000000"),
        ],
        "Invalid UUID format",
    );
}

#[test]
fn not_empty_trims() {
    judge(
        rule("not_empty", Value::Null),
        &[json!("x"), json!(0), json!(" y ")],
        &[json!(""), json!("  \t\n")],
        "Cannot be empty",
    );
}

#[test]
fn dates_follow_strftime_formats() {
    let default = rule("date_format", Value::Null);
    judge(
        default,
        &[json!("2024-01-15"), json!("2024-1-5"), json!("2024-02-29")],
        &[
            json!("15/01/2024"),
            json!("2024-02-30"),
            json!("2023-02-29"),
            json!("2024-01-15T10:00"),
            json!("YYYY-MM-DD"),
            json!(""),
        ],
        "Invalid date format, expected %Y-%m-%d",
    );
    let european = rule("date_format", json!({"format": "%d/%m/%Y %H:%M"}));
    judge(
        european,
        &[json!("31/12/2024 23:59")],
        &[json!("31/12/2024 24:00"), json!("12/31/2024 10:00")],
        "Invalid date format, expected %d/%m/%Y %H:%M",
    );
    // What the format leaves out is 1900-01-01 00:00, as strptime has it.
    let time = rule("date_format", json!({"format": "%H:%M"}));
    judge(
        time,
        &[json!("10:30")],
        &[json!("10:61")],
        "Invalid date format, expected %H:%M",
    );
    let month_day = rule("date_format", json!({"format": "%m-%d"}));
    judge(
        month_day,
        &[json!("02-28")],
        &[json!("02-29")],
        "Invalid date format, expected %m-%d",
    );
}

#[test]
fn numbers_compare_inclusively_and_show_as_given() {
    judge(
        rule("min_value", json!({"min": 0.01})),
        &[json!(0.01), json!(5), json!("3")],
        &[json!(0), json!(-1.5), json!(false)],
        "Must be at least 0.01",
    );
    judge(
        rule("max_value", json!({"max": 10})),
        &[json!(10), json!(9.99), json!(true)],
        &[json!(10.5), json!(" 11 ")],
        "Must be at most 10",
    );
    judge(
        rule("max_value", json!({"max": 10.0})),
        &[json!(10)],
        &[json!(11)],
        "Must be at most 10.0",
    );
    judge(
        rule("range", json!({"min": 1, "max": 5})),
        &[json!(1), json!(3), json!(5), json!(4.5)],
        &[json!(0), json!(10), json!(5.01)],
        "Must be between 1 and 5",
    );
    // Defaults are 0.
    judge(
        rule("range", Value::Null),
        &[json!(0)],
        &[json!(1)],
        "Must be between 0 and 0",
    );
    judge(
        rule("max_value", Value::Null),
        &[json!(-1)],
        &[json!(1)],
        "Must be at most 0",
    );
}

#[test]
fn conversion_failures_give_the_reason_or_the_admin_message() {
    let range = rule("range", json!({"min": 1, "max": 5}));
    assert_eq!(
        messages(range.clone(), json!("abc")),
        ["Validation error: could not convert string to float: 'abc'"]
    );
    assert_eq!(
        messages(range.clone(), json!([1])),
        ["Validation error: float() argument must be a string or a real number, not 'list'"]
    );
    assert_eq!(
        messages(with_message(range, "Pick 1 to 5"), json!("abc")),
        ["Pick 1 to 5"]
    );
}

#[test]
fn enum_is_type_sensitive() {
    let statuses = rule(
        "enum",
        json!({"values": ["pending", "shipped", "delivered"]}),
    );
    judge(
        statuses,
        &[json!("pending")],
        &[json!("cancelled"), json!("Pending")],
        "Must be one of: pending, shipped, delivered",
    );
    let mixed = rule("enum", json!({"values": [1, "2", true, 2.5]}));
    judge(
        mixed,
        &[json!(1), json!(1.0), json!("2"), json!(true), json!(2.5)],
        &[json!("1"), json!(2), json!(false), json!("true")],
        "Must be one of: 1, 2, True, 2.5",
    );
    judge(
        rule("enum", Value::Null),
        &[],
        &[json!("x")],
        "Must be one of: ",
    );
}

#[test]
fn the_admin_message_replaces_the_default_unless_empty() {
    let r = with_message(rule("email", Value::Null), "Please give a real address");
    assert_eq!(messages(r, json!("nope")), ["Please give a real address"]);
    let r = with_message(rule("email", Value::Null), "");
    assert_eq!(messages(r, json!("nope")), ["Invalid email format"]);
}

#[test]
fn settings_that_cannot_work_fail_with_a_reason_and_unknown_types_are_ignored() {
    let r = rule("regex", json!({"pattern": "(?=a)"}));
    let m = messages(r, json!("a"));
    assert!(
        m[0].starts_with("Validation error: invalid pattern: ") && m[0].contains("look-around"),
        "{m:?}"
    );
    assert_eq!(
        messages(rule("min_length", json!({"min": "3"})), json!("abcd")),
        ["Validation error: 'min' is not a number"]
    );
    assert_eq!(
        messages(rule("enum", json!({"values": "abc"})), json!("a")),
        ["Validation error: 'values' is not a list"]
    );
    assert_eq!(
        messages(rule("date_format", json!({"format": "%Q"})), json!("a")),
        ["Validation error: '%Q' is not a valid date format"]
    );
    assert!(messages(rule("unique", Value::Null), json!("a")).is_empty());
}

#[test]
fn every_rule_runs_and_nulls_pass() {
    let rules = rules_of(vec![
        field(
            "title",
            FieldType::String,
            vec![
                rule("min_length", json!({"min": 5})),
                rule("regex", json!({"pattern": "[A-Z]"})),
                rule("max_length", json!({"max": 100})),
            ],
        ),
        field(
            "qty",
            FieldType::Int,
            vec![rule("range", json!({"min": 1, "max": 5}))],
        ),
        field(
            "note",
            FieldType::String,
            vec![rule("not_empty", Value::Null)],
        ),
    ]);
    assert!(!rules.is_empty());
    let out = rules.evaluate(&body(json!({"title": "hi", "qty": 10, "note": null})));
    assert_eq!(
        Value::Object(out),
        json!({"title": ["Must be at least 5 characters", "Does not match required pattern"], "qty": ["Must be between 1 and 5"]})
    );
    assert!(rules.evaluate(&body(json!({}))).is_empty());
    assert!(rules
        .evaluate(&body(json!({"title": "Hello World", "qty": 3})))
        .is_empty());
}

#[test]
fn values_are_found_by_column_name_and_former_name() {
    let mut author = field(
        "author",
        FieldType::String,
        vec![rule("email", Value::Null)],
    );
    author.column = "author_email".into();
    author.aliases = vec!["writer".into(), "title".into()];
    let mut gone = field(
        "legacy",
        FieldType::String,
        vec![rule("not_empty", Value::Null)],
    );
    gone.is_deleted = true;
    let title = field("title", FieldType::String, vec![]);
    let rules = rules_of(vec![author, gone, title]);
    let bad = || json!(["Invalid email format"]);
    assert_eq!(
        rules.evaluate(&body(json!({"author_email": "x"})))["author"],
        bad()
    );
    assert_eq!(
        rules.evaluate(&body(json!({"author": "x"})))["author"],
        bad()
    );
    assert_eq!(
        rules.evaluate(&body(json!({"writer": "x"})))["author"],
        bad()
    );
    // `title` is another field's name now; a soft-deleted field's rules no longer run.
    assert!(rules
        .evaluate(&body(json!({"title": "x", "legacy": ""})))
        .is_empty());
    // Two different values for one field: each is checked, each message once.
    let both = rules.evaluate(&body(
        json!({"author_email": "a@b.io", "author": "x", "writer": "y"}),
    ));
    assert_eq!(both["author"], bad());
    assert!(rules
        .evaluate(&body(json!({"author_email": null, "author": "a@b.io"})))
        .is_empty());
}
