//! The cache's rules on both backends: the in-process one and a real Redis server
//! (started per test; skipped without `redis-server` unless FANONE_TEST_REQUIRE_REDIS=1).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use fanone_cache::{Cache, Caches};
use fanone_config::{CacheConfig, RedisConfig};
use fanone_redis::Redis;
use fanone_testkit::servers::RedisServer;
use tokio::sync::Mutex;

/// A fake "database": values by id, counting loads.
#[derive(Clone, Default)]
struct Db {
    rows: Arc<Mutex<HashMap<i64, String>>>,
    loads: Arc<AtomicUsize>,
    delay: Duration,
}

impl Db {
    async fn load(&self, ids: Vec<i64>) -> Result<HashMap<i64, String>, String> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let snapshot: HashMap<i64, String> = {
            let rows = self.rows.lock().await;
            ids.iter()
                .filter_map(|id| rows.get(id).map(|v| (*id, v.clone())))
                .collect()
        };
        tokio::time::sleep(self.delay).await;
        Ok(snapshot)
    }

    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

fn cfg() -> CacheConfig {
    CacheConfig {
        hold_ms: 300,
        ..CacheConfig::default()
    }
}

async fn redis(server: &RedisServer) -> Redis {
    Redis::connect(&RedisConfig {
        url: server.url(),
        ..RedisConfig::default()
    })
    .await
    .expect("connect to the test redis")
}

async fn get(c: &Cache<String>, db: &Db, ids: &[i64]) -> HashMap<i64, String> {
    c.get_many(ids, |ids| db.load(ids)).await.expect("get_many")
}

/// Hits, absent ids, invalidation, and a read racing a write.
async fn rules(caches: Caches) {
    let c: Cache<String> = caches.cache("test:rules");
    let db = Db::default();
    db.rows
        .lock()
        .await
        .extend([(1, "one".to_owned()), (2, "two".to_owned())]);

    let got = get(&c, &db, &[1, 2, 3, 1]).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[&1], "one");
    assert_eq!(db.loads(), 1, "one load for the whole batch");

    // cached: values and the absent id 3
    let got = get(&c, &db, &[2, 3, 1]).await;
    assert_eq!((got.len(), db.loads()), (2, 1), "served from the cache");

    // a write + invalidation is visible on the next read
    db.rows.lock().await.insert(1, "uno".to_owned());
    c.invalidate(&[1]).await;
    let got = get(&c, &db, &[1, 2]).await;
    assert_eq!(got[&1], "uno");
    assert_eq!(db.loads(), 2, "only the invalidated id is loaded again");

    // an id that appears is seen once its absent entry is invalidated
    db.rows.lock().await.insert(3, "three".to_owned());
    c.invalidate(&[3]).await;
    assert_eq!(get(&c, &db, &[3]).await[&3], "three");

    // a read that loaded the old row before a write cannot put it back afterwards
    let slow = Db {
        delay: Duration::from_millis(200),
        ..db.clone()
    };
    let c2 = c.clone();
    c.invalidate(&[2]).await;
    tokio::time::sleep(Duration::from_millis(350)).await; // the hold expires
    let racing = tokio::spawn(async move { get(&c2, &slow, &[2]).await });
    tokio::time::sleep(Duration::from_millis(50)).await; // it has read "two"
    db.rows.lock().await.insert(2, "dos".to_owned());
    c.invalidate(&[2]).await;
    assert_eq!(
        racing.await.unwrap()[&2],
        "two",
        "the racing read saw the old row"
    );
    assert_eq!(
        get(&c, &db, &[2]).await[&2],
        "dos",
        "its stale value was not cached"
    );
}

/// 200 writers invalidating at once (they share backend calls): when each returns,
/// its own id is held, so its next read loads the new row.
async fn concurrent_invalidations(caches: Caches) {
    let c: Cache<String> = caches.cache("test:holds");
    let db = Db::default();
    db.rows
        .lock()
        .await
        .extend((1..=200).map(|i| (i, format!("old {i}"))));
    assert_eq!(
        get(&c, &db, &(1..=200).collect::<Vec<_>>()).await.len(),
        200
    );
    assert_eq!(db.loads(), 1);
    let writers: Vec<_> = (1..=200i64)
        .map(|i| {
            let (c, db) = (c.clone(), db.clone());
            tokio::spawn(async move {
                db.rows.lock().await.insert(i, format!("new {i}"));
                c.invalidate(&[i]).await;
                get(&c, &db, &[i]).await.remove(&i)
            })
        })
        .collect();
    for (i, w) in (1..=200i64).zip(writers) {
        assert_eq!(
            w.await.unwrap().as_deref(),
            Some(format!("new {i}").as_str())
        );
    }
}

