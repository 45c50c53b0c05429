//! Attempt limits: count failures per key (an account, a client address) and answer
//! "wait N seconds" with capped exponential back-off once a few free failures are
//! used up; a success clears the key. Also "once per key per interval" claims (e.g.
//! one counted visit per viewer and video).
//!
//! The state lives behind [`LimitStore`], a few key + window operations that map
//! one to one onto Redis (`HINCRBY`+`HSET`+`PEXPIRE`, `HMGET`, `DEL`,
//! `SET NX PX`): [`MemoryStore`] in one process (standalone), [`RedisStore`] shared
//! by every replica (cluster mode with Redis), [`AnyStore`] either by configuration.
//! A store that cannot be reached never locks anyone out: the attempt is allowed
//! and logged.

mod redis;

pub use redis::{AnyStore, RedisStore};

use std::{
    collections::HashMap,
    future::Future,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The shared store could not be reached (a Redis implementation).
    #[error("limit store: {0}")]
    Store(String),
}

/// The failures counted under a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attempts {
    pub count: u32,
    /// Unix ms of the last counted failure (0 when `count` is 0).
    pub last_ms: i64,
}

/// Key + window operations over shared state.
pub trait LimitStore: Send + Sync + 'static {
    /// Count one failure under `key` at `now_ms`; the key is forgotten `window`
    /// after its last failure. Returns the attempts including this one.
    fn record(
        &self,
        key: &str,
        now_ms: i64,
        window: Duration,
    ) -> impl Future<Output = Result<Attempts, LimitError>> + Send;

    /// The attempts counted under `key` (zero when unknown or forgotten).
    fn peek(
        &self,
        key: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Attempts, LimitError>> + Send;

    /// Forget `key`.
    fn clear(&self, key: &str) -> impl Future<Output = Result<(), LimitError>> + Send;

    /// True if `key` was not claimed in the last `ttl` (and claim it now).
    fn claim(
        &self,
        key: &str,
        now_ms: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, LimitError>> + Send;
}

/// When failures start to cost time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures answered at full speed; the next ones wait.
    pub free_failures: u32,
    /// The wait after the first failure past the free ones; doubles per failure.
    pub base: Duration,
    /// The longest wait (so an attacker cannot lock an account out for good).
    pub max: Duration,
    /// Failures are forgotten this long after the last one.
    pub forget_after: Duration,
}

impl Default for Backoff {
    /// 5 free failures, then 1 s, 2 s, 4 s, ... capped at 15 min; forgotten after 1 h.
    fn default() -> Self {
        Self {
            free_failures: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The wait that follows `failures` consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures < self.free_failures || self.free_failures == u32::MAX {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures).min(40);
        self.base
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max)
    }
}

/// A refusal: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub retry_after: Duration,
}

impl Blocked {
    /// Whole seconds, rounded up, at least 1 (for `Retry-After`).
    pub fn secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// The policy over a store. Store failures are logged and let the attempt through
/// (fail open): an unreachable limiter must not stop every login.
pub struct Throttle<S = AnyStore> {
    store: S,
    policy: Backoff,
}

impl<S: LimitStore> Throttle<S> {
    pub fn new(store: S, policy: Backoff) -> Self {
        Self { store, policy }
    }

    pub fn policy(&self) -> &Backoff {
        &self.policy
    }

    /// `Err` while `key` must wait.
    pub async fn check(&self, key: &str) -> Result<(), Blocked> {
        let now = now_ms();
        match self.store.peek(key, now).await {
            Ok(a) => self.blocked(a, now),
            Err(e) => {
                tracing::warn!(error = %e, "limit store unavailable; attempt allowed");
                Ok(())
            }
        }
    }

    /// Count a failure; `Err` carries the wait it now imposes, if any.
    pub async fn failed(&self, key: &str) -> Result<(), Blocked> {
        let now = now_ms();
        match self.store.record(key, now, self.policy.forget_after).await {
            Ok(a) => self.blocked(a, now),
            Err(e) => {
                tracing::warn!(error = %e, "limit store unavailable; failure not counted");
                Ok(())
            }
        }
    }

    /// A success clears the key's failures.
    pub async fn succeeded(&self, key: &str) {
        if let Err(e) = self.store.clear(key).await {
            tracing::warn!(error = %e, "limit store unavailable; failures not cleared");
        }
    }

    /// True the first time `key` is seen within `ttl`.
    pub async fn first_in(&self, key: &str, ttl: Duration) -> bool {
        self.store
            .claim(key, now_ms(), ttl)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "limit store unavailable; claim allowed");
                true
            })
    }

    fn blocked(&self, a: Attempts, now: i64) -> Result<(), Blocked> {
        let delay = self.policy.delay(a.count);
        let until = a.last_ms.saturating_add(delay.as_millis() as i64);
        if delay.is_zero() || now >= until {
            return Ok(());
        }
        Err(Blocked {
            retry_after: Duration::from_millis((until - now) as u64),
        })
    }
}

