//! [`LimitStore`] on Redis, shared by every replica (cluster mode): a key's failures
//! are one hash (`count`, `last`) with a TTL; a claim is `SET NX PX`. Expiry follows
//! Redis's clock (the window starts at the last failure as Redis saw it).

use std::time::Duration;

use fanone_redis::{
    Redis,
    fred::{
        interfaces::{HashesInterface, KeysInterface, TransactionInterface},
        types::{Expiration, SetOptions, Value},
    },
};

use crate::{Attempts, LimitError, LimitStore};

pub struct RedisStore {
    redis: Redis,
    /// Prefix of every key (the owner: `user:limit`, `gateway:limit`).
    prefix: &'static str,
}

impl RedisStore {
    pub fn new(redis: Redis, prefix: &'static str) -> Self {
        Self { redis, prefix }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    fn client(&self) -> Result<&fanone_redis::fred::clients::Client, LimitError> {
        self.redis
            .client()
            .ok_or_else(|| LimitError::Store("redis is unreachable".into()))
    }
}

fn store_err(e: fanone_redis::fred::error::Error) -> LimitError {
    LimitError::Store(e.to_string())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl LimitStore for RedisStore {
    async fn record(
        &self,
        key: &str,
        now_ms: i64,
        window: Duration,
    ) -> Result<Attempts, LimitError> {
        let k = self.key(key);
        let tx = self.client()?.multi();
        let _: Value = tx.hincrby(&k, "count", 1).await.map_err(store_err)?;
        let _: Value = tx.hset(&k, ("last", now_ms)).await.map_err(store_err)?;
        let _: Value = tx
            .pexpire(&k, millis(window), None)
            .await
            .map_err(store_err)?;
        let (count, _, _): (i64, i64, i64) = tx.exec(true).await.map_err(store_err)?;
        Ok(Attempts {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            last_ms: now_ms,
        })
    }

    async fn peek(&self, key: &str, _now_ms: i64) -> Result<Attempts, LimitError> {
        let (count, last): (Option<i64>, Option<i64>) = self
            .client()?
            .hmget(self.key(key), vec!["count", "last"])
            .await
            .map_err(store_err)?;
        Ok(Attempts {
            count: count.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)),
            last_ms: last.unwrap_or(0),
        })
    }

    async fn clear(&self, key: &str) -> Result<(), LimitError> {
        let _: i64 = self.client()?.del(self.key(key)).await.map_err(store_err)?;
        Ok(())
    }

    async fn claim(&self, key: &str, _now_ms: i64, ttl: Duration) -> Result<bool, LimitError> {
        let set: Option<String> = self
            .client()?
            .set(
                self.key(key),
                "1",
                Some(Expiration::PX(millis(ttl))),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(store_err)?;
        Ok(set.is_some())
    }
}

/// The store chosen by configuration: this process's memory, or Redis.
pub enum AnyStore {
    Memory(crate::MemoryStore),
    Redis(RedisStore),
}

impl Default for AnyStore {
    fn default() -> Self {
        AnyStore::Memory(crate::MemoryStore::default())
    }
}

impl LimitStore for AnyStore {
    async fn record(
        &self,
        key: &str,
        now_ms: i64,
        window: Duration,
    ) -> Result<Attempts, LimitError> {
        match self {
            AnyStore::Memory(s) => s.record(key, now_ms, window).await,
            AnyStore::Redis(s) => s.record(key, now_ms, window).await,
        }
    }

    async fn peek(&self, key: &str, now_ms: i64) -> Result<Attempts, LimitError> {
        match self {
            AnyStore::Memory(s) => s.peek(key, now_ms).await,
            AnyStore::Redis(s) => s.peek(key, now_ms).await,
        }
    }

    async fn clear(&self, key: &str) -> Result<(), LimitError> {
        match self {
            AnyStore::Memory(s) => s.clear(key).await,
            AnyStore::Redis(s) => s.clear(key).await,
        }
    }

    async fn claim(&self, key: &str, now_ms: i64, ttl: Duration) -> Result<bool, LimitError> {
        match self {
            AnyStore::Memory(s) => s.claim(key, now_ms, ttl).await,
            AnyStore::Redis(s) => s.claim(key, now_ms, ttl).await,
        }
    }
}
