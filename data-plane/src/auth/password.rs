//! Password hashing for app users: argon2id with the OWASP minimum parameters (19 MiB, 2
//! passes, 1 lane; `model::secret`), run on blocking threads. At most one hash per core runs at
//! once, so a login storm costs bounded memory and never stalls request handling.

use std::sync::OnceLock;
use tokio::sync::Semaphore;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// Hashes a password (PHC string).
pub async fn hash(password: &str) -> anyhow::Result<String> {
    let _permit = permits().acquire().await?;
    let password = password.to_owned();
    Ok(tokio::task::spawn_blocking(move || model::secret::hash_password(&password)).await?)
}

/// Checks a password. With no stored hash (unknown user, or a user without a password) the
/// same work is done against a fixed hash, so timing does not tell whether an account exists.
pub async fn verify(password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let _permit = permits().acquire().await?;
    let known = stored.is_some();
    let stored = match stored {
        Some(h) => h.to_owned(),
        None => DUMMY
            .get_or_init(|| model::secret::hash_password("not a password"))
            .clone(),
    };
    let password = password.to_owned();
    let ok =
        tokio::task::spawn_blocking(move || model::secret::verify_password(&password, &stored))
            .await?;
    Ok(ok && known)
}
