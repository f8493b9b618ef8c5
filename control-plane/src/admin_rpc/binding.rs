//! Each RPC's REST route, read from its `google.api.http` annotation in the descriptor: the
//! method, the path template whose `{names}` are request fields, which request field is the body,
//! and which response field the REST answer fills.

use http::Method;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

/// One piece of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text as it stands (`/api/projects/`).
    Literal(String),
    /// A request field's value, percent-encoded as one path segment.
    Field(String),
}

/// What the REST request's JSON body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body: every field not in the path is a query parameter.
    None,
    /// Every field not in the path (`body: "*"`).
    All,
    /// One field of the request (`body: "collection"`).
    Field(String),
}

/// An RPC and the REST route it maps onto.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The RPC.
    pub method: MethodDescriptor,
    /// The REST method.
    pub verb: Method,
    /// The REST path template, exactly as the admin API's route table spells it.
    pub template: String,
    /// The template cut into literals and fields.
    pub segments: Vec<Segment>,
    /// The request body.
    pub body: Body,
    /// The response field that the REST answer fills (`None`: the whole response).
    pub response_body: Option<String>,
}

/// The bindings of every method of `service` in `pool`; an RPC without an annotation is an error
/// (the descriptor is ours: a missing one is caught by the tests).
pub fn read(pool: &DescriptorPool, service: &str) -> Result<Vec<Binding>, String> {
    let ext = pool
        .get_extension_by_name("google.api.http")
        .ok_or("the descriptor set lacks google.api.http")?;
    let service = pool
        .get_service_by_name(service)
        .ok_or_else(|| format!("the descriptor set lacks {service}"))?;
    service
        .methods()
        .map(|method| {
            let options = method.options();
            if !options.has_extension(&ext) {
                return Err(format!("{} has no google.api.http rule", method.name()));
            }
            match options.get_extension(&ext).as_ref() {
                Value::Message(rule) => binding(method.clone(), rule),
                _ => Err(format!(
                    "{}: google.api.http is not a message",
                    method.name()
                )),
            }
        })
        .collect()
}

fn text(rule: &DynamicMessage, name: &str) -> String {
    rule.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn binding(method: MethodDescriptor, rule: &DynamicMessage) -> Result<Binding, String> {
    let verbs = [
        ("get", Method::GET),
        ("post", Method::POST),
        ("put", Method::PUT),
        ("patch", Method::PATCH),
        ("delete", Method::DELETE),
    ];
    let (verb, template) = verbs
        .into_iter()
        .find(|(name, _)| rule.has_field_by_name(name))
        .map(|(name, verb)| (verb, text(rule, name)))
        .ok_or_else(|| format!("{}: the rule names no HTTP method", method.name()))?;
    let segments = segments(&template)?;
    let input = method.input();
    for s in &segments {
        if let Segment::Field(f) = s {
            let field = input
                .get_field_by_name(f)
                .ok_or_else(|| format!("{}: the path names {f}, not a field", method.name()))?;
            if field.kind() != prost_reflect::Kind::String || field.is_list() {
                return Err(format!("{}: path field {f} is not a string", method.name()));
            }
        }
    }
    let body = match text(rule, "body").as_str() {
        "" => Body::None,
        "*" => Body::All,
        f if input.get_field_by_name(f).is_some() => Body::Field(f.to_owned()),
        f => return Err(format!("{}: body {f} is not a field", method.name())),
    };
    let response_body = Some(text(rule, "response_body")).filter(|f| !f.is_empty());
    if let Some(f) = &response_body {
        if method.output().get_field_by_name(f).is_none() {
            return Err(format!(
                "{}: response_body {f} is not a field",
                method.name()
            ));
        }
    }
    Ok(Binding {
        method,
        verb,
        template,
        segments,
        body,
        response_body,
    })
}

/// `/a/{x}/b` → `[Literal("/a/"), Field("x"), Literal("/b")]`.
fn segments(template: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| format!("unclosed brace in {template}"))?;
        if open > 0 {
            out.push(Segment::Literal(rest[..open].to_owned()));
        }
        out.push(Segment::Field(rest[open + 1..close].to_owned()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_cut_into_literals_and_fields() {
        assert_eq!(
            segments("/api/projects/{project_id}/api-keys/{api_key_id}/revoke").unwrap(),
            vec![
                Segment::Literal("/api/projects/".into()),
                Segment::Field("project_id".into()),
                Segment::Literal("/api-keys/".into()),
                Segment::Field("api_key_id".into()),
                Segment::Literal("/revoke".into()),
            ]
        );
        assert_eq!(
            segments("/api/projects").unwrap(),
            vec![Segment::Literal("/api/projects".into())]
        );
        assert!(segments("/a/{b").is_err());
    }
}
