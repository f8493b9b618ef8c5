//! HS256 JSON Web Tokens, signed and verified with the `jsonwebtoken` crate. What this module adds
//! is the policy: the algorithm is pinned (a token whose header names anything but HS256 — `none`,
//! RS256, … — is refused whatever its signature), `exp` is checked without leeway, and the
//! audience is either required and exact ([`verify_for`], app-user tokens) or must be absent
//! ([`verify`], admin tokens: an audience-bound token is never an admin's). App-user tokens carry
//! a key id (`kid`) in the header, so a project's key can be rotated without logging everyone
//! out.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON, or claims of the wrong shape.
    #[error("malformed token")]
    Malformed,
    /// The header names an algorithm other than HS256.
    #[error("algorithm not allowed")]
    Algorithm,
    /// Signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is in the past (or missing).
    #[error("token expired")]
    Expired,
    /// Audience missing, or not the one expected; or present where none is.
    #[error("wrong audience")]
    Audience,
}

impl From<jsonwebtoken::errors::Error> for JwtError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => Self::Algorithm,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::MissingRequiredClaim(c) if c == "exp" => Self::Expired,
            ErrorKind::InvalidAudience => Self::Audience,
            ErrorKind::MissingRequiredClaim(c) if c == "aud" => Self::Audience,
            _ => Self::Malformed,
        }
    }
}

/// Claims of an admin access token: `{"sub", "exp"}` (no `type`, no `aud`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminClaims {
    /// Admin user id.
    pub sub: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Discriminator; absent on admin tokens, `app_user` on app-user tokens.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Claims of an app-user access token (`spec/app-auth.md`): `sub`, `project_id`, `type`, `exp`,
/// plus the project as audience and the session the token belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppClaims {
    /// App-user id.
    pub sub: String,
    /// The project (also the audience).
    pub project_id: String,
    /// Always `app_user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Audience: the project id; a token of project A is refused by project B.
    pub aud: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// The session (refresh-token family); logging it out ends the token at once.
    pub sid: String,
}

/// Signs claims with HS256.
pub fn sign<T: Serialize>(claims: &T, key: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, key)
}

/// Signs claims with HS256 and names the key in the header.
pub fn sign_with_kid<T: Serialize>(claims: &T, kid: &str, key: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key)
}

fn encode<T: Serialize>(header: &Header, claims: &T, key: &[u8]) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(key))
        .expect("HS256 signing of serializable claims cannot fail")
}

/// Reads a header and payload without checking anything.
static UNVERIFIED: LazyLock<Validation> = LazyLock::new(|| {
    let mut v = Validation::new(Algorithm::HS256);
    v.insecure_disable_signature_validation();
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
});

/// The header's `kid` and the payload, read WITHOUT verifying anything: only to pick a key or
/// tell token kinds apart, never to trust.
pub fn peek(token: &str) -> Option<(Option<String>, serde_json::Value)> {
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_secret(&[]),
        &UNVERIFIED,
    )
    .ok()?;
    Some((data.header.kid, data.claims))
}

/// HS256 only, `exp` required and checked to the second.
fn pinned() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp"]);
    v
}

/// Tokens without an audience: one that names any is refused.
static NO_AUDIENCE: LazyLock<Validation> = LazyLock::new(pinned);

/// Verifies an HS256 token that names no audience (admin tokens, OAuth state), its signature and
/// its `exp` against the clock, then decodes it.
pub fn verify<T: DeserializeOwned>(token: &str, key: &[u8]) -> Result<T, JwtError> {
    decode(token, key, &NO_AUDIENCE)
}

/// Verifies an HS256 token whose `aud` must be exactly `audience` (a missing `aud` is refused),
/// its signature and its `exp`, then decodes it.
pub fn verify_for<T: DeserializeOwned>(
    token: &str,
    key: &[u8],
    audience: &str,
) -> Result<T, JwtError> {
    let mut v = pinned();
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "aud"]);
    decode(token, key, &v)
}

