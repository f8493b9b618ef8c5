//! The connection to `AdminService`: one channel, the bearer token on every call, and errors a
//! person can act on (who could not be reached, which field was wrong, when to log in again).

use proto::AdminServiceClient;
use std::future::Future;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

/// What a person should run when the server does not accept the token.
const LOGIN_HINT: &str =
    "hint: run `backendify login --email <email>`, or pass a valid --token (BACKENDIFY_TOKEN)";

/// Adds `authorization: Bearer <token>` to every request, when there is a token.
#[derive(Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

/// The generated client, with the token interceptor.
pub type Api = AdminServiceClient<InterceptedService<Channel, Bearer>>;

/// Why a call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No channel to the server.
    #[error("could not reach {url}: {reason}\nhint: is the server running there? pass --url (BACKENDIFY_URL)")]
    Unreachable {
        /// The server.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// A command that needs a token, and none was given or saved.
    #[error("not logged in\n{LOGIN_HINT}")]
    NoToken,
    /// The token cannot travel in a header.
    #[error("the token contains characters a header cannot carry")]
    BadToken,
    /// The server answered with an error status.
    #[error("{}", describe(.url, .status))]
    Rpc {
        /// The server.
        url: String,
        /// Its answer.
        status: Status,
    },
}

/// A connected client of one server.
pub struct Client {
    api: Api,
    url: String,
}

impl Client {
    /// Opens a channel to `url`; calls carry `token` when there is one.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Self, Error> {
        let bearer = match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse::<AsciiMetadataValue>()
                    .map_err(|_| Error::BadToken)?,
            ),
            None => None,
        };
        let channel = proto::connect(url).await.map_err(|e| Error::Unreachable {
            url: url.to_owned(),
            reason: chain(&e),
        })?;
        Ok(Self {
            api: AdminServiceClient::with_interceptor(channel, Bearer(bearer)),
            url: url.to_owned(),
        })
    }

    /// Runs one RPC and returns its message:
    /// `client.call(|mut api| async move { api.get_me(GetMeRequest {}).await })`.
    pub async fn call<T, F, Fut>(&self, rpc: F) -> Result<T, Error>
    where
        F: FnOnce(Api) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        match rpc(self.api.clone()).await {
            Ok(res) => Ok(res.into_inner()),
            Err(status) => Err(Error::Rpc {
                url: self.url.clone(),
                status,
            }),
        }
    }
}

/// An error and its causes, `a: b: c`, each said once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ")
}

/// A status as lines for a person: field violations one per line, hints where they help.
fn describe(url: &str, status: &Status) -> String {
    let message = match status.message() {
        "" => status.code().description(),
        m => m,
    };
    match status.code() {
        Code::InvalidArgument => match status.get_details_bad_request() {
            Some(bad) if !bad.field_violations.is_empty() => {
                let mut out = String::from("invalid request:");
                for v in &bad.field_violations {
                    let field = if v.field.is_empty() {
                        "request"
                    } else {
                        &v.field
                    };
                    out.push_str(&format!("\n  {field}: {}", v.description));
                }
                out
            }
            _ => format!("invalid request: {message}"),
        },
        Code::Unauthenticated => format!("not authenticated: {message}\n{LOGIN_HINT}"),
        Code::PermissionDenied => format!("permission denied: {message}"),
        Code::NotFound => format!("not found: {message}"),
        Code::AlreadyExists => format!("already exists: {message}"),
        Code::Unavailable => format!("could not reach {url}: {message}"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn statuses_read_as_advice() {
        let url = "http://127.0.0.1:1";
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("name", "must start with a letter");
        details.add_bad_request_violation("display_name", "too long");
        let bad = Status::with_error_details(Code::InvalidArgument, "x", details);
        assert_eq!(
            describe(url, &bad),
            "invalid request:\n  name: must start with a letter\n  display_name: too long"
        );
        let who = describe(url, &Status::unauthenticated("Invalid token"));
        assert!(
            who.starts_with("not authenticated: Invalid token\n"),
            "{who}"
        );
        assert!(who.contains("backendify login"), "{who}");
        assert_eq!(
            describe(
                url,
                &Status::permission_denied("This API token is read-only")
            ),
            "permission denied: This API token is read-only"
        );
        assert_eq!(
            describe(url, &Status::unavailable("")),
            format!("could not reach {url}: {}", Code::Unavailable.description())
        );
    }
}
