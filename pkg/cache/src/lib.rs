//! Read-through cache of hot reads (profiles, videos, counts), owned by the service
//! whose data it holds.
//!
//! - **Backends** ([`backend`]): this process's memory in standalone mode (one process
//!   runs every service), Redis in cluster mode (shared by every replica of the
//!   owning service). A cluster without Redis runs with the cache off, never with
//!   per-replica memory caches that a write on another replica could not invalidate.
//! - **Never the source of truth**: a miss, a backend error or Redis being down
//!   means "read the database"; nothing is lost when the cache is.
//! - **One load per key**: concurrent misses of the same id in one process wait for
//!   the first loader instead of all reading the database (no stampede).
//! - **Absent ids** are cached too, for `absent_ttl`, so probing unknown ids does
//!   not reach the database every time.
//! - **TTL with jitter**: entries loaded together do not expire together (each lives
//!   up to `ttl_jitter_pct` % less than its ttl, never more).
//! - **Invalidation**: the owning service calls [`Cache::invalidate`] after every
//!   write that changes a cached value. It does not delete the key: it *holds* it
//!   (a marker that reads treat as a miss and fills cannot overwrite) for `hold`, so
//!   a read that loaded the old row just before the write cannot put it back. An
//!   invalidation that fails (Redis unreachable) is kept and retried before the next
//!   use of the cache. Concurrent invalidations of one cache share one backend call
//!   (`fanone_batch`: under load every like holds its video's counts, and one
//!   pipeline holds the keys of all the likes answered together).

pub mod backend;

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

pub use backend::{AnyBackend, Backend, BackendError, Local};
use fanone_config::CacheConfig;
use rand::Rng;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::watch;

const VALUE: u8 = b'V';
const ABSENT: u8 = b'A';
const HOLD: u8 = b'H';

/// The backend shared by the caches of a process (cheap to clone). `None` = off.
#[derive(Clone, Default)]
pub struct Caches(Option<Arc<AnyBackend>>, Option<Arc<CacheConfig>>);

impl Caches {
    /// No cache: every read goes to the database.
    pub fn off() -> Self {
        Self(None, None)
    }

    /// This process's memory (standalone).
    pub fn local(cfg: &CacheConfig) -> Self {
        if !cfg.enabled {
            return Self::off();
        }
        Self(
            Some(Arc::new(AnyBackend::Local(Local::new(
                cfg.local_max_entries,
            )))),
            Some(Arc::new(cfg.clone())),
        )
    }

    /// Redis (cluster).
    pub fn redis(redis: fanone_redis::Redis, cfg: &CacheConfig) -> Self {
        if !cfg.enabled {
            return Self::off();
        }
        Self(
            Some(Arc::new(AnyBackend::Redis(redis))),
            Some(Arc::new(cfg.clone())),
        )
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// A typed cache over this backend; keys are `"{name}:{id}"`, `name` naming the
    /// owning service and the data (e.g. `user:profile`).
    pub fn cache<T>(&self, name: &'static str) -> Cache<T> {
        let ttl = self.1.as_deref().map_or(300, |c| c.ttl_secs);
        self.cache_with_ttl(name, Duration::from_secs(ttl))
    }

    /// A typed cache whose entries live `ttl` (plus jitter) instead of the
    /// configured lifetime: for values allowed to lag by at most that (counts).
    pub fn cache_with_ttl<T>(&self, name: &'static str, ttl: Duration) -> Cache<T> {
        let cfg = self.1.as_deref().cloned().unwrap_or_default();
        let holds = self.0.clone().map(|backend| {
            Arc::new(Holds {
                name,
                backend,
                hold: Duration::from_millis(cfg.hold_ms.max(1)),
                unheld: Mutex::new(HashSet::new()),
                has_unheld: AtomicBool::new(false),
            })
        });
        Cache {
            inner: Arc::new(Inner {
                backend: self.0.clone(),
                name,
                ttl: ttl.max(Duration::from_millis(1)),
                jitter_pct: cfg.ttl_jitter_pct.min(100),
                absent_ttl: Duration::from_secs(cfg.absent_ttl_secs),
                flights: Mutex::new(HashMap::new()),
                holding: holds.map(|h| (h.clone(), h.coalescer())),
            }),
        }
    }
}

/// What one load found for an id, shared with the callers waiting for it.
#[derive(Clone)]
enum Outcome<T> {
    Found(T),
    Absent,
    /// The loader failed or went away: waiters load for themselves.
    Failed,
}

type Flight<T> = watch::Receiver<Option<Outcome<T>>>;

/// A typed read-through cache of values by id. Cloning shares it.
pub struct Cache<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T> {
    backend: Option<Arc<AnyBackend>>,
    name: &'static str,
    ttl: Duration,
    jitter_pct: u64,
    absent_ttl: Duration,
    flights: Mutex<HashMap<i64, Flight<T>>>,
    /// Invalidations (with a backend): the holds, and the coalescer that sends
    /// concurrent ones together.
    holding: Option<(Arc<Holds>, HoldKeys)>,
}

/// Concurrent invalidations of one cache, coalesced: each key is one item, the batch
/// one `hold_many`. It never fails (a refused hold is kept for a retry).
type HoldKeys = fanone_batch::Coalescer<String, (), std::convert::Infallible>;

/// Holding keys of one cache: the marker writes, and the ones the backend refused.
struct Holds {
    name: &'static str,
    backend: Arc<AnyBackend>,
    hold: Duration,
    /// Invalidations the backend refused (unreachable); retried before the next use.
    unheld: Mutex<HashSet<String>>,
    has_unheld: AtomicBool,
}

/// Most keys held in one backend call.
const HOLD_BATCH: usize = 512;

impl Holds {
    fn coalescer(self: &Arc<Self>) -> HoldKeys {
        let holds = self.clone();
        fanone_batch::Coalescer::new(self.name, HOLD_BATCH, 1, move |keys: Vec<String>| {
            let holds = holds.clone();
            async move {
                let n = keys.len();
                holds.hold(keys).await;
                Ok(vec![(); n])
            }
        })
    }

