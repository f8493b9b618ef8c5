//! Rate limits of the app-user auth endpoints (spec/rate-limits.md): a sliding log per key, kept
//! in this process (correct for one worker) or in Redis (one limit shared by every worker of a
//! cell). Handlers call [`RateLimiter::check`]; building the 429 response is theirs.

mod redis;

use self::redis::RedisLog;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The buckets of spec/rate-limits.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `POST …/auth/register`, keyed by client IP.
    Register,
    /// `POST …/auth/login`, keyed by client IP and e-mail.
    Login,
    /// `POST …/auth/otp/send`, keyed by client IP and e-mail.
    OtpSend,
    /// `POST …/auth/password/reset/send`, keyed by client IP and e-mail.
    PasswordReset,
    /// `POST …/auth/otp/verify`, keyed by client IP and e-mail (beyond the contract: a resend
    /// starts a fresh code with fresh attempts, so guesses must be limited across codes).
    OtpVerify,
    /// `POST …/auth/verify/send`, keyed by client IP and e-mail (each call sends a mail).
    VerifySend,
    /// `GET …/auth/oauth/{provider}/url`, keyed by client IP (each call stores a pending
    /// authorization).
    OAuthStart,
}

impl Bucket {
    /// The bucket's name, as it appears in keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::OtpSend => "otp_send",
            Self::PasswordReset => "password_reset",
            Self::OtpVerify => "otp_verify",
            Self::VerifySend => "verify_send",
            Self::OAuthStart => "oauth_start",
        }
    }

    /// How many requests a key may make within one window.
    pub fn limit(self) -> u32 {
        self.rule().limit
    }

    /// How far back requests count.
    pub fn window(self) -> Duration {
        self.rule().window
    }

    fn rule(self) -> Rule {
        let (limit, secs) = match self {
            Self::Register => (3, 60),
            Self::Login => (5, 60),
            Self::OtpSend => (3, 300),
            Self::PasswordReset => (3, 300),
            Self::OtpVerify => (10, 300),
            Self::VerifySend => (3, 300),
            Self::OAuthStart => (30, 60),
        };
        Rule {
            limit,
            window: Duration::from_secs(secs),
        }
    }
}

/// A limit and its window; buckets have fixed ones, tests use short windows.
#[derive(Debug, Clone, Copy)]
struct Rule {
    limit: u32,
    window: Duration,
}

/// The moment a check runs at: the real one (this process's monotonic clock in process, Redis's
/// `TIME` in Redis), or, for tests, a moment on a clock they move by hand (an offset from its
/// start), so that windows can be tested without waiting on real time.
#[derive(Debug, Clone, Copy)]
enum Now {
    Real,
    #[cfg_attr(not(test), allow(dead_code))]
    At(Duration),
}

/// Where [`Now::At`] starts in process: any fixed instant will do.
static MANUAL_EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

impl Now {
    /// The instant for the in-process log.
    fn instant(self) -> Instant {
        match self {
            Self::Real => Instant::now(),
            Self::At(offset) => *MANUAL_EPOCH + offset,
        }
    }
}

/// A refusal: whole seconds until the oldest recorded request leaves the window (>= 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Seconds to wait, for `Retry-After` and `X-RateLimit-Reset`.
    pub retry_after_secs: u64,
}

impl Limited {
    /// A refusal for a request that would pass again after `wait`, rounded up to whole seconds.
    fn after(wait: Duration) -> Self {
        let rounded_up = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after_secs: rounded_up,
        }
    }
}

/// The spec's 429 detail.
impl fmt::Display for Limited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Rate limit exceeded. Try again in {} seconds.",
            self.retry_after_secs
        )
    }
}

impl std::error::Error for Limited {}

/// Sliding-log limiter shared by all handlers of a worker (cheap to clone: Arc inside).
#[derive(Clone)]
pub struct RateLimiter(Arc<Backend>);

enum Backend {
    Disabled,
    InProcess(Log),
    Redis(Box<RedisLog>),
}

impl RateLimiter {
    /// Every check passes (RATE_LIMIT_DISABLED=1).
    pub fn disabled() -> Self {
        Self(Arc::new(Backend::Disabled))
    }

