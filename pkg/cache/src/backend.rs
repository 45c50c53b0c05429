//! Where cached bytes live: this process's memory or Redis, behind one small trait.
//!
//! Every backend keeps the same three operations, with the same meaning:
//! - `get_many`: the stored entries of some keys (absent or expired = `None`);
//! - `fill_many`: store entries *unless the key already holds something* (Redis
//!   `SET NX`): a fill never overwrites a newer fill or a hold;
//! - `hold_many`: overwrite keys with a short-lived hold marker (see [`crate::Cache`]),
//!   so that a read which started before a write cannot put its older value back.

use std::{
    collections::HashMap,
    future::Future,
    hash::{BuildHasher, RandomState},
    sync::Mutex,
    time::{Duration, Instant},
};

use fanone_redis::{
    Redis,
    fred::{
        interfaces::KeysInterface,
        types::{Expiration, SetOptions, Value},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("redis is unreachable")]
    Down,
    #[error("redis: {0}")]
    Redis(#[from] fanone_redis::fred::error::Error),
}

pub trait Backend: Send + Sync + 'static {
    fn get_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, BackendError>> + Send;

    fn fill_many(
        &self,
        items: Vec<(String, Vec<u8>, Duration)>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    fn hold_many(
        &self,
        keys: &[String],
        value: &[u8],
        hold: Duration,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// Entries in this process's memory (standalone mode: one process holds every
/// service, so every write and every read see the same map).
/// One shard of [`Local`]: key → (bytes, expiry).
type Shard = HashMap<String, (Vec<u8>, Instant)>;

pub struct Local {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    max_per_shard: usize,
}

const SHARDS: usize = 16;

impl Local {
    /// At most about `max_entries` entries; when a shard is full, its expired entries
    /// go first, then an arbitrary half of it (a cache may forget anything).
    pub fn new(max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            max_per_shard: (max_entries / SHARDS).max(1),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // entries are plain data: a panic elsewhere cannot leave one half-written
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, key: String, value: Vec<u8>, ttl: Duration, only_if_empty: bool) {
        let now = Instant::now();
        let mut shard = self.shard(&key);
        if only_if_empty && shard.get(&key).is_some_and(|(_, until)| *until > now) {
            return;
        }
        if shard.len() >= self.max_per_shard && !shard.contains_key(&key) {
            shard.retain(|_, (_, until)| *until > now);
            if shard.len() >= self.max_per_shard {
                let drop: Vec<String> = shard.keys().step_by(2).cloned().collect();
                for k in drop {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(key, (value, now + ttl));
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Backend for Local {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let now = Instant::now();
        Ok(keys
            .iter()
            .map(|k| {
                self.shard(k)
                    .get(k)
                    .filter(|(_, until)| *until > now)
                    .map(|(v, _)| v.clone())
            })
            .collect())
    }

    async fn fill_many(&self, items: Vec<(String, Vec<u8>, Duration)>) -> Result<(), BackendError> {
        for (k, v, ttl) in items {
            self.put(k, v, ttl, true);
        }
        Ok(())
    }

    async fn hold_many(
        &self,
        keys: &[String],
        value: &[u8],
        hold: Duration,
    ) -> Result<(), BackendError> {
        for k in keys {
            self.put(k.clone(), value.to_vec(), hold, false);
        }
        Ok(())
    }
}

/// Entries in Redis, shared by every replica of the owning service. Each call is
/// one round trip (`MGET`, or one pipeline of `SET`s).
impl Backend for Redis {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let client = self.client().ok_or(BackendError::Down)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Value> = if keys.len() == 1 {
            // MGET of one key answers a bare value, not a list of one
            vec![client.get::<Value, _>(keys[0].as_str()).await?]
        } else {
            client.mget(keys.to_vec()).await?
        };
        Ok(values.into_iter().map(bytes_of).collect())
    }

    async fn fill_many(&self, items: Vec<(String, Vec<u8>, Duration)>) -> Result<(), BackendError> {
        set_all(self, items, Some(SetOptions::NX)).await
    }

    async fn hold_many(
        &self,
        keys: &[String],
        value: &[u8],
        hold: Duration,
    ) -> Result<(), BackendError> {
        let items = keys
            .iter()
            .map(|k| (k.clone(), value.to_vec(), hold))
            .collect();
        set_all(self, items, None).await
    }
}

/// `SET key value PX ttl [NX]` for every item, in one pipeline (one round trip).
async fn set_all(
    redis: &Redis,
    items: Vec<(String, Vec<u8>, Duration)>,
    options: Option<SetOptions>,
) -> Result<(), BackendError> {
    if items.is_empty() {
        return Ok(());
    }
    let client = redis.client().ok_or(BackendError::Down)?;
    let pipe = client.pipeline();
    for (k, v, ttl) in items {
        let () = pipe
            .set(k, v, Some(px(ttl)), options.clone(), false)
            .await?;
    }
    let _: Vec<Value> = pipe.all().await?;
    Ok(())
}

fn px(d: Duration) -> Expiration {
    Expiration::PX(i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1))
}

fn bytes_of(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) => Some(b.to_vec()),
        Value::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// The backend chosen by configuration (the trait is not object-safe).
pub enum AnyBackend {
    Local(Local),
    Redis(Redis),
}

impl Backend for AnyBackend {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        match self {
            AnyBackend::Local(b) => b.get_many(keys).await,
            AnyBackend::Redis(b) => b.get_many(keys).await,
        }
    }

    async fn fill_many(&self, items: Vec<(String, Vec<u8>, Duration)>) -> Result<(), BackendError> {
        match self {
            AnyBackend::Local(b) => b.fill_many(items).await,
            AnyBackend::Redis(b) => b.fill_many(items).await,
        }
    }

    async fn hold_many(
        &self,
        keys: &[String],
        value: &[u8],
        hold: Duration,
    ) -> Result<(), BackendError> {
        match self {
            AnyBackend::Local(b) => b.hold_many(keys, value, hold).await,
            AnyBackend::Redis(b) => b.hold_many(keys, value, hold).await,
        }
    }
}
