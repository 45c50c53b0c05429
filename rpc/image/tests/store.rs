//! The image table's repository against SQLite and MariaDB (when configured):
//! tombstones, content ids of duplicates, the live holders of a picture, the reaper's
//! queue, and the schema migration of a table written before them.

use fanone_image::{
    Migrator,
    store::{ImageRecord, ImageStore, SeaImageStore},
};
use sea_orm::ConnectionTrait;

const T0: i64 = 1_700_000_000_000;

fn url(n: i64) -> String {
    format!("http://x/static/avatars/{n}/{n}.png")
}

fn fresh(id: i64, n: i64, at: i64) -> ImageRecord {
    ImageRecord::new(id, &url(n), 1, n, T0 + at)
}

fn hash(c: char) -> String {
    c.to_string().repeat(64)
}

fn urls(rows: &[ImageRecord]) -> Vec<String> {
    rows.iter().map(|r| r.url.clone()).collect()
}

async fn exercise(store: SeaImageStore) {
    // get_or_insert: one row per URL, the first id wins
    let a = store.get_or_insert(&fresh(10, 1, 10)).await.unwrap();
    assert_eq!(a, fresh(10, 1, 10));
    assert!(a.is_live());
    assert_eq!(store.get_or_insert(&fresh(99, 1, 99)).await.unwrap().id, 10);
    let b = store.get_or_insert(&fresh(20, 2, 20)).await.unwrap();
    let c = store.get_or_insert(&fresh(30, 3, 30)).await.unwrap();

    // content ids: one per hash, the first fresh id; also under racing callers
    assert_eq!(store.content_id(&hash('a'), 10, T0).await.unwrap(), 10);
    assert_eq!(store.content_id(&hash('a'), 20, T0).await.unwrap(), 10);
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.content_id(&hash('c'), 100 + i, T0).await.unwrap() })
        })
        .collect();
    let mut won = Vec::new();
    for r in racers {
        won.push(r.await.unwrap());
    }
    won.dedup();
    assert_eq!(won.len(), 1, "one content id per hash: {won:?}");

    // rows 10 and 20 hold the same picture (content 10), row 30 another
    store.set_content(a.id, &hash('a'), 10).await.unwrap();
    store.set_content(b.id, &hash('a'), 10).await.unwrap();
    store.set_content(c.id, &hash('b'), 30).await.unwrap();
    let row = store.by_url(&url(2)).await.unwrap().unwrap();
    assert_eq!(
        (row.content_hash.as_deref(), row.content_id),
        (Some(hash('a').as_str()), Some(10))
    );
    assert!(
        store
            .by_url("http://x/static/none")
            .await
            .unwrap()
            .is_none()
    );

    // live holders: newest first (created_at, then id)
    let holders = store.live_by_contents(&[10, 30, 404]).await.unwrap();
    assert_eq!(urls(&holders), vec![url(3), url(2), url(1)]);
    assert_eq!(
        store.live_contents(&[30, 10, 404, 10]).await.unwrap(),
        vec![10, 30]
    );
    assert!(store.live_contents(&[]).await.unwrap().is_empty());
    let d = store.get_or_insert(&fresh(40, 4, 20)).await.unwrap();
    store.set_content(d.id, &hash('a'), 10).await.unwrap();
    let holders = store.live_by_contents(&[10]).await.unwrap();
    assert_eq!(
        urls(&holders),
        vec![url(4), url(2), url(1)],
        "same time: the greater id first"
    );

    // tombstone: an existing row keeps its first removal time
    let gone = store.tombstone(&fresh(98, 4, 0), T0 + 100).await.unwrap();
    assert_eq!((gone.id, gone.removed_at), (40, Some(T0 + 100)));
    assert!(!gone.is_live());
    let again = store.tombstone(&fresh(97, 4, 0), T0 + 200).await.unwrap();
    assert_eq!(again.removed_at, Some(T0 + 100), "idempotent");
    // a removed row is never live again, and get_or_insert does not revive it
    let seen = store.get_or_insert(&fresh(96, 4, 300)).await.unwrap();
    assert_eq!((seen.id, seen.removed_at), (40, Some(T0 + 100)));
    assert_eq!(
        urls(&store.live_by_contents(&[10]).await.unwrap()),
        vec![url(2), url(1)]
    );
    // a URL removed before it was ever stored: a tombstone row
    let early = store.tombstone(&fresh(50, 5, 50), T0 + 150).await.unwrap();
    assert_eq!(
        (early.id, early.removed_at, early.content_id),
        (50, Some(T0 + 150), None)
    );
    let late = store.get_or_insert(&fresh(51, 5, 160)).await.unwrap();
    assert_eq!((late.id, late.removed_at), (50, Some(T0 + 150)));
    // the last holder of a picture removed: no live holder
    store.tombstone(&fresh(0, 3, 0), T0 + 300).await.unwrap();
    assert_eq!(store.live_contents(&[10, 30]).await.unwrap(), vec![10]);

    // pages and counts, all rows or live ones
    let ids = |rows: Vec<ImageRecord>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.page_after(0, 100, false).await.unwrap()),
        vec![10, 20, 30, 40, 50]
    );
    assert_eq!(
        ids(store.page_after(10, 100, true).await.unwrap()),
        vec![20]
    );
    assert_eq!(ids(store.page_after(20, 1, false).await.unwrap()), vec![30]);
    assert_eq!(
        (
            store.count(false).await.unwrap(),
            store.count(true).await.unwrap()
        ),
        (5, 2)
    );

    // the reaper's queue: removed at or before the cut, not purged, oldest first
    let due = |before| {
        let s = store.clone();
        async move { ids(s.reapable(before, 10).await.unwrap()) }
    };
    assert_eq!(due(T0 + 99).await, Vec::<i64>::new());
    assert_eq!(due(T0 + 150).await, vec![40, 50]);
    assert_eq!(due(T0 + 1000).await, vec![40, 50, 30]);
    assert_eq!(store.reapable(T0 + 1000, 1).await.unwrap().len(), 1);
    store.mark_purged(40, T0 + 500).await.unwrap();
    store.mark_purged(20, T0 + 500).await.unwrap(); // live: never marked
    assert_eq!(due(T0 + 1000).await, vec![50, 30]);
    let purged = store.by_url(&url(4)).await.unwrap().unwrap();
    assert_eq!(purged.purged_at, Some(T0 + 500));
    assert_eq!(
        store.by_url(&url(2)).await.unwrap().unwrap().purged_at,
        None
    );

    // layouts: per content, none until recorded, overwritten by a new one
    assert!(store.layouts(&[10, 30]).await.unwrap().is_empty());
    let layout: Vec<u8> = (0..192).map(|i| (i * 7 % 256) as u8).collect();
    store.set_layout(10, &layout).await.unwrap();
    store.set_layout(404, &layout).await.unwrap(); // no such content: nothing
    let got = store.layouts(&[10, 30, 404]).await.unwrap();
    assert_eq!(got.len(), 1, "{:?}", got.keys());
    assert_eq!(got[&10], layout);
    store.set_layout(10, &[9; 192]).await.unwrap();
    assert_eq!(store.layouts(&[10]).await.unwrap()[&10], vec![9; 192]);
    assert!(store.layouts(&[]).await.unwrap().is_empty());

    // indexed mark and batch reads
    store.mark_indexed(20, T0 + 7).await.unwrap();
    let mut rows = store.by_ids(&[20, 30, 404]).await.unwrap();
    rows.sort_by_key(|r| r.id);
    assert_eq!(ids(rows.clone()), vec![20, 30]);
    assert_eq!(rows[0].indexed_at, Some(T0 + 7));
}

