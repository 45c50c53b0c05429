//! The Redis store on a real Redis server (skipped without `redis-server` unless
//! FANONE_TEST_REQUIRE_REDIS=1): the same answers as the in-process store, shared by
//! two processes' worth of throttles, and no lock-out while Redis is down.

use std::time::Duration;

use fanone_config::RedisConfig;
use fanone_limit::{AnyStore, Backoff, LimitStore, RedisStore, Throttle, now_ms};
use fanone_testkit::servers::RedisServer;

async fn store(server: &RedisServer) -> RedisStore {
    let redis = fanone_redis::Redis::connect(&RedisConfig {
        url: server.url(),
        ..RedisConfig::default()
    })
    .await
    .expect("connect to the test redis");
    RedisStore::new(redis, "test:limit")
}

#[tokio::test]
async fn failures_windows_and_claims() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let s = store(&server).await;
    let w = Duration::from_millis(300);
    let t0 = now_ms();
    assert_eq!(s.peek("k", t0).await.unwrap().count, 0);
    assert_eq!(s.record("k", t0, w).await.unwrap().count, 1);
    let a = s.record("k", t0 + 5, w).await.unwrap();
    assert_eq!((a.count, a.last_ms), (2, t0 + 5));
    let p = s.peek("k", t0 + 10).await.unwrap();
    assert_eq!((p.count, p.last_ms), (2, t0 + 5));
    assert_eq!(
        s.peek("other", t0).await.unwrap().count,
        0,
        "keys are independent"
    );
    // forgotten one window after the last failure
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.peek("k", now_ms()).await.unwrap().count, 0);
    s.record("k", now_ms(), w).await.unwrap();
    s.clear("k").await.unwrap();
    assert_eq!(s.peek("k", now_ms()).await.unwrap().count, 0);

    let ttl = Duration::from_millis(300);
    assert!(s.claim("v:1:u", now_ms(), ttl).await.unwrap());
    assert!(!s.claim("v:1:u", now_ms(), ttl).await.unwrap());
    assert!(s.claim("v:1:other", now_ms(), ttl).await.unwrap());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(s.claim("v:1:u", now_ms(), ttl).await.unwrap());
}

/// Two replicas' throttles on one Redis count the same account together.
#[tokio::test]
async fn replicas_share_the_count_and_redis_down_locks_nobody_out() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let policy = Backoff {
        free_failures: 2,
        base: Duration::from_secs(60),
        ..Backoff::default()
    };
    let a = Throttle::new(AnyStore::Redis(store(&server).await), policy);
    let b = Throttle::new(AnyStore::Redis(store(&server).await), policy);
    assert!(a.failed("login:alice").await.is_ok());
    let blocked = b
        .failed("login:alice")
        .await
        .expect_err("the second failure, on the other replica, already waits");
    assert!(blocked.secs() >= 1);
    assert!(
        a.check("login:alice").await.is_err(),
        "replica a sees it too"
    );
    assert!(b.first_in("visit:1:u", Duration::from_secs(60)).await);
    assert!(!a.first_in("visit:1:u", Duration::from_secs(60)).await);

    server.kill().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        a.check("login:bob").await.is_ok(),
        "an unreachable store allows the attempt"
    );
    assert!(a.first_in("visit:2:u", Duration::from_secs(60)).await);
}
