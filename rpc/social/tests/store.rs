//! The same repository tests against SQLite and MariaDB (when configured).

use fanone_shard::Shards;
use fanone_social::Migrator;
use fanone_social::store::{SeaSocialStore, SocialStore, StoreError, counter_kind};
use fanone_testkit::shards::{assert_templates_empty, int_rows};

async fn exercise(store: SeaSocialStore) {
    // 1 follows 2, 3, 4; 2 and 3 follow 1 back; 4 follows 2
    store.follow(1, 2, 100).await.unwrap();
    store.follow(1, 3, 200).await.unwrap();
    store.follow(1, 4, 300).await.unwrap();
    store.follow(3, 1, 150).await.unwrap();
    store.follow(2, 1, 400).await.unwrap();
    store.follow(4, 2, 500).await.unwrap();

    // the primary key decides duplicates, and nothing is counted twice
    assert!(matches!(
        store.follow(1, 2, 999).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(store.count(counter_kind::FOLLOWING, 1).await.unwrap(), 3);
    assert_eq!(store.count(counter_kind::FOLLOWERS, 2).await.unwrap(), 2);
    assert_eq!(store.count(counter_kind::FOLLOWERS, 1).await.unwrap(), 2);
    assert_eq!(store.count(counter_kind::FOLLOWING, 99).await.unwrap(), 0);

    // lists: newest first, paged
    assert_eq!(store.following(1, 0, 10).await.unwrap(), vec![4, 3, 2]);
    assert_eq!(store.following(1, 1, 1).await.unwrap(), vec![3]);
    assert!(store.following(1, 3, 10).await.unwrap().is_empty());
    assert_eq!(store.followers(2, 0, 10).await.unwrap(), vec![4, 1]);
    assert_eq!(store.followers(1, 0, 10).await.unwrap(), vec![2, 3]);

    // friends: mutual only, newest friendship (later follow) first
    assert_eq!(store.friends(1, 0, 10).await.unwrap(), vec![2, 3]);
    assert_eq!(store.friends(1, 1, 10).await.unwrap(), vec![3]);
    assert_eq!(store.count_friends(1).await.unwrap(), 2);
    assert_eq!(store.friends(4, 0, 10).await.unwrap(), Vec::<i64>::new());
    assert_eq!(store.count_friends(4).await.unwrap(), 0);
    assert!(store.mutual(1, 2).await.unwrap());
    assert!(store.mutual(2, 1).await.unwrap());
    assert!(!store.mutual(1, 4).await.unwrap(), "one-way follow");
    assert!(!store.mutual(1, 1).await.unwrap());

    // unfollow: the key decides, counters follow
    store.unfollow(2, 1).await.unwrap();
    assert!(matches!(
        store.unfollow(2, 1).await,
        Err(StoreError::Missing)
    ));
    assert!(matches!(
        store.unfollow(7, 8).await,
        Err(StoreError::Missing)
    ));
    assert!(!store.mutual(1, 2).await.unwrap());
    assert_eq!(store.friends(1, 0, 10).await.unwrap(), vec![3]);
    assert_eq!(store.count(counter_kind::FOLLOWERS, 1).await.unwrap(), 1);
    assert_eq!(store.count(counter_kind::FOLLOWING, 2).await.unwrap(), 0);

    // counts stay exact across settling
    fanone_counter::settle_all(store.counters()).await.unwrap();
    assert_eq!(store.count(counter_kind::FOLLOWING, 1).await.unwrap(), 3);
    assert_eq!(store.count(counter_kind::FOLLOWERS, 1).await.unwrap(), 1);
    store.follow(2, 1, 600).await.unwrap();
    assert_eq!(store.count(counter_kind::FOLLOWERS, 1).await.unwrap(), 2);
    assert_eq!(store.friends(1, 0, 10).await.unwrap(), vec![2, 3]);

    // concurrent follows of the same pair: exactly one wins, counted once
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.follow(10, 11, 1).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Duplicate) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(store.count(counter_kind::FOLLOWERS, 11).await.unwrap(), 1);
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "social");
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaSocialStore::new(Shards::single(db))).await;
}

#[tokio::test]
async fn mariadb_store() {
    let Some(url) = fanone_testkit::mysql_database("fanone_social_store").await else {
        return;
    };
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaSocialStore::new(Shards::single(db))).await;
}

/// The suite on 2 databases × 2 tables; a user followed from every slot; every
/// edge in its follower's slot.
#[tokio::test]
async fn mariadb_sharded_store() {
    let Some(shards) = fanone_testkit::shards::two_by_two::<Migrator>(
        "fanone_social_shard",
        fanone_social::SHARDED,
    )
    .await
    else {
        return;
    };
    let store = SeaSocialStore::new(shards.clone());
    exercise(store.clone()).await;

    // 30 followers of one star, followed at distinct times; every 3rd followed back
    const STAR: i64 = 500;
    for f in 0..30i64 {
        store.follow(1_000 + f, STAR, 10_000 + f).await.unwrap();
        if f % 3 == 0 {
            store.follow(STAR, 1_000 + f, 20_000 + f).await.unwrap();
        }
    }
    let newest: Vec<i64> = (1_000..1_030).rev().collect();
    assert_eq!(store.followers(STAR, 0, 100).await.unwrap(), newest);
    assert_eq!(store.followers(STAR, 7, 5).await.unwrap(), newest[7..12]);
    assert_eq!(
        store.count(counter_kind::FOLLOWERS, STAR).await.unwrap(),
        30
    );
    fanone_counter::settle_all(store.counters()).await.unwrap();
    assert_eq!(
        store.count(counter_kind::FOLLOWERS, STAR).await.unwrap(),
        30
    );
    let friends: Vec<i64> = (1_000..1_030)
        .rev()
        .filter(|f| (f - 1_000) % 3 == 0)
        .collect();
    assert_eq!(store.friends(STAR, 0, 100).await.unwrap(), friends);
    assert_eq!(store.friends(STAR, 2, 3).await.unwrap(), friends[2..5]);
    assert_eq!(store.count_friends(STAR).await.unwrap(), 10);
    assert!(store.mutual(STAR, 1_003).await.unwrap());
    assert!(!store.mutual(STAR, 1_004).await.unwrap());

    let layout = shards.layout();
    let mut used = 0;
    for shard in shards.all() {
        let sql = format!("SELECT follower_id FROM {}", shard.table("follows"));
        let rows = int_rows(shard.db(), &sql).await;
        for r in &rows {
            assert_eq!(layout.slot_of(r[0]), shard.slot, "edge of {}", r[0]);
        }
        used += usize::from(!rows.is_empty());
    }
    assert_eq!(used, 4, "31 followers spread over all 4 slots");
    assert_templates_empty(&shards, fanone_social::SHARDED).await;
}