    async fn hold(&self, keys: Vec<String>) {
        if let Err(e) = self.backend.hold_many(&keys, &[HOLD], self.hold).await {
            tracing::warn!(cache = self.name, keys = keys.len(), error = %e,
                "cache invalidation failed; retrying before the next read");
            count(self.name, "error", 1);
            let mut unheld = self.unheld.lock().unwrap_or_else(|p| p.into_inner());
            unheld.extend(keys);
            self.has_unheld.store(true, Ordering::Release);
        }
    }

    async fn retry(&self) {
        if !self.has_unheld.load(Ordering::Acquire) {
            return;
        }
        let keys: Vec<String> = {
            let mut unheld = self.unheld.lock().unwrap_or_else(|p| p.into_inner());
            self.has_unheld.store(false, Ordering::Release);
            unheld.drain().collect()
        };
        self.hold(keys).await;
    }
}

impl<T> Cache<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// The values of `ids` (ids that do not exist are left out), from the cache where
    /// it has them and from `load` for the rest. `load` receives ids not cached and
    /// not being loaded by a concurrent caller, and returns the ones that exist; it
    /// is called at most twice (the second time only for ids whose concurrent
    /// loader failed).
    pub async fn get_many<E, F, Fut>(&self, ids: &[i64], load: F) -> Result<HashMap<i64, T>, E>
    where
        F: Fn(Vec<i64>) -> Fut,
        Fut: Future<Output = Result<HashMap<i64, T>, E>>,
    {
        let inner = &*self.inner;
        let Some(backend) = inner.backend.as_deref() else {
            return load(ids.to_vec()).await;
        };
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if let Some((holds, _)) = &inner.holding {
            holds.retry().await;
        }

        let mut out = HashMap::with_capacity(ids.len());
        let keys: Vec<String> = ids.iter().map(|id| self.key(*id)).collect();
        let mut missing = Vec::new();
        match backend.get_many(&keys).await {
            Ok(entries) => {
                for (id, entry) in ids.iter().zip(entries) {
                    match entry.as_deref().map(decode::<T>) {
                        Some(Some(Outcome::Found(v))) => {
                            out.insert(*id, v);
                        }
                        Some(Some(Outcome::Absent)) => {}
                        _ => missing.push(*id),
                    }
                }
                self.count("hit", (ids.len() - missing.len()) as u64);
                self.count("miss", missing.len() as u64);
            }
            Err(e) => {
                tracing::debug!(cache = inner.name, error = %e, "cache read failed; reading the database");
                self.count("error", ids.len() as u64);
                missing = ids;
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }

        // one load per id: join a concurrent caller's load, or lead one
        let (lead, waits) = self.join_flights(&missing);
        if !lead.ids.is_empty() {
            let loaded = load(lead.ids.clone()).await?;
            let mut fills = Vec::with_capacity(lead.ids.len());
            for (id, tx) in lead.ids.iter().zip(&lead.senders) {
                let outcome = match loaded.get(id) {
                    Some(v) => Outcome::Found(v.clone()),
                    None => Outcome::Absent,
                };
                if let Some(bytes) = encode(&outcome) {
                    let ttl = match outcome {
                        Outcome::Found(_) => self.ttl_with_jitter(),
                        _ => inner.absent_ttl,
                    };
                    if !ttl.is_zero() {
                        fills.push((self.key(*id), bytes, ttl));
                    }
                }
                let _ = tx.send(Some(outcome));
            }
            out.extend(loaded);
            if let Err(e) = backend.fill_many(fills).await {
                tracing::debug!(cache = inner.name, error = %e, "cache fill failed");
                self.count("error", 1);
            }
            // the flights end once the backend has the values (callers arriving
            // meanwhile join them rather than load again)
            drop(lead);
        }
        let mut retry = Vec::new();
        for (id, mut rx) in waits {
            let outcome = match rx.wait_for(Option::is_some).await {
                Ok(v) => v.clone().unwrap_or(Outcome::Failed),
                Err(_) => Outcome::Failed,
            };
            match outcome {
                Outcome::Found(v) => {
                    out.insert(id, v);
                }
                Outcome::Absent => {}
                Outcome::Failed => retry.push(id),
            }
        }
        if !retry.is_empty() {
            out.extend(load(retry).await?);
        }
        Ok(out)
    }

    /// Whether values are cached at all (off: every read calls the loader).
    pub fn is_on(&self) -> bool {
        self.inner.backend.is_some()
    }

    /// One value (`None` = no such id).
    pub async fn get<E, F, Fut>(&self, id: i64, load: F) -> Result<Option<T>, E>
    where
        F: Fn(Vec<i64>) -> Fut,
        Fut: Future<Output = Result<HashMap<i64, T>, E>>,
    {
        Ok(self.get_many(&[id], load).await?.remove(&id))
    }

    /// The cached values of `ids` changed (or are about to): hold their keys for
    /// `hold`, so reads go to the database and no older value is filled back. Call
    /// it after the write commits; it returns once the keys are held (concurrent
    /// calls share one backend call). Never fails: an unreachable backend is retried.
    pub async fn invalidate(&self, ids: &[i64]) {
        let Some((_, coalescer)) = &self.inner.holding else {
            return;
        };
        let held = ids.iter().map(|id| coalescer.call(self.key(*id)));
        // Infallible: a refused hold is kept for a retry, not an error
        for r in futures::future::join_all(held).await {
            if let Err(e) = r {
                tracing::error!(cache = self.inner.name, error = %e, "cache invalidation lost");
            }
        }
    }

    fn join_flights(&self, missing: &[i64]) -> (Lead<'_, T>, Vec<(i64, Flight<T>)>) {
        let mut lead = Lead {
            cache: &self.inner,
            ids: Vec::new(),
            senders: Vec::new(),
        };
        let mut waits = Vec::new();
        let mut flights = self.inner.flights.lock().unwrap_or_else(|p| p.into_inner());
        for &id in missing {
            if let Some(rx) = flights.get(&id) {
                waits.push((id, rx.clone()));
            } else {
                let (tx, rx) = watch::channel(None);
                flights.insert(id, rx);
                lead.ids.push(id);
                lead.senders.push(tx);
            }
        }
        (lead, waits)
    }

    fn key(&self, id: i64) -> String {
        format!("{}:{id}", self.inner.name)
    }

    /// The entry lifetime: up to `jitter_pct` % shorter than the ttl, never longer
    /// (a count cached for the settle interval lags by at most that).
    fn ttl_with_jitter(&self) -> Duration {
        let inner = &*self.inner;
        let max_less = inner.ttl.as_millis() as u64 * inner.jitter_pct / 100;
        let less = if max_less == 0 {
            0
        } else {
            rand::rng().random_range(0..=max_less)
        };
        inner.ttl - Duration::from_millis(less)
    }

    fn count(&self, result: &'static str, n: u64) {
        count(self.inner.name, result, n);
    }
}

/// `fanone_cache_requests_total` of cache `name`.
fn count(name: &'static str, result: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("fanone_cache_requests_total", "cache" => name, "result" => result)
            .increment(n);
    }
}

