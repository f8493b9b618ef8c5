//! Secrets the control plane must be able to read back (webhook signing keys), sealed at rest with
//! ChaCha20-Poly1305 under a key from configuration (`SECRETS_KEY`). A sealed value is
//! `nonce (12 bytes) ‖ ciphertext ‖ tag`, bound to the row it belongs to through the associated
//! data, so a sealed value copied to another row does not open there.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Why a configured key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not 32 bytes in base64 or hex.
    #[error("SECRETS_KEY must be 32 bytes, written as 64 hex digits or in base64")]
    Malformed,
}

/// A sealed value that does not open: wrong key, another row's value, or damaged bytes.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (was SECRETS_KEY changed?)")]
pub struct OpenError;

/// A 32-byte key as configured (`SECRETS_KEY`: 64 hex digits or base64), checked when parsed.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::str::FromStr for SecretsKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        decode_key(s.trim()).map(Self).ok_or(KeyError::Malformed)
    }
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(***)")
    }
}

/// Seals and opens secrets with one key.
pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl SecretBox {
    /// The box for `SECRETS_KEY`. Without one, the key is derived from the admin-token secret,
    /// and changing that secret then makes stored secrets unreadable.
    pub fn from_config(secrets_key: Option<&SecretsKey>, jwt_secret: &str) -> Self {
        let key: [u8; 32] = match secrets_key {
            Some(k) => k.0,
            None => {
                let mut h = Sha256::new();
                h.update(b"backendify secrets key v1\0");
                h.update(jwt_secret.as_bytes());
                h.finalize().into()
            }
        };
        Self::new(&key)
    }

    /// A box over raw key bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte ChaCha20 key");
        Self {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        }
    }

    /// Seals `plain`, bound to `context` (for example the owning row's id).
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system randomness");
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + 16);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .expect("sealing cannot fail for small inputs");
        out.extend_from_slice(&body);
        out
    }

    /// Opens a value sealed by [`SecretBox::seal`] with the same key and context.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| OpenError)?;
        Ok(plain.to_vec())
    }
}

fn decode_key(k: &str) -> Option<[u8; 32]> {
    let bytes = if k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&k[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD
            .decode(k)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k))
            .ok()?
    };
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_key_and_context() {
        let a = SecretBox::new(&[7; 32]);
        let sealed = a.seal(b"whsec key bytes", b"row-1");
        assert_eq!(a.open(&sealed, b"row-1").unwrap(), b"whsec key bytes");
        assert!(a.open(&sealed, b"row-2").is_err(), "another row's context");
        assert!(SecretBox::new(&[8; 32]).open(&sealed, b"row-1").is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(a.open(&damaged, b"row-1").is_err());
        assert!(a.open(&sealed[..10], b"row-1").is_err());
        assert_ne!(
            a.seal(b"x", b"c"),
            a.seal(b"x", b"c"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn reads_keys_in_hex_and_base64_and_refuses_others() {
        let hex: SecretsKey = ("00".repeat(31) + "ff").parse().unwrap();
        assert_eq!(hex.0[31], 0xff);
        let b64: SecretsKey = STANDARD.encode([1u8; 32]).parse().unwrap();
        assert_eq!(b64.0, [1; 32]);
        assert!("short".parse::<SecretsKey>().is_err());
        assert!(STANDARD.encode([1u8; 16]).parse::<SecretsKey>().is_err());
        assert!("".parse::<SecretsKey>().is_err());
        // Derived from the admin-token secret when unset: stable across restarts, and not the
        // same as with a configured key.
        let x = SecretBox::from_config(None, "j");
        let y = SecretBox::from_config(None, "j");
        assert_eq!(y.open(&x.seal(b"v", b"c"), b"c").unwrap(), b"v");
        assert!(SecretBox::from_config(Some(&b64), "j")
            .open(&x.seal(b"v", b"c"), b"c")
            .is_err());
    }
}