    /// Counters in this process: correct for one instance.
    pub fn in_process() -> Self {
        Self(Arc::new(Backend::InProcess(Log::default())))
    }

    /// Counters in Redis at `url` (redis://host:port[/db]), shared by every worker using it.
    /// A bad URL is an error; an unreachable Redis is not (checks fall back to this process
    /// until it answers).
    pub async fn redis(url: &str) -> anyhow::Result<Self> {
        let log = RedisLog::connect(url).await?;
        Ok(Self(Arc::new(Backend::Redis(Box::new(log)))))
    }

    /// Checks `keys` in order for `bucket` within `project`; each allowed key is recorded, the
    /// first key over its limit refuses (and that refused request is not recorded for it).
    /// Keys are namespaced as `<project>:<bucket>:<key>` (spec Recommended: per project).
    pub async fn check(&self, bucket: Bucket, project: Uuid, keys: &[&str]) -> Result<(), Limited> {
        let verdict = self
            .check_rule(bucket.name(), bucket.rule(), project, keys, Now::Real)
            .await;
        if verdict.is_err() {
            crate::metrics::get().refused.inc();
        }
        verdict
    }

    async fn check_rule(
        &self,
        bucket: &str,
        rule: Rule,
        project: Uuid,
        keys: &[&str],
        now: Now,
    ) -> Result<(), Limited> {
        if matches!(*self.0, Backend::Disabled) || keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = keys
            .iter()
            .map(|key| format!("{project}:{bucket}:{key}"))
            .collect();
        match &*self.0 {
            Backend::Disabled => Ok(()),
            Backend::InProcess(log) => log.check(&keys, rule, now.instant()),
            Backend::Redis(redis) => redis.check(&keys, rule, now).await,
        }
    }

    /// "disabled", "in-process" or "redis", for the start-up log line.
    pub fn kind(&self) -> &'static str {
        match *self.0 {
            Backend::Disabled => "disabled",
            Backend::InProcess(_) => "in-process",
            Backend::Redis(_) => "redis",
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RateLimiter").field(&self.kind()).finish()
    }
}

/// Checks between two sweeps of expired keys.
const SWEEP_EVERY: u32 = 1024;

/// Sliding logs kept in this process: the in-process limiter, and the Redis limiter's fallback.
#[derive(Default)]
struct Log(Mutex<Logs>);

#[derive(Default)]
struct Logs {
    by_key: HashMap<String, Entry>,
    checks_since_sweep: u32,
}

/// One key's recorded requests, oldest first.
struct Entry {
    window: Duration,
    times: VecDeque<Instant>,
}

impl Log {
    /// The sliding-log check of `keys` in order, at `now`.
    fn check(&self, keys: &[String], rule: Rule, now: Instant) -> Result<(), Limited> {
        // Nothing in here panics while the lock is held, so a poisoned lock still holds sane logs.
        let mut logs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        logs.checks_since_sweep += 1;
        if logs.checks_since_sweep >= SWEEP_EVERY {
            logs.sweep(now);
        }
        for key in keys {
            if let Some(entry) = logs.by_key.get_mut(key) {
                entry.check(rule, now)?;
            } else {
                let mut entry = Entry {
                    window: rule.window,
                    times: VecDeque::new(),
                };
                entry.check(rule, now)?;
                logs.by_key.insert(key.clone(), entry);
            }
        }
        Ok(())
    }
}

impl Logs {
    /// Forgets keys with no request left in their window, so memory follows recent traffic.
    fn sweep(&mut self, now: Instant) {
        self.checks_since_sweep = 0;
        self.by_key.retain(|_, entry| {
            entry
                .times
                .back()
                .is_some_and(|&newest| newest + entry.window > now)
        });
    }
}

impl Entry {
    fn check(&mut self, rule: Rule, now: Instant) -> Result<(), Limited> {
        self.window = rule.window;
        while let Some(&oldest) = self.times.front() {
            if oldest + rule.window > now {
                break;
            }
            self.times.pop_front();
        }
        if self.times.len() >= rule.limit as usize {
            let leaves_at = self
                .times
                .front()
                .map_or(now, |&oldest| oldest + rule.window);
            return Err(Limited::after(leaves_at.saturating_duration_since(now)));
        }
        self.times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
