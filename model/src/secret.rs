//! Password hashing (argon2id), opaque tokens (48 random bytes, URL-safe base64, stored as
//! SHA-256 hex), one-time codes and constant-time comparison.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// argon2id parameters: 19 MiB of memory, 2 passes, 1 lane (the OWASP minimum). Verification
/// reads the parameters from the stored hash, so raising them later keeps old hashes working.
pub const ARGON2_PARAMS: (u32, u32, u32) = (19_456, 2, 1);

fn argon2() -> Argon2<'static> {
    let (m, t, p) = ARGON2_PARAMS;
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(m, t, p, None).expect("valid argon2 parameters"),
    )
}

/// Memory for argon2 (19 MiB with [`ARGON2_PARAMS`]), kept between hashes. A thread that hashes
/// often should own one: allocating and freeing such blocks per hash makes the allocator keep
/// far more than one of them resident.
#[derive(Default)]
pub struct Scratch(Vec<argon2::Block>);

impl Scratch {
    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn blocks(&mut self, n: usize) -> &mut [argon2::Block] {
        if self.0.len() < n {
            self.0 = vec![argon2::Block::default(); n];
        }
        &mut self.0[..n]
    }
}

/// Hashes a password with argon2id into a PHC string (slow on purpose: call it off the async
/// threads).
pub fn hash_password(password: &str) -> String {
    hash_password_with(password, &mut Scratch::default())
}

/// [`hash_password`] in the given memory.
pub fn hash_password_with(password: &str, scratch: &mut Scratch) -> String {
    let a = argon2();
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    a.hash_password_into_with_memory(
        password.as_bytes(),
        &salt,
        &mut out,
        scratch.blocks(a.params().block_count()),
    )
    .expect("argon2 hashes");
    let salt = SaltString::encode_b64(&salt).expect("16-byte salt encodes");
    PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(a.params())
            .expect("parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).expect("32-byte output")),
    }
    .to_string()
}

/// Checks a password against a stored PHC string.
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_password_with(password, hash, &mut Scratch::default())
}

/// [`verify_password`] in the given memory. The parameters come from the stored hash.
pub fn verify_password_with(password: &str, hash: &str, scratch: &mut Scratch) -> bool {
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(alg), Ok(params)) = (
        argon2::Algorithm::try_from(h.algorithm),
        argon2::Params::try_from(&h),
    ) else {
        return false;
    };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    Argon2::new(alg, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, scratch.blocks(blocks))
        .is_ok()
        && ct_eq(&out, expected.as_bytes())
}

/// A new opaque token: 64 URL-safe characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time code of `n` decimal digits.
pub fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect()
}

/// Compares two secrets in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The SHA-256 hex digest under which a token is stored.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        // Hashes made by the argon2 crate's own PHC path verify too, and one memory serves many.
        let theirs = {
            use argon2::password_hash::PasswordHasher;
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2().hash_password(b"pw", &salt).unwrap().to_string()
        };
        let mut scratch = Scratch::default();
        assert!(verify_password_with("pw", &theirs, &mut scratch));
        let ours = hash_password_with("pw", &mut scratch);
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password_with("pw", &ours, &mut scratch));
        assert!(!verify_password_with("pW", &ours, &mut scratch));
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
        assert_eq!(token_hash("abc").len(), 64);
        let code = random_digits(6);
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd") && !ct_eq(b"abc", b"ab"));
    }
}
