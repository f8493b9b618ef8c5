//! Password hashing for app users: argon2id with the OWASP minimum parameters (19 MiB, 2
//! passes, 1 lane; `model::secret`), on a few dedicated threads (one per core). Requests queue
//! for them, so a login storm never stalls request handling, and memory stays bounded: each
//! thread keeps one 19 MiB block for its hashes (allocated at its first hash) until it has been
//! idle for a second; then the block goes back to the system. Allocating a block per hash
//! instead made the allocator hold hundreds of MiB after a burst of logins.

use model::secret::{self, Scratch};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// More sign-ins are waiting for a hashing thread than the queue holds.
#[derive(Debug, thiserror::Error)]
#[error("password hashing queue is full")]
pub struct Busy;

/// Waiting hashes beyond the running ones; past this, sign-ins are refused (503) rather than
/// queued for ever.
const QUEUE: usize = 256;

/// How long a hashing thread keeps its block without work.
const IDLE: Duration = Duration::from_secs(1);

/// Frees an idle thread's block and has the allocator return free memory to the system (glibc
/// keeps freed blocks of this size otherwise).
#[allow(unsafe_code)] // one libc call, no pointers
fn release(scratch: &mut Scratch) {
    if scratch.is_empty() {
        return;
    }
    *scratch = Scratch::default();
    // SAFETY: malloc_trim only releases memory the allocator holds as free.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn hashers() -> &'static mpsc::SyncSender<Job> {
    static SENDER: OnceLock<mpsc::SyncSender<Job>> = OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..n {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut scratch = Scratch::default();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv_timeout(IDLE),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut scratch),
                            Err(mpsc::RecvTimeoutError::Timeout) => release(&mut scratch),
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .expect("spawn a password-hashing thread");
        }
        tx
    })
}

/// Runs `f` on a hashing thread.
async fn on_hasher<T: Send + 'static>(
    f: impl FnOnce(&mut Scratch) -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let queue = &crate::metrics::get().hashing_queue;
    queue.inc();
    hashers()
        .try_send(Box::new(move |scratch: &mut Scratch| {
            crate::metrics::get().hashing_queue.dec();
            let _ = tx.send(f(scratch));
        }))
        .inspect_err(|_| {
            queue.dec();
        })
        .map_err(|e| match e {
            mpsc::TrySendError::Full(_) => anyhow::Error::new(Busy),
            mpsc::TrySendError::Disconnected(_) => {
                anyhow::anyhow!("password hashing threads are gone")
            }
        })?;
    Ok(rx.await?)
}

/// Hashes a password (PHC string).
pub async fn hash(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    on_hasher(move |scratch| secret::hash_password_with(&password, scratch)).await
}

/// Checks a password. With no stored hash (unknown user, or a user without a password) the
/// same work is done against a fixed hash, so timing does not tell whether an account exists.
pub async fn verify(password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let known = stored.is_some();
    let stored = stored.map(str::to_owned);
    let password = password.to_owned();
    let ok = on_hasher(move |scratch| {
        let stored = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| secret::hash_password("not a password"))
                .clone()
        });
        secret::verify_password_with(&password, &stored, scratch)
    })
    .await?;
    Ok(ok && known)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_and_verifies_off_the_runtime() {
        let h = super::hash("correct horse").await.unwrap();
        assert!(super::verify("correct horse", Some(&h)).await.unwrap());
        assert!(!super::verify("wrong", Some(&h)).await.unwrap());
        assert!(!super::verify("correct horse", None).await.unwrap());
        // Many at once: all answered.
        let all: Vec<_> = (0..8)
            .map(|i| tokio::spawn(async move { super::hash(&format!("pw{i}")).await }))
            .collect();
        for t in all {
            assert!(t.await.unwrap().unwrap().starts_with("$argon2id$"));
        }
    }
}
