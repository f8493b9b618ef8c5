//! HS256 JSON Web Tokens: sign and verify, with `exp` checked against a caller-given clock. The
//! algorithm is pinned: a token whose header names anything but HS256 (`none`, RS256, …) is
//! refused whatever its signature. App-user tokens carry a key id (`kid`) in the header, so a
//! project's key can be rotated without logging everyone out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
}

/// Claims of an admin access token: `{"sub", "exp"}` (no `type`).
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
    sign_with_header(HEADER, claims, key)
}

/// Signs claims with HS256 and names the key in the header.
pub fn sign_with_kid<T: Serialize>(claims: &T, kid: &str, key: &[u8]) -> String {
    let header = serde_json::json!({ "alg": "HS256", "kid": kid, "typ": "JWT" }).to_string();
    sign_with_header(&header, claims, key)
}

/// The header's `kid` and the payload, read WITHOUT verifying anything: only to pick a key or
/// tell token kinds apart, never to trust.
pub fn peek(token: &str) -> Option<(Option<String>, serde_json::Value)> {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    let decode = |p: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    };
    let kid = decode(header)?
        .get("kid")
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    Some((kid, decode(payload)?))
}

fn sign_with_header<T: Serialize>(header: &str, claims: &T, key: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialize");
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let sig = mac(key, token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig));
    token
}

/// Verifies an HS256 token and its `exp` (unix seconds, compared with `now`), then decodes it.
pub fn verify<T: DeserializeOwned>(token: &str, key: &[u8], now: i64) -> Result<T, JwtError> {
    let (signed, sig) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let (header, payload) = signed.split_once('.').ok_or(JwtError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| JwtError::Malformed)?;
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key");
    m.update(signed.as_bytes());
    m.verify_slice(&sig).map_err(|_| JwtError::BadSignature)?;
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| JwtError::Malformed)?,
    )
    .map_err(|_| JwtError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::Malformed);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Malformed)?;
    let value: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
    let exp = value
        .get("exp")
        .and_then(|e| e.as_i64())
        .ok_or(JwtError::Malformed)?;
    if exp <= now {
        return Err(JwtError::Expired);
    }
    serde_json::from_value(value).map_err(|_| JwtError::Malformed)
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AdminClaims {
        AdminClaims {
            sub: "u1".into(),
            exp,
            kind: None,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let t = sign(&claims(100), b"k");
        let c: AdminClaims = verify(&t, b"k", 50).unwrap();
        assert_eq!(c.sub, "u1");
        assert_eq!(
            verify::<AdminClaims>(&t, b"other", 50).unwrap_err(),
            JwtError::BadSignature
        );
        assert_eq!(
            verify::<AdminClaims>(&t, b"k", 100).unwrap_err(),
            JwtError::Expired
        );
        assert_eq!(
            verify::<AdminClaims>("a.b", b"k", 0).unwrap_err(),
            JwtError::Malformed
        );
        // A token whose payload was swapped keeps the old signature: refused.
        let other = sign(
            &AdminClaims {
                sub: "u2".into(),
                exp: 100,
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
            verify::<AdminClaims>(&forged, b"k", 50).unwrap_err(),
            JwtError::BadSignature
        );
    }

    #[test]
    fn algorithm_is_pinned() {
        let enc = |v: &str| URL_SAFE_NO_PAD.encode(v);
        let payload = enc(r#"{"sub":"u1","exp":100}"#);
        // `alg: none` with an empty signature.
        let none = format!("{}.{payload}.", enc(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(verify::<AdminClaims>(&none, b"k", 50).is_err());
        // An RS256 header HMAC-signed with the key (the classic HS/RS confusion): refused.
        let signed = format!("{}.{payload}", enc(r#"{"alg":"RS256","typ":"JWT"}"#));
        let rs = format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac(b"k", signed.as_bytes()))
        );
        assert_eq!(
            verify::<AdminClaims>(&rs, b"k", 50).unwrap_err(),
            JwtError::Malformed
        );
    }

    #[test]
    fn key_ids_travel_in_the_header() {
        let t = sign_with_kid(&claims(100), "k1", b"secret");
        let (kid, payload) = peek(&t).unwrap();
        assert_eq!(kid.as_deref(), Some("k1"));
        assert_eq!(payload["sub"], "u1");
        assert!(verify::<AdminClaims>(&t, b"secret", 50).is_ok());
        assert_eq!(peek("garbage"), None);
    }
}
