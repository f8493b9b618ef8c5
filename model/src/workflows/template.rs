//! Step templates: `{{ trigger.record.title }}`, `{{ steps.h.body.id }}`, `{{ now }}`, rendered
//! by `minijinja`, a sandboxed Jinja engine (no I/O, no code execution), with every run bounded
//! in work (fuel) and output size. A variable that does not exist fails the render.
//!
//! A string that is exactly one `{{ … }}` keeps the type of its value (`"{{ trigger.record.id }}"`
//! gives the number 7); any other string renders to text.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use std::sync::OnceLock;

/// The variables of a render (see [`vars`]).
pub type Vars = minijinja::Value;

/// Most bytes one rendered string may have.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Work one render may do (minijinja instructions).
const FUEL: u64 = 100_000;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env
    })
}

/// Whether `s` holds template syntax.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The expression of a string that is exactly one `{{ … }}`.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%"))
        .then_some(inner.trim())
        .filter(|e| !e.is_empty())
}

fn failed(source: &str, e: &minijinja::Error) -> String {
    let what = match e.kind() {
        minijinja::ErrorKind::UndefinedError => "a variable it names does not exist".to_owned(),
        minijinja::ErrorKind::OutOfFuel => "it does too much work".to_owned(),
        _ => e.to_string(),
    };
    let shown: String = source.chars().take(200).collect();
    format!("template `{shown}` failed: {what}")
}

/// Checks the syntax of every template string inside `v`.
pub fn check_value(v: &Value) -> Result<(), String> {
    match v {
        Value::String(s) if is_template(s) => match sole_expression(s) {
            Some(expr) => env().compile_expression(expr).map(drop),
            None => env().template_from_str(s).map(drop),
        }
        .map_err(|e| format!("template `{s}` is not valid: {e}")),
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Object(o) => o.values().try_for_each(check_value),
        _ => Ok(()),
    }
}

/// Renders one string to text.
pub fn render_str(s: &str, vars: &minijinja::Value) -> Result<String, String> {
    if !is_template(s) {
        return Ok(s.to_owned());
    }
    let out = env().render_str(s, vars).map_err(|e| failed(s, &e))?;
    if out.len() > MAX_OUTPUT {
        return Err(format!(
            "template `{s}` renders to more than {MAX_OUTPUT} bytes"
        ));
    }
    Ok(out)
}

/// Renders every template string inside `v`; a sole `{{ … }}` keeps its value's type.
pub fn render_value(v: &Value, vars: &minijinja::Value) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => match sole_expression(s) {
            Some(expr) => {
                let e = env().compile_expression(expr).map_err(|e| failed(s, &e))?;
                let out = e.eval(vars).map_err(|e| failed(s, &e))?;
                if out.is_undefined() {
                    return Err(failed(
                        s,
                        &minijinja::Error::from(minijinja::ErrorKind::UndefinedError),
                    ));
                }
                let json = serde_json::to_value(&out).map_err(|e| {
                    failed(
                        s,
                        &minijinja::Error::new(
                            minijinja::ErrorKind::BadSerialization,
                            e.to_string(),
                        ),
                    )
                })?;
                if json.to_string().len() > MAX_OUTPUT {
                    return Err(format!(
                        "template `{s}` renders to more than {MAX_OUTPUT} bytes"
                    ));
                }
                json
            }
            None => Value::String(render_str(s, vars)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_value(i, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The variables of a render, from JSON.
pub fn vars(json: &Value) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: Value) -> Result<Value, String> {
        let v = vars(&json!({"trigger": {"record": {"id": 7, "title": "Tea"}},
                             "steps": {"h": {"body": {"id": "abc"}}}, "now": "2026-01-01T00:00:00Z"}));
        render_value(&t, &v)
    }

    #[test]
    fn renders_text_and_keeps_the_type_of_a_sole_value() {
        assert_eq!(
            run(json!("order {{ trigger.record.title }}")),
            Ok(json!("order Tea"))
        );
        assert_eq!(run(json!("{{ trigger.record.id }}")), Ok(json!(7)));
        assert_eq!(
            run(json!({"a": ["{{ steps.h.body.id }}", 1]})),
            Ok(json!({"a": ["abc", 1]}))
        );
        assert_eq!(run(json!("{{ now }}")), Ok(json!("2026-01-01T00:00:00Z")));
        assert_eq!(
            run(json!("{{ trigger.record }}")),
            Ok(json!({"id": 7, "title": "Tea"}))
        );
        assert_eq!(
            run(json!("{{ trigger.record.title | upper }}!")),
            Ok(json!("TEA!"))
        );
    }

    #[test]
    fn a_missing_variable_fails_with_the_template() {
        let e = run(json!("x {{ trigger.record.nope }}")).unwrap_err();
        assert!(
            e.contains("trigger.record.nope") && e.contains("does not exist"),
            "{e}"
        );
        let e = run(json!("{{ steps.q.id }}")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn work_and_output_are_bounded() {
        let e = run(json!(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
        ))
        .unwrap_err();
        assert!(
            e.contains("too much work") || e.contains("more than"),
            "{e}"
        );
        assert!(check_value(&json!({"x": "{{ unclosed"})).is_err());
        assert!(check_value(&json!({"x": "{{ fine }}"})).is_ok());
    }
}