/// The ids this caller loads for everyone. Dropping it ends the flights: waiters that
/// got no outcome (the loader failed or was cancelled) load for themselves.
struct Lead<'a, T> {
    cache: &'a Inner<T>,
    ids: Vec<i64>,
    senders: Vec<watch::Sender<Option<Outcome<T>>>>,
}

impl<T> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights.lock().unwrap_or_else(|p| p.into_inner());
        for id in &self.ids {
            flights.remove(id);
        }
        for tx in &self.senders {
            tx.send_if_modified(|v| {
                if v.is_none() {
                    *v = Some(Outcome::Failed);
                    true
                } else {
                    false
                }
            });
        }
    }
}

fn encode<T: Serialize>(o: &Outcome<T>) -> Option<Vec<u8>> {
    match o {
        Outcome::Found(v) => {
            let mut out = vec![VALUE];
            serde_json::to_writer(&mut out, v).ok()?;
            Some(out)
        }
        Outcome::Absent => Some(vec![ABSENT]),
        Outcome::Failed => None,
    }
}

/// `None` = a hold or an entry this build cannot read (both mean "miss").
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<Outcome<T>> {
    match bytes.split_first()? {
        (&VALUE, json) => serde_json::from_slice(json).ok().map(Outcome::Found),
        (&ABSENT, []) => Some(Outcome::Absent),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_holds_read_as_misses() {
        let v = encode(&Outcome::Found(("a".to_owned(), 7))).unwrap();
        assert!(matches!(decode::<(String, i32)>(&v), Some(Outcome::Found((s, 7))) if s == "a"));
        assert!(matches!(
            decode::<i32>(&encode::<i32>(&Outcome::Absent).unwrap()),
            Some(Outcome::Absent)
        ));
        assert!(decode::<i32>(&[HOLD]).is_none());
        assert!(decode::<i32>(b"Vnot json").is_none());
        assert!(decode::<i32>(&[]).is_none());
    }
}
