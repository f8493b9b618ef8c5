//! The sliding log in Redis: one sorted set per key, read and updated by one Lua script, so every
//! worker using the same Redis shares each limit exactly. A check never fails because Redis is
//! away: it falls back to a log in this process (warning at most once a minute) and Redis is tried
//! again a second later.

use super::{Limited, Log, Now, Rule};
use anyhow::Context;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, Script};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Checks the keys (`KEYS`) in order against `ARGV[1]` requests per `ARGV[2]` milliseconds,
/// recording the request in each allowing key under the member `ARGV[3]`. Returns -1 when every
/// key allowed it, else the milliseconds until the refusing key's oldest request leaves the
/// window. Redis runs a script alone, so the whole check is atomic across workers.
///
/// Time is Redis's own (`TIME`), not the worker's (tests may pass a moment of their own in
/// milliseconds as `ARGV[4]`): every worker then reads one clock, so a worker
/// whose clock is off cannot make the others' requests expire early or late (Redis 5 and newer
/// replicate a script by its effects, which lets it read `TIME` and then write). Times are whole
/// milliseconds, about 1.7e12: Lua numbers are doubles and 13 digits survive every number
/// formatting on the way into a command.
const CHECK_SCRIPT: &str = r"
local now = tonumber(ARGV[4])
if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    if redis.call('ZCARD', key) >= limit then
        local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        if #oldest == 0 then
            return 0
        end
        return tonumber(oldest[2]) + window - now
    end
    redis.call('ZADD', key, now, ARGV[3])
    redis.call('PEXPIRE', key, window)
end
return -1
";

/// Where [`Now::At`] starts in Redis, in milliseconds.
const MANUAL_EPOCH_MS: u64 = 1_000_000_000_000;

/// Keeps our keys apart from anything else stored in the same Redis database.
pub(super) const KEY_PREFIX: &str = "ratelimit:";
/// A check waits at most this long for a connection...
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// ... and this long for the script's answer, before falling back.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection attempt, checks fall back without trying again for this long.
pub(super) const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// At most one warning per outage and this long.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Sliding logs in Redis, with a log in this process for when Redis is away.
pub(super) struct RedisLog {
    client: Client,
    config: AsyncConnectionConfig,
    script: Script,
    /// A random tag of this limiter; with `seq`, it makes every recorded member unique.
    tag: String,
    seq: AtomicU64,
    link: Mutex<Link>,
    /// Held while connecting: one check connects, the others fall back meanwhile.
    connecting: tokio::sync::Mutex<()>,
    fallback: Log,
    outage: Mutex<Outage>,
}

#[derive(Default)]
struct Link {
    /// The connection with its number, so that a failure seen on an older one does not drop it.
    current: Option<(u64, MultiplexedConnection)>,
    opened: u64,
    /// No connection attempt before then.
    retry_at: Option<Instant>,
}

/// The current outage, for its warnings.
#[derive(Default)]
struct Outage {
    warned_at: Option<Instant>,
    /// Checks that fell back so far.
    fallbacks: u64,
    last_error: String,
}

/// Why a check could not ask Redis.
#[derive(Debug, thiserror::Error)]
enum Unavailable {
    #[error("waiting before connecting again")]
    Waiting,
    #[error(transparent)]
    Redis(#[from] RedisError),
}

impl RedisLog {
    /// Parses `url` (an error if bad) and tries to connect once (a warning if that fails).
    pub(super) async fn connect(url: &str) -> anyhow::Result<Self> {
        // The URL may carry a password: it stays out of messages.
        let client = Client::open(url).context("parse the Redis URL")?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let log = Self {
            client,
            config,
            script: Script::new(CHECK_SCRIPT),
            tag: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            seq: AtomicU64::new(0),
            link: Mutex::default(),
            connecting: tokio::sync::Mutex::new(()),
            fallback: Log::default(),
            outage: Mutex::default(),
        };
        if let Err(e) = log.connection().await {
            warn!("Redis unreachable at start ({e}): rate limits are checked in this worker alone until it answers");
            let mut outage = log.outage();
            outage.warned_at = Some(Instant::now());
            outage.last_error = e.to_string();
        }
        Ok(log)
    }

