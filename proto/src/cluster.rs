//! The cluster token: the credential on every `ConfigService` call. Configs carry every
//! project's signing keys, the admin-token key and provider secrets, so the control plane answers
//! only callers that present the token it was configured with (`UNAUTHENTICATED` otherwise, before
//! anything is sent). Workers and routers send it as `authorization: Bearer <token>` metadata.

use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Shortest token accepted: a guessable token would open the channel again.
pub const MIN_LEN: usize = 16;

/// Why a configured token is refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Unset or empty.
    #[error("CLUSTER_TOKEN is not set: the control plane, workers and routers must share one (e.g. `openssl rand -hex 32`)")]
    Missing,
    /// Too short to resist guessing.
    #[error("CLUSTER_TOKEN is shorter than {MIN_LEN} characters")]
    TooShort,
    /// Not sendable as gRPC metadata.
    #[error("CLUSTER_TOKEN may hold only visible ASCII characters")]
    NotAscii,
}

/// A checked cluster token. Attached to outgoing calls as an [`Interceptor`]; never printed.
#[derive(Clone)]
pub struct ClusterToken {
    raw: Arc<str>,
    header: MetadataValue<tonic::metadata::Ascii>,
}

impl fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterToken(***)")
    }
}

impl ClusterToken {
    /// Checks a configured token (surrounding whitespace is ignored).
    pub fn new(token: &str) -> Result<Self, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.chars().count() < MIN_LEN {
            return Err(TokenError::TooShort);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotAscii);
        }
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| TokenError::NotAscii)?;
        Ok(Self {
            raw: token.into(),
            header,
        })
    }

    /// True when `req` carries this token (compared in constant time).
    pub fn admits<T>(&self, req: &Request<T>) -> bool {
        let Some(given) = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        given.as_bytes().ct_eq(self.raw.as_bytes()).into()
    }

    /// The server side: an interceptor that refuses calls without this token.
    pub fn guard(&self) -> Guard {
        Guard(self.clone())
    }
}

/// Client side: every call carries the token.
impl Interceptor for ClusterToken {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        req.metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(req)
    }
}

/// Server side: a call without the token (or with another) ends `UNAUTHENTICATED` before the
/// handler runs.
#[derive(Clone, Debug)]
pub struct Guard(ClusterToken);

impl Interceptor for Guard {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        if self.0.admits(&req) {
            Ok(req)
        } else {
            Err(Status::unauthenticated("a valid cluster token is required"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    #[test]
    fn refuses_unusable_tokens() {
        assert!(matches!(ClusterToken::new(""), Err(TokenError::Missing)));
        assert!(matches!(ClusterToken::new("  "), Err(TokenError::Missing)));
        assert!(matches!(
            ClusterToken::new("short"),
            Err(TokenError::TooShort)
        ));
        assert!(matches!(
            ClusterToken::new("0123456789abcdef é"),
            Err(TokenError::NotAscii)
        ));
        assert!(format!("{:?}", ClusterToken::new(TOKEN).unwrap()).contains("***"));
    }

    #[test]
    fn the_guard_admits_only_the_same_token() {
        let mut token = ClusterToken::new(TOKEN).unwrap();
        let mut guard = token.guard();
        let sent = token.call(Request::new(())).unwrap();
        assert!(guard.call(sent).is_ok());
        let none = guard.call(Request::new(())).unwrap_err();
        assert_eq!(none.code(), tonic::Code::Unauthenticated);
        let mut other = ClusterToken::new("0123456789abcdef0124").unwrap();
        let wrong = guard
            .call(other.call(Request::new(())).unwrap())
            .unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        let mut prefix = Request::new(());
        prefix
            .metadata_mut()
            .insert("authorization", "Bearer 0123456789abcdef".parse().unwrap());
        assert!(guard.call(prefix).is_err());
    }
}
