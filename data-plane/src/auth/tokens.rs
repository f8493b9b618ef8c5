//! App-user access tokens: HS256, signed with the project's current key and naming it (`kid`),
//! with the project as audience and the session they belong to. Verification (`model::jwt`, over
//! the `jsonwebtoken` crate) pins the algorithm, picks the key by id among the project's keys only,
//! and requires the project as audience. [`Verified`] remembers passes, so the crate is only
//! called for a token not seen under the current config.

use model::jwt::{self, AdminClaims, AppClaims, JwtError};
use model::ProjectConfig;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Why an app-user token was refused, with the contract's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Bad signature, expired, malformed, unknown key, no `sub`.
    Invalid,
    /// Not an app-user token (e.g. an admin token).
    WrongType,
    /// An app-user token of another project.
    OtherProject,
}

impl Refusal {
    /// The 401 detail.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Invalid => "Invalid token",
            Self::WrongType => "Invalid token type",
            Self::OtherProject => "Token not valid for this project",
        }
    }
}

/// A verified app-user token.
#[derive(Debug, Clone)]
pub struct AppToken {
    /// App-user id.
    pub user_id: String,
    /// Session id.
    pub session_id: Uuid,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs an access token for `user` in `session`; `None` when the project has no signing key
/// (a config older than app auth).
pub fn issue(config: &ProjectConfig, user: &str, session: Uuid) -> Option<String> {
    let key = config.auth.signing_keys.first()?;
    let iat = now();
    let claims = AppClaims {
        sub: user.to_owned(),
        project_id: config.project_id.to_string(),
        kind: "app_user".into(),
        aud: config.project_id.to_string(),
        iat,
        exp: iat + i64::from(config.auth.settings.access_ttl_minutes) * 60,
        sid: session.to_string(),
    };
    Some(jwt::sign_with_kid(&claims, &key.kid, key.secret.as_bytes()))
}

/// Verifies an app-user token for this project.
pub fn verify(config: &ProjectConfig, token: &str) -> Result<AppToken, Refusal> {
    verify_until(config, token).map(|(t, _)| t)
}

/// Most tokens [`Verified`] remembers; past it the memory starts over.
pub const MAX_VERIFIED: usize = 10_000;

/// App-user and admin tokens this worker has verified, with the project, config version and
/// expiry they were verified under: a token seen again under the same config costs one lookup
/// instead of decoding, parsing and an HMAC. A new config version (a rotated or revoked key, a
/// new admin-token key) verifies afresh. Refusals are never remembered.
#[derive(Default)]
pub struct Verified {
    seen: Mutex<HashMap<Box<str>, Entry>>,
}

struct Entry {
    project: Uuid,
    version: u64,
    exp: i64,
    token: Token,
}

#[derive(Clone)]
enum Token {
    App(AppToken),
    /// An admin token (signed by the control plane), with the admin's id and a fingerprint of
    /// the key it was verified with: that key is the control plane's secret, which can change
    /// across a restart while config versions stay the same.
    Admin(Uuid, u64),
}

/// A fingerprint of the admin-token key, to tell a changed key from the one a token passed.
fn key_print(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl Verified {
    /// [`verify`], answered from memory when this exact token passed under this config (an
    /// admin token remembered by [`Self::admin`] is [`Refusal::WrongType`] at once).
    pub fn verify(&self, config: &ProjectConfig, token: &str) -> Result<AppToken, Refusal> {
        match self.remembered(config, token) {
            Some(Token::App(t)) => return Ok(t),
            Some(Token::Admin(..)) => return Err(Refusal::WrongType),
            None => {}
        }
        let (t, exp) = verify_until(config, token)?;
        self.remember(config, token, exp, Token::App(t.clone()));
        Ok(t)
    }

    /// The admin id of a valid admin token, verified with the key the project's config carries
    /// (membership is the caller's to check); answered from memory like [`Self::verify`].
    pub fn admin(&self, config: &ProjectConfig, token: &str) -> Option<Uuid> {
        let print = key_print(&config.admin_token_key);
        match self.remembered(config, token) {
            Some(Token::Admin(id, p)) if p == print => return Some(id),
            Some(Token::App(_)) => return None,
            _ => {}
        }
        let claims = jwt::verify::<AdminClaims>(token, config.admin_token_key.as_bytes()).ok()?;
        if claims.kind.is_some() {
            return None;
        }
        let id = Uuid::parse_str(&claims.sub).ok()?;
        self.remember(config, token, claims.exp, Token::Admin(id, print));
        Some(id)
    }

    fn remembered(&self, config: &ProjectConfig, token: &str) -> Option<Token> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let e = seen.get(token)?;
        (e.project == config.project_id && e.version == config.version && e.exp > now())
            .then(|| e.token.clone())
    }

    fn remember(&self, config: &ProjectConfig, token: &str, exp: i64, t: Token) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_VERIFIED {
            seen.clear();
        }
        let entry = Entry {
            project: config.project_id,
            version: config.version,
            exp,
            token: t,
        };
        seen.insert(token.into(), entry);
    }
}