    /// The sliding-log check of `keys` in order, in Redis or, if it is away, in this process.
    pub(super) async fn check(&self, keys: &[String], rule: Rule, now: Now) -> Result<(), Limited> {
        match self.check_shared(keys, rule, now).await {
            Ok(verdict) => verdict,
            Err(cause) => {
                self.note_fallback(cause);
                self.fallback.check(keys, rule, now.instant())
            }
        }
    }

    async fn check_shared(
        &self,
        keys: &[String],
        rule: Rule,
        now: Now,
    ) -> Result<Result<(), Limited>, Unavailable> {
        let (id, mut conn) = self.connection().await?;
        let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX);
        let member = format!("{}-{}", self.tag, self.seq.fetch_add(1, Ordering::Relaxed));
        let mut call = self.script.prepare_invoke();
        for key in keys {
            call.key(format!("{KEY_PREFIX}{key}"));
        }
        call.arg(rule.limit).arg(window_ms).arg(member);
        if let Now::At(at) = now {
            // Far from 0, as real times are, so that `now - window` stays positive.
            call.arg(MANUAL_EPOCH_MS + u64::try_from(at.as_millis()).unwrap_or(u64::MAX / 2));
        }
        match call.invoke_async::<i64>(&mut conn).await {
            Ok(wait_ms) => match u64::try_from(wait_ms) {
                Err(_) => Ok(Ok(())),
                Ok(wait_ms) => Ok(Err(Limited::after(Duration::from_millis(wait_ms)))),
            },
            Err(e) => {
                // An error reply leaves the connection usable; anything else may not.
                if !matches!(e.kind(), ErrorKind::Server(_)) {
                    self.drop_connection(id);
                }
                Err(e.into())
            }
        }
    }

    /// The current connection, or a new one unless another check is connecting or the last
    /// attempt failed less than [`RECONNECT_AFTER`] ago.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), Unavailable> {
        {
            let link = self.link();
            if let Some(current) = &link.current {
                return Ok(current.clone());
            }
            if link.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(Unavailable::Waiting);
            }
        }
        let Ok(_connecting) = self.connecting.try_lock() else {
            return Err(Unavailable::Waiting);
        };
        if let Some(current) = &self.link().current {
            return Ok(current.clone());
        }
        let opened = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await;
        let mut link = self.link();
        match opened {
            Ok(conn) => {
                link.opened += 1;
                let current = (link.opened, conn);
                link.current = Some(current.clone());
                link.retry_at = None;
                drop(link);
                self.note_reachable();
                Ok(current)
            }
            Err(e) => {
                link.retry_at = Some(Instant::now() + RECONNECT_AFTER);
                Err(e.into())
            }
        }
    }

    /// Forgets connection `id` (if still current): the next check connects again.
    fn drop_connection(&self, id: u64) {
        let mut link = self.link();
        if link
            .current
            .as_ref()
            .is_some_and(|(current, _)| *current == id)
        {
            link.current = None;
        }
    }

    fn note_fallback(&self, cause: Unavailable) {
        let mut outage = self.outage();
        outage.fallbacks += 1;
        if let Unavailable::Redis(e) = cause {
            outage.last_error = e.to_string();
        }
        let now = Instant::now();
        if outage.warned_at.is_some_and(|at| now < at + WARN_EVERY) {
            return;
        }
        warn!(
            ratelimit.fallbacks = outage.fallbacks,
            "Redis unreachable ({}): rate limits are checked in this worker alone meanwhile",
            outage.last_error
        );
        outage.warned_at = Some(now);
    }

    fn note_reachable(&self) {
        let mut outage = self.outage();
        if outage.warned_at.is_some() {
            info!(
                ratelimit.fallbacks = outage.fallbacks,
                "Redis reachable again: rate limits are shared by the workers again"
            );
        }
        *outage = Outage::default();
    }

    // Nothing panics while these locks are held, so a poisoned one still holds sane state.
    fn link(&self) -> MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn outage(&self) -> MutexGuard<'_, Outage> {
        self.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
