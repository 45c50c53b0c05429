//! The Redis Streams queue on a real Redis server (started per test; skipped without
//! `redis-server` unless FANONE_TEST_REQUIRE_REDIS=1): at-least-once delivery to a
//! consumer group, entries of a consumer that died claimed by another, and events kept
//! across a Redis restart (append-only file on).

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use fanone_config::RedisConfig;
use fanone_events::{EventBus, ImageStored, streams::Streams};
use fanone_jobs::Jobs;
use fanone_testkit::servers::RedisServer;

const TOPIC: &str = "test.stream";

fn ev(n: i64) -> ImageStored {
    ImageStored {
        url: format!("http://x/static/{n}.png"),
        kind: "avatar".into(),
        owner_id: n,
        stored_at: n,
    }
}

async fn bus(server: &RedisServer, claim_after: Duration) -> EventBus {
    let redis = fanone_redis::Redis::connect(&RedisConfig {
        url: server.url(),
        ..RedisConfig::default()
    })
    .await
    .expect("connect to the test redis");
    EventBus::streams(Streams::new(redis).with_claim_after(claim_after))
}

type Seen = Arc<Mutex<Vec<i64>>>;

/// A consumer of `group` recording owner ids; `hang_on` makes its handler never
/// finish for that owner id (a consumer stuck or about to die mid-event).
fn consume(bus: &EventBus, jobs: &Jobs, group: &'static str, seen: &Seen, hang_on: Option<i64>) {
    let seen = seen.clone();
    bus.consume(jobs, group, TOPIC, Duration::from_millis(20), move |d| {
        let seen = seen.clone();
        async move {
            let e: ImageStored = d.decode().map_err(|e| e.to_string())?;
            seen.lock().unwrap().push(e.owner_id);
            if Some(e.owner_id) == hang_on {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    });
}

async fn until(what: &str, within: Duration, f: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn set(seen: &Seen) -> BTreeSet<i64> {
    seen.lock().unwrap().iter().copied().collect()
}

#[tokio::test]
async fn groups_get_every_event_and_survive_a_redis_restart() {
    let Some(mut server) = RedisServer::start_with(true).await else {
        return;
    };
    let bus = bus(&server, Duration::from_secs(30)).await;
    for n in 1..=5 {
        bus.publish(TOPIC, &ev(n)).await.unwrap();
    }
    // two groups: each sees every event; a group created later starts from the start
    let (a, b): (Seen, Seen) = Default::default();
    let jobs = Jobs::new();
    consume(&bus, &jobs, "group-a", &a, None);
    consume(&bus, &jobs, "group-b", &b, None);
    until("both groups handled 5", Duration::from_secs(10), || {
        set(&a).len() == 5 && set(&b).len() == 5
    })
    .await;

    // Redis dies and comes back with its append-only file: consumers reconnect, new
    // events arrive, acknowledged ones are not handled again
    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match bus.publish(TOPIC, &ev(6)).await {
            Ok(_) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "publish after restart: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    until("event 6 after the restart", Duration::from_secs(20), || {
        set(&a).contains(&6) && set(&b).contains(&6)
    })
    .await;
    jobs.shutdown(Duration::from_secs(2)).await;
    assert_eq!(set(&a), (1..=6).collect());
    assert_eq!(a.lock().unwrap().len(), 6, "no event handled twice: {a:?}");
}

#[tokio::test]
async fn a_dead_consumers_events_are_claimed_by_another() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let bus = bus(&server, Duration::from_millis(300)).await;
    // consumer 1 takes events and hangs on event 3, then dies (its job is aborted)
    let first: Seen = Default::default();
    let dying = Jobs::new();
    consume(&bus, &dying, "indexer", &first, Some(3));
    for n in 1..=5 {
        bus.publish(TOPIC, &ev(n)).await.unwrap();
    }
    until(
        "consumer 1 reached event 3",
        Duration::from_secs(10),
        || first.lock().unwrap().contains(&3),
    )
    .await;
    dying.shutdown(Duration::from_millis(100)).await;
    let done_by_first = set(&first);

    // consumer 2 of the same group: every event not acknowledged by consumer 1 (3,
    // and the ones it had read but not reached) is handled, after the claim delay
    let second: Seen = Default::default();
    let jobs = Jobs::new();
    consume(&bus, &jobs, "indexer", &second, None);
    for n in 6..=7 {
        bus.publish(TOPIC, &ev(n)).await.unwrap();
    }
    until(
        "every event handled by someone",
        Duration::from_secs(10),
        || {
            let mut all = set(&first);
            all.extend(set(&second));
            all.len() == 7 && set(&second).contains(&3)
        },
    )
    .await;
    jobs.shutdown(Duration::from_secs(2)).await;
    assert!(set(&second).contains(&3), "the hung event was claimed");
    assert!(
        done_by_first
            .iter()
            .filter(|n| **n < 3)
            .all(|n| !set(&second).contains(n)),
        "events consumer 1 acknowledged are not handled again: {done_by_first:?} / {second:?}"
    );
}