/// 100 concurrent misses of one id: one load, 100 answers.
async fn stampede(caches: Caches) {
    let c: Cache<String> = caches.cache("test:stampede");
    let db = Db {
        delay: Duration::from_millis(100),
        ..Db::default()
    };
    db.rows.lock().await.insert(7, "seven".to_owned());
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (c, db) = (c.clone(), db.clone());
            tokio::spawn(async move { get(&c, &db, &[7]).await })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        assert_eq!(t.unwrap()[&7], "seven");
    }
    assert_eq!(db.loads(), 1, "one load for 100 concurrent misses");
}

/// The loader fails: its caller gets the error, the callers waiting on it load for
/// themselves, and nothing is cached.
async fn failing_loader(caches: Caches) {
    let c: Cache<String> = caches.cache("test:failing");
    let calls = Arc::new(AtomicUsize::new(0));
    let leader = {
        let (c, calls) = (c.clone(), calls.clone());
        tokio::spawn(async move {
            c.get_many(&[5], |_| {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err::<HashMap<i64, String>, _>("database down".to_owned())
                }
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let db = Db::default();
    db.rows.lock().await.insert(5, "five".to_owned());
    let follower = get(&c, &db, &[5]).await;
    assert_eq!(leader.await.unwrap().unwrap_err(), "database down");
    assert_eq!(follower[&5], "five", "the follower loaded for itself");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn local_backend() {
    rules(Caches::local(&cfg())).await;
    concurrent_invalidations(Caches::local(&cfg())).await;
    stampede(Caches::local(&cfg())).await;
    failing_loader(Caches::local(&cfg())).await;
}

#[tokio::test]
async fn redis_backend() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let r = redis(&server).await;
    rules(Caches::redis(r.clone(), &cfg())).await;
    concurrent_invalidations(Caches::redis(r.clone(), &cfg())).await;
    stampede(Caches::redis(r.clone(), &cfg())).await;
    failing_loader(Caches::redis(r, &cfg())).await;
}

/// Two processes' worth of caches on one Redis: a write invalidated by one replica
/// is seen by the other on its next read.
#[tokio::test]
async fn invalidation_reaches_every_replica() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let a: Cache<String> = Caches::redis(redis(&server).await, &cfg()).cache("test:replicas");
    let b: Cache<String> = Caches::redis(redis(&server).await, &cfg()).cache("test:replicas");
    let db = Db::default();
    db.rows.lock().await.insert(1, "old".to_owned());
    assert_eq!(get(&a, &db, &[1]).await[&1], "old");
    assert_eq!(get(&b, &db, &[1]).await[&1], "old");
    assert_eq!(db.loads(), 1, "b read what a filled");
    db.rows.lock().await.insert(1, "new".to_owned());
    a.invalidate(&[1]).await;
    assert_eq!(get(&b, &db, &[1]).await[&1], "new");
}

/// Redis dies mid-load: reads fall back to the database at once (no waiting for
/// timeouts), an invalidation made meanwhile is applied when Redis is back, and the
/// cache works again after the restart.
#[tokio::test]
async fn redis_down_falls_back_and_recovers() {
    let Some(mut server) = RedisServer::start_with(true).await else {
        return;
    };
    let r = redis(&server).await;
    let c: Cache<String> = Caches::redis(r.clone(), &cfg()).cache("test:down");
    let db = Db::default();
    db.rows.lock().await.insert(1, "v1".to_owned());
    assert_eq!(get(&c, &db, &[1]).await[&1], "v1");

    server.kill().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.is_up() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!r.is_up(), "the client noticed the server is gone");
    db.rows.lock().await.insert(1, "v2".to_owned());
    c.invalidate(&[1]).await; // cannot reach Redis: kept for later
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(&c, &db, &[1]).await[&1], "v2", "read from the database");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "20 reads with Redis down took {:?}: they must not wait for Redis",
        started.elapsed()
    );

    // back with its append-only file: it still holds "v1" for key 1
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !r.is_up() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(r.is_up(), "the client reconnected");
    let before = db.loads();
    assert_eq!(
        get(&c, &db, &[1]).await[&1],
        "v2",
        "the kept invalidation was applied"
    );
    assert_eq!(db.loads(), before + 1);
    tokio::time::sleep(Duration::from_millis(350)).await; // the hold expires
    assert_eq!(get(&c, &db, &[1]).await[&1], "v2");
    let before = db.loads();
    assert_eq!(get(&c, &db, &[1]).await[&1], "v2");
    assert_eq!(db.loads(), before, "cached again after the restart");
}