/// A table written by the first schema (no hashes, no tombstones) gains the new
/// columns; indexed rows keep their vectors, keyed by their own id.
async fn migrates_old_rows(url: &str) {
    let db = fanone_db::connect(url).await.unwrap();
    for sql in [
        "CREATE TABLE images (id BIGINT NOT NULL PRIMARY KEY, url VARCHAR(760) NOT NULL UNIQUE, \
         kind SMALLINT NOT NULL, owner_id BIGINT NOT NULL, created_at BIGINT NOT NULL, \
         indexed_at BIGINT NULL)",
        "INSERT INTO images (id, url, kind, owner_id, created_at, indexed_at) VALUES \
         (1, 'http://x/static/a.png', 1, 7, 5, 6), (2, 'http://x/static/b.png', 2, 7, 5, NULL)",
        // what the first schema's migration recorded
        "CREATE TABLE seaql_migrations (version VARCHAR(255) NOT NULL PRIMARY KEY, \
         applied_at BIGINT NOT NULL)",
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m0001_create_images', 1)",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    let store = SeaImageStore::new(fanone_testkit::migrated::<Migrator>(url).await);
    let old = store
        .by_url("http://x/static/a.png")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (old.content_id, old.content_hash, old.removed_at),
        (Some(1), None, None)
    );
    let unindexed = store
        .by_url("http://x/static/b.png")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unindexed.content_id, None);
    assert_eq!(store.live_contents(&[1, 2]).await.unwrap(), vec![1]);
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "image");
    exercise(SeaImageStore::new(
        fanone_testkit::migrated::<Migrator>(&url).await,
    ))
    .await;
    migrates_old_rows(&fanone_testkit::sqlite_database(dir.path(), "old")).await;
}

#[tokio::test]
async fn mariadb_store() {
    let Some(url) = fanone_testkit::mysql_database("fanone_image_store").await else {
        return;
    };
    exercise(SeaImageStore::new(
        fanone_testkit::migrated::<Migrator>(&url).await,
    ))
    .await;
    let Some(old) = fanone_testkit::mysql_database("fanone_image_old").await else {
        return;
    };
    migrates_old_rows(&old).await;
}