fn decode<T: DeserializeOwned>(token: &str, key: &[u8], v: &Validation) -> Result<T, JwtError> {
    Ok(jsonwebtoken::decode::<T>(token, &DecodingKey::from_secret(key), v)?.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims(exp: i64) -> AdminClaims {
        AdminClaims {
            sub: "u1".into(),
            exp,
            kind: None,
        }
    }

    fn enc(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// A token with this header and payload, HMAC-SHA256-signed with `key` whatever the header
    /// says (what an attacker who knows or guesses a key can make).
    fn forge(header: serde_json::Value, payload: serde_json::Value, key: &[u8]) -> String {
        let signed = format!("{}.{}", enc(&header), enc(&payload));
        let sig = jsonwebtoken::crypto::sign(
            signed.as_bytes(),
            &EncodingKey::from_secret(key),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{signed}.{sig}")
    }

    #[test]
    fn round_trip_and_refusals() {
        let t = sign(&claims(now() + 100), b"k");
        let c: AdminClaims = verify(&t, b"k").unwrap();
        assert_eq!(c.sub, "u1");
        assert_eq!(
            verify::<AdminClaims>(&t, b"other").unwrap_err(),
            JwtError::BadSignature
        );
        let old = sign(&claims(now() - 1), b"k");
        assert_eq!(
            verify::<AdminClaims>(&old, b"k").unwrap_err(),
            JwtError::Expired
        );
        // No `exp`: refused whatever the claims type asks for.
        let no_exp = sign(&json!({"sub": "u1"}), b"k");
        assert_eq!(
            verify::<AdminClaims>(&no_exp, b"k").unwrap_err(),
            JwtError::Malformed
        );
        assert_eq!(
            verify::<serde_json::Value>(&no_exp, b"k").unwrap_err(),
            JwtError::Expired
        );
        assert_eq!(
            verify::<AdminClaims>("a.b", b"k").unwrap_err(),
            JwtError::Malformed
        );
        // A token whose payload was swapped keeps the old signature: refused.
        let other = sign(
            &AdminClaims {
                sub: "u2".into(),
                exp: now() + 100,
                kind: None,
            },
            b"k",
        );
        let forged = format!(
            "{}.{}",
            other.rsplit_once('.').unwrap().0,
            t.rsplit_once('.').unwrap().1
        );
        assert_eq!(
            verify::<AdminClaims>(&forged, b"k").unwrap_err(),
            JwtError::BadSignature
        );
    }

    #[test]
    fn tokens_of_the_hand_written_signer_still_verify() {
        // `{"alg":"HS256","typ":"JWT"}` in this field order, as tokens issued before the crate
        // took over were: still valid for their lifetime.
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let t = forge(header, json!({"sub": "u1", "exp": now() + 100}), b"k");
        assert_eq!(verify::<AdminClaims>(&t, b"k").unwrap().sub, "u1");
    }

    #[test]
    fn algorithm_is_pinned() {
        let payload = json!({"sub": "u1", "exp": now() + 100});
        // `alg: none` with an empty signature.
        let none = format!(
            "{}.{}.",
            enc(&json!({"alg": "none", "typ": "JWT"})),
            enc(&payload)
        );
        assert_eq!(
            verify::<AdminClaims>(&none, b"k").unwrap_err(),
            JwtError::Malformed
        );
        // `alg: none` with a valid HMAC anyway.
        let none = forge(json!({"alg": "none"}), payload.clone(), b"k");
        assert!(verify::<AdminClaims>(&none, b"k").is_err_and(|e| e == JwtError::Malformed));
        // An RS256 header HMAC-signed with the key (the classic HS/RS confusion): refused.
        let rs = forge(json!({"alg": "RS256", "typ": "JWT"}), payload.clone(), b"k");
        assert_eq!(
            verify::<AdminClaims>(&rs, b"k").unwrap_err(),
            JwtError::Algorithm
        );
        // Another HMAC width is no HS256 either.
        let hs512 = forge(json!({"alg": "HS512"}), payload, b"k");
        assert_eq!(
            verify::<AdminClaims>(&hs512, b"k").unwrap_err(),
            JwtError::Algorithm
        );
    }

    #[test]
    fn audiences() {
        let exp = now() + 100;
        let bound = sign(&json!({"sub": "u1", "exp": exp, "aud": "p1"}), b"k");
        assert!(verify_for::<serde_json::Value>(&bound, b"k", "p1").is_ok());
        assert_eq!(
            verify_for::<serde_json::Value>(&bound, b"k", "p2").unwrap_err(),
            JwtError::Audience
        );
        // An audience-bound token is never one without an audience (an admin's).
        assert_eq!(
            verify::<AdminClaims>(&bound, b"k").unwrap_err(),
            JwtError::Audience
        );
        let unbound = sign(&json!({"sub": "u1", "exp": exp}), b"k");
        assert_eq!(
            verify_for::<serde_json::Value>(&unbound, b"k", "p1").unwrap_err(),
            JwtError::Audience
        );
    }

    #[test]
    fn key_ids_travel_in_the_header() {
        let t = sign_with_kid(&claims(now() + 100), "k1", b"secret");
        let (kid, payload) = peek(&t).unwrap();
        assert_eq!(kid.as_deref(), Some("k1"));
        assert_eq!(payload["sub"], "u1");
        assert!(verify::<AdminClaims>(&t, b"secret").is_ok());
        assert_eq!(peek("garbage"), None);
        // A tampered `kid` is part of what the signature covers.
        let (head, rest) = t.split_once('.').unwrap();
        let mut header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
        header["kid"] = json!("k2");
        let tampered = format!("{}.{rest}", enc(&header));
        assert_eq!(peek(&tampered).unwrap().0.as_deref(), Some("k2"));
        assert_eq!(
            verify::<AdminClaims>(&tampered, b"secret").unwrap_err(),
            JwtError::BadSignature
        );
    }
}
