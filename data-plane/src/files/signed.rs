//! Signed download URLs: `…/files/{id}/download?expires=<unix seconds>&signature=<base64url>`,
//! where the signature is HMAC-SHA256 over the project, the file and the expiry, keyed by the
//! project's current signing key. Rotating that key ends every URL signed with the old one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use model::ProjectConfig;
use ring::hmac;
use uuid::Uuid;

/// The shortest and longest life of a signed URL, in seconds (1 s to 7 days).
pub const LIFE: (i64, i64) = (1, 7 * 24 * 3600);

fn key(config: &ProjectConfig) -> Option<hmac::Key> {
    let k = config.auth.signing_keys.first()?;
    Some(hmac::Key::new(hmac::HMAC_SHA256, k.secret.as_bytes()))
}

fn message(config: &ProjectConfig, file: Uuid, expires: i64) -> String {
    format!(
        "backendify-file-url\n{}\n{file}\n{expires}",
        config.project_id
    )
}

/// The signature of a URL for `file` that works until `expires`; `None` when the project has no
/// signing key.
pub fn sign(config: &ProjectConfig, file: Uuid, expires: i64) -> Option<String> {
    let tag = hmac::sign(&key(config)?, message(config, file, expires).as_bytes());
    Some(URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Why a signed URL is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not signed by this project's current key (or not for this file, or altered).
    Invalid,
    /// Past its expiry.
    Expired,
}

/// Checks `expires` and `signature` (as sent) for `file` at `now` (unix seconds).
pub fn verify(
    config: &ProjectConfig,
    file: Uuid,
    expires: &str,
    signature: &str,
    now: i64,
) -> Result<(), Refusal> {
    let expires: i64 = expires.parse().map_err(|_| Refusal::Invalid)?;
    let tag = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refusal::Invalid)?;
    let key = key(config).ok_or(Refusal::Invalid)?;
    hmac::verify(&key, message(config, file, expires).as_bytes(), &tag)
        .map_err(|_| Refusal::Invalid)?;
    if now >= expires {
        return Err(Refusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::SigningKey;
    use serde_json::json;

    fn project(secret: &str) -> ProjectConfig {
        let mut c: ProjectConfig = serde_json::from_value(json!({
            "project_id": Uuid::new_v4(), "version": 1, "name": "p", "db_schema": "s",
            "db_role": "r", "admin_token_key": "admin", "members": [], "collections": []
        }))
        .unwrap();
        c.auth.signing_keys = vec![SigningKey {
            kid: "k1".into(),
            secret: secret.into(),
        }];
        c
    }

    #[test]
    fn a_url_works_for_its_file_until_it_expires() {
        let p = project("first-secret");
        let file = Uuid::new_v4();
        let sig = sign(&p, file, 1_000).unwrap();
        assert_eq!(verify(&p, file, "1000", &sig, 999), Ok(()));
        assert_eq!(verify(&p, file, "1000", &sig, 1_000), Err(Refusal::Expired));
        // Another file, a longer life, or a changed signature: refused.
        assert_eq!(
            verify(&p, Uuid::new_v4(), "1000", &sig, 0),
            Err(Refusal::Invalid)
        );
        assert_eq!(verify(&p, file, "2000", &sig, 0), Err(Refusal::Invalid));
        assert_eq!(verify(&p, file, "1000", "AAAA", 0), Err(Refusal::Invalid));
        assert_eq!(verify(&p, file, "x", &sig, 0), Err(Refusal::Invalid));
    }

    #[test]
    fn another_project_or_a_rotated_key_ends_it() {
        let p = project("first-secret");
        let file = Uuid::new_v4();
        let sig = sign(&p, file, 1_000).unwrap();
        let mut rotated = p.clone();
        rotated.auth.signing_keys.insert(
            0,
            SigningKey {
                kid: "k2".into(),
                secret: "second-secret".into(),
            },
        );
        assert_eq!(
            verify(&rotated, file, "1000", &sig, 0),
            Err(Refusal::Invalid)
        );
        let mut other = p.clone();
        other.project_id = Uuid::new_v4();
        assert_eq!(verify(&other, file, "1000", &sig, 0), Err(Refusal::Invalid));
    }
}