/// [`verify`], with the token's expiry (unix seconds).
fn verify_until(config: &ProjectConfig, token: &str) -> Result<(AppToken, i64), Refusal> {
    let (kid, payload) = jwt::peek(token).ok_or(Refusal::Invalid)?;
    if payload.get("type").and_then(Value::as_str) != Some("app_user") {
        return Err(Refusal::WrongType);
    }
    let project = config.project_id.to_string();
    let claimed_here = payload.get("project_id").and_then(Value::as_str) == Some(&project);
    let key = kid.and_then(|kid| config.auth.signing_keys.iter().find(|k| k.kid == kid));
    let Some(key) = key else {
        // No key of ours signed it: either another project's token, or a forgery.
        return Err(if claimed_here {
            Refusal::Invalid
        } else {
            Refusal::OtherProject
        });
    };
    let claims: AppClaims =
        jwt::verify_for(token, key.secret.as_bytes(), &project).map_err(|e| match e {
            JwtError::Audience => Refusal::OtherProject,
            JwtError::Malformed
            | JwtError::Algorithm
            | JwtError::BadSignature
            | JwtError::Expired => Refusal::Invalid,
        })?;
    if claims.project_id != project {
        return Err(Refusal::OtherProject);
    }
    if claims.kind != "app_user" || claims.sub.is_empty() {
        return Err(Refusal::Invalid);
    }
    let session_id = Uuid::parse_str(&claims.sid).map_err(|_| Refusal::Invalid)?;
    let token = AppToken {
        user_id: claims.sub,
        session_id,
    };
    Ok((token, claims.exp))
}

/// The contract's `AppUserTokenPair`.
pub struct TokenPair;

