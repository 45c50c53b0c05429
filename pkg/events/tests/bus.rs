//! Durable, at-least-once delivery on SQLite and MariaDB.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use fanone_events::{EventBus, ImageStored, TOPIC_IMAGE_STORED};

fn ev(n: i64) -> ImageStored {
    ImageStored {
        url: format!("http://x/static/a/{n}.png"),
        kind: "avatar".into(),
        owner_id: n,
        stored_at: n,
    }
}

async fn exercise(url: &str) {
    let bus = EventBus::open(url).await.unwrap();
    for n in 1..=3 {
        bus.publish(TOPIC_IMAGE_STORED, &ev(n)).await.unwrap();
    }
    bus.publish("other.topic", &ev(99)).await.unwrap();

    // a group sees its topic in order; acking moves its offset only
    let got = bus.pending("g1", TOPIC_IMAGE_STORED, 10).await.unwrap();
    let owners: Vec<i64> = got
        .iter()
        .map(|d| d.decode::<ImageStored>().unwrap().owner_id)
        .collect();
    assert_eq!(owners, vec![1, 2, 3]);
    bus.ack("g1", TOPIC_IMAGE_STORED, got[1].id).await.unwrap();
    bus.ack("g1", TOPIC_IMAGE_STORED, got[0].id).await.unwrap(); // never moves back
    let rest = bus.pending("g1", TOPIC_IMAGE_STORED, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        bus.pending("g2", TOPIC_IMAGE_STORED, 10)
            .await
            .unwrap()
            .len(),
        3
    );

    // reopening (a restart) keeps events and offsets
    drop(bus);
    let bus = EventBus::open(url).await.unwrap();
    assert_eq!(
        bus.pending("g1", TOPIC_IMAGE_STORED, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // the consumer delivers each event at least once, retrying failures in order
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failed_once = Arc::new(Mutex::new(false));
    let (s, f) = (seen.clone(), failed_once.clone());
    let consumer = fanone_jobs::Jobs::new();
    bus.consume(
        &consumer,
        "g3",
        TOPIC_IMAGE_STORED,
        Duration::from_millis(10),
        move |d| {
            let (s, f) = (s.clone(), f.clone());
            async move {
                let e: ImageStored = d.decode().map_err(|e| e.to_string())?;
                let mut failed = f.lock().unwrap();
                if e.owner_id == 2 && !*failed {
                    *failed = true;
                    return Err("transient".into());
                }
                s.lock().unwrap().push(e.owner_id);
                Ok(())
            }
        },
    );
    bus.publish(TOPIC_IMAGE_STORED, &ev(4)).await.unwrap();
    for _ in 0..200 {
        let done = seen.lock().unwrap().len() >= 4;
        if done
            && bus
                .pending("g3", TOPIC_IMAGE_STORED, 10)
                .await
                .unwrap()
                .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consumer.shutdown(Duration::from_secs(1)).await;
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3, 4]);
    assert!(
        bus.pending("g3", TOPIC_IMAGE_STORED, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_bus() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&fanone_testkit::sqlite_database(dir.path(), "events")).await;
}

#[tokio::test]
async fn mariadb_bus() {
    let Some(url) = fanone_testkit::mysql_database("fanone_events").await else {
        return;
    };
    exercise(&url).await;
}

#[test]
fn image_payloads_decode_across_versions() {
    // an event of a version without `stored_at` still decodes (0 = unknown)
    let d = fanone_events::Delivery {
        id: 1,
        topic: TOPIC_IMAGE_STORED.into(),
        payload: r#"{"url":"http://x/static/a.png","kind":"avatar","owner_id":7}"#.into(),
    };
    let e: ImageStored = d.decode().unwrap();
    assert_eq!((e.owner_id, e.stored_at), (7, 0));
    let removed = fanone_events::ImageRemoved {
        url: "http://x/static/a.png".into(),
        reason: fanone_events::REMOVED_AVATAR_REPLACED.into(),
    };
    let d = fanone_events::Delivery {
        id: 2,
        topic: fanone_events::TOPIC_IMAGE_REMOVED.into(),
        payload: serde_json::to_string(&removed).unwrap(),
    };
    assert_eq!(d.decode::<fanone_events::ImageRemoved>().unwrap(), removed);
}