/// In-process [`LimitStore`]: one map behind a mutex, expired keys pruned as it grows.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    entries: HashMap<String, Entry>,
    /// Entry count that triggers the next prune of expired keys.
    prune_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    attempts: Attempts,
    expires_ms: i64,
}

impl MemoryInner {
    /// Drop expired keys once the map has doubled since the last prune.
    fn prune(&mut self, now: i64) {
        if self.entries.len() >= self.prune_at {
            self.entries.retain(|_, e| e.expires_ms > now);
            self.prune_at = (self.entries.len() * 2).max(1024);
        }
    }

    fn live(&self, key: &str, now: i64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.expires_ms > now)
    }
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LimitStore for MemoryStore {
    async fn record(
        &self,
        key: &str,
        now_ms: i64,
        window: Duration,
    ) -> Result<Attempts, LimitError> {
        let mut inner = self.lock();
        inner.prune(now_ms);
        let count = inner.live(key, now_ms).map_or(0, |e| e.attempts.count);
        let attempts = Attempts {
            count: count.saturating_add(1),
            last_ms: now_ms,
        };
        inner.entries.insert(
            key.to_owned(),
            Entry {
                attempts,
                expires_ms: now_ms.saturating_add(window.as_millis() as i64),
            },
        );
        Ok(attempts)
    }

    async fn peek(&self, key: &str, now_ms: i64) -> Result<Attempts, LimitError> {
        Ok(self
            .lock()
            .live(key, now_ms)
            .map_or_else(Attempts::default, |e| e.attempts))
    }

    async fn clear(&self, key: &str) -> Result<(), LimitError> {
        self.lock().entries.remove(key);
        Ok(())
    }

    async fn claim(&self, key: &str, now_ms: i64, ttl: Duration) -> Result<bool, LimitError> {
        let mut inner = self.lock();
        inner.prune(now_ms);
        if inner.live(key, now_ms).is_some() {
            return Ok(false);
        }
        inner.entries.insert(
            key.to_owned(),
            Entry {
                attempts: Attempts::default(),
                expires_ms: now_ms.saturating_add(ttl.as_millis() as i64),
            },
        );
        Ok(true)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_after_free_failures_and_is_capped() {
        let b = Backoff::default();
        assert_eq!(b.delay(0), Duration::ZERO);
        assert_eq!(b.delay(4), Duration::ZERO);
        assert_eq!(b.delay(5), Duration::from_secs(1));
        assert_eq!(b.delay(6), Duration::from_secs(2));
        assert_eq!(b.delay(10), Duration::from_secs(32));
        assert_eq!(b.delay(100), Duration::from_secs(900));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(900));
    }

    #[tokio::test]
    async fn failures_block_and_success_resets() {
        let t = Throttle::new(
            MemoryStore::default(),
            Backoff {
                free_failures: 2,
                base: Duration::from_secs(60),
                ..Backoff::default()
            },
        );
        assert!(t.check("acct:a").await.is_ok());
        assert!(t.failed("acct:a").await.is_ok());
        let blocked = t.failed("acct:a").await.expect_err("second failure waits");
        assert!(blocked.secs() > 1 && blocked.secs() <= 60, "{blocked:?}");
        assert!(t.check("acct:a").await.is_err());
        assert!(t.check("acct:b").await.is_ok(), "keys are independent");
        t.succeeded("acct:a").await;
        assert!(t.check("acct:a").await.is_ok());
    }

    #[tokio::test]
    async fn failures_are_forgotten_after_the_window() {
        let s = MemoryStore::default();
        let w = Duration::from_millis(100);
        assert_eq!(s.record("k", 1_000, w).await.unwrap().count, 1);
        assert_eq!(s.record("k", 1_050, w).await.unwrap().count, 2);
        assert_eq!(s.peek("k", 1_149).await.unwrap().count, 2);
        assert_eq!(s.peek("k", 1_150).await.unwrap().count, 0);
        assert_eq!(s.record("k", 1_200, w).await.unwrap().count, 1);
    }

    #[tokio::test]
    async fn claims_once_per_interval() {
        let s = MemoryStore::default();
        let ttl = Duration::from_millis(100);
        assert!(s.claim("v:1:u", 1_000, ttl).await.unwrap());
        assert!(!s.claim("v:1:u", 1_099, ttl).await.unwrap());
        assert!(s.claim("v:1:other", 1_099, ttl).await.unwrap());
        assert!(s.claim("v:1:u", 1_100, ttl).await.unwrap());
    }
}