impl TokenPair {
    /// The pair as its JSON body.
    pub fn body(access_token: String, refresh_token: String, config: &ProjectConfig) -> Value {
        json!({
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": i64::from(config.auth.settings.access_ttl_minutes) * 60,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::SigningKey;

    fn config(keys: &[(&str, &str)]) -> ProjectConfig {
        let mut c: ProjectConfig = serde_json::from_value(json!({
            "project_id": Uuid::new_v4(), "version": 1, "name": "p", "db_schema": "s",
            "db_role": "r", "admin_token_key": "admin", "members": [], "collections": []
        }))
        .unwrap();
        c.auth.signing_keys = keys
            .iter()
            .map(|(kid, secret)| SigningKey {
                kid: (*kid).into(),
                secret: (*secret).into(),
            })
            .collect();
        c
    }

    #[test]
    fn issue_and_verify() {
        let c = config(&[("k1", "s1")]);
        let sid = Uuid::new_v4();
        let t = issue(&c, "u1", sid).unwrap();
        let v = verify(&c, &t).unwrap();
        assert_eq!((v.user_id.as_str(), v.session_id), ("u1", sid));
    }

    #[test]
    fn rotation_keeps_old_tokens_and_other_projects_are_refused() {
        let old = config(&[("k1", "s1")]);
        let t = issue(&old, "u1", Uuid::new_v4()).unwrap();
        let mut rotated = old.clone();
        rotated.auth.signing_keys.insert(
            0,
            SigningKey {
                kid: "k2".into(),
                secret: "s2".into(),
            },
        );
        assert!(verify(&rotated, &t).is_ok(), "old key still verifies");
        assert!(issue(&rotated, "u1", Uuid::new_v4())
            .unwrap()
            .starts_with(&jwt::sign_with_kid(&json!({}), "k2", b"x")[..20]));
        // Another project, even one that happens to use the same key id and secret.
        let other = config(&[("k1", "s1")]);
        assert_eq!(verify(&other, &t).unwrap_err(), Refusal::OtherProject);
    }

    #[test]
    fn forgeries_are_refused() {
        let c = config(&[("k1", "s1")]);
        let t = issue(&c, "u1", Uuid::new_v4()).unwrap();
        // Tampered payload, same signature.
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut claims = jwt::peek(&t).unwrap().1;
        claims["sub"] = json!("someone-else");
        let forged = format!(
            "{head}.{}.{sig}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                claims.to_string()
            )
        );
        assert_eq!(verify(&c, &forged).unwrap_err(), Refusal::Invalid);
        // Signed with a key the project does not have, under the project's key id.
        assert_eq!(
            verify(&c, &jwt::sign_with_kid(&claims, "k1", b"guess")).unwrap_err(),
            Refusal::Invalid
        );
        // Expired.
        let mut expired = jwt::peek(&t).unwrap().1;
        expired["exp"] = json!(1);
        assert_eq!(
            verify(&c, &jwt::sign_with_kid(&expired, "k1", b"s1")).unwrap_err(),
            Refusal::Invalid
        );
        // Signed by the project's key, but for another audience.
        let mut other_aud = jwt::peek(&t).unwrap().1;
        other_aud["aud"] = json!(Uuid::new_v4().to_string());
        assert_eq!(
            verify(&c, &jwt::sign_with_kid(&other_aud, "k1", b"s1")).unwrap_err(),
            Refusal::OtherProject
        );
        // No audience at all.
        let mut no_aud = jwt::peek(&t).unwrap().1;
        no_aud.as_object_mut().unwrap().remove("aud");
        assert_eq!(
            verify(&c, &jwt::sign_with_kid(&no_aud, "k1", b"s1")).unwrap_err(),
            Refusal::Invalid
        );
        // An admin token (no `type`).
        let admin = jwt::sign(&json!({"sub": "a", "exp": i64::MAX}), b"admin");
        assert_eq!(verify(&c, &admin).unwrap_err(), Refusal::WrongType);
        assert_eq!(verify(&c, "not.a.token").unwrap_err(), Refusal::Invalid);
    }

    #[test]
    fn remembered_tokens_follow_the_config_version() {
        let c = config(&[("k1", "s1")]);
        let t = issue(&c, "u1", Uuid::new_v4()).unwrap();
        let verified = Verified::default();
        assert_eq!(verified.verify(&c, &t).unwrap().user_id, "u1");
        assert_eq!(verified.verify(&c, &t).unwrap().user_id, "u1");
        // The key is revoked in a newer config: the remembered pass no longer counts.
        let mut revoked = config(&[("k2", "s2")]);
        revoked.project_id = c.project_id;
        revoked.version = c.version + 1;
        assert_eq!(verified.verify(&revoked, &t).unwrap_err(), Refusal::Invalid);
        // Nor does it count for another project.
        let other = config(&[("k1", "s1")]);
        assert_eq!(
            verified.verify(&other, &t).unwrap_err(),
            Refusal::OtherProject
        );
        assert_eq!(
            verified.verify(&c, "not.a.token").unwrap_err(),
            Refusal::Invalid
        );
    }

    #[test]
    fn remembered_admin_tokens_follow_the_config_version() {
        let c = config(&[("k1", "s1")]);
        let admin = Uuid::new_v4();
        let claims = AdminClaims {
            sub: admin.to_string(),
            exp: now() + 600,
            kind: None,
        };
        let t = jwt::sign(&claims, b"admin");
        let verified = Verified::default();
        for _ in 0..2 {
            assert_eq!(verified.verify(&c, &t).unwrap_err(), Refusal::WrongType);
            assert_eq!(verified.admin(&c, &t), Some(admin));
        }
        // The admin-token key changes (the control plane restarted with a new secret), even
        // under the same config version: the remembered pass no longer counts.
        let mut rotated = c.clone();
        rotated.admin_token_key = "new".into();
        assert_eq!(verified.admin(&rotated, &t), None);
        assert_eq!(verified.admin(&c, &t), Some(admin));
        // A remembered pass past its expiry no longer counts either.
        let soon = jwt::sign(
            &AdminClaims {
                exp: now() + 600,
                ..claims.clone()
            },
            b"admin",
        );
        verified.remember(
            &c,
            &soon,
            now() - 1,
            Token::Admin(Uuid::new_v4(), key_print("admin")),
        );
        assert_eq!(
            verified.admin(&c, &soon),
            Some(admin),
            "an expired entry was used"
        );
        // An app-user token is no admin's, remembered or not.
        let app = issue(&c, "u1", Uuid::new_v4()).unwrap();
        assert!(verified.verify(&c, &app).is_ok());
        assert_eq!(verified.admin(&c, &app), None);
        // Expired is refused.
        let old = jwt::sign(
            &AdminClaims {
                exp: now() - 1,
                ..claims
            },
            b"admin",
        );
        assert_eq!(verified.admin(&c, &old), None);
    }
}
