//! The same repository tests against SQLite and MariaDB (when configured).

use fanone_chat::Migrator;
use fanone_chat::store::{ChatStore, MessageRecord, SeaChatStore};
use fanone_shard::Shards;
use fanone_testkit::shards::{assert_templates_empty, int_rows};

fn msg(id: i64, from: i64, to: i64, content: &str) -> MessageRecord {
    MessageRecord {
        id,
        from_user_id: from,
        to_user_id: to,
        content: content.to_owned(),
        created_at: 1_700_000_000_000 + id,
        read_at: None,
    }
}

fn ids(v: &[MessageRecord]) -> Vec<i64> {
    v.iter().map(|m| m.id).collect()
}

async fn exercise(store: SeaChatStore) {
    // a conversation of 1 and 2 in both directions, plus noise from 3
    store.insert(&msg(10, 1, 2, "hi")).await.unwrap();
    store.insert(&msg(11, 2, 1, "hello")).await.unwrap();
    store.insert(&msg(12, 1, 2, "how are you?")).await.unwrap();
    store.insert(&msg(13, 3, 2, "spam")).await.unwrap();
    store
        .insert(&msg(14, 2, 1, "'); DROP TABLE messages;-- 你好 🎉"))
        .await
        .unwrap();
    let long = "字".repeat(2000);
    store.insert(&msg(15, 3, 1, &long)).await.unwrap();

    // history: both directions, newest first, paged, same from either side
    let h = store.history(1, 2, 0, 10).await.unwrap();
    assert_eq!(ids(&h), vec![14, 12, 11, 10]);
    assert_eq!(h[0].content, "'); DROP TABLE messages;-- 你好 🎉");
    assert_eq!(ids(&store.history(2, 1, 2, 2).await.unwrap()), vec![11, 10]);
    assert!(store.history(1, 2, 4, 2).await.unwrap().is_empty());
    assert_eq!(store.count_between(2, 1).await.unwrap(), 4);
    assert_eq!(store.count_between(1, 1).await.unwrap(), 0);
    assert_eq!(store.history(3, 1, 0, 10).await.unwrap()[0].content, long);

    // unread: to the caller only, oldest first, marked read once
    let u = store.take_unread(2, Some(1), 100, 500).await.unwrap();
    assert_eq!(ids(&u), vec![10, 12]);
    assert!(u.iter().all(|m| m.read_at == Some(500)));
    assert!(
        store
            .take_unread(2, Some(1), 100, 501)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store.take_unread(2, None, 100, 502).await.unwrap()),
        vec![13]
    );
    // batches: the limit is honoured, the rest stays unread
    assert_eq!(
        ids(&store.take_unread(1, None, 2, 503).await.unwrap()),
        vec![11, 14]
    );
    assert_eq!(
        ids(&store.take_unread(1, None, 2, 504).await.unwrap()),
        vec![15]
    );

    // mark_read touches only the caller's own unread inbox
    store.insert(&msg(20, 1, 2, "live")).await.unwrap();
    store.insert(&msg(21, 2, 1, "reply")).await.unwrap();
    assert_eq!(store.mark_read(1, &[20, 21, 999], 600).await.unwrap(), 1);
    assert_eq!(
        store.mark_read(1, &[21], 601).await.unwrap(),
        0,
        "already read"
    );
    assert_eq!(store.mark_read(1, &[], 601).await.unwrap(), 0);
    assert_eq!(
        ids(&store.take_unread(2, None, 100, 602).await.unwrap()),
        vec![20]
    );
    let h = store.history(1, 2, 0, 1).await.unwrap();
    assert_eq!((h[0].id, h[0].read_at), (21, Some(600)));

    // concurrent takers never hand out the same message twice
    for i in 0..30 {
        store.insert(&msg(100 + i, 5, 6, "x")).await.unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..5 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s.take_unread(6, Some(5), 4, 700 + t).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(ids(&batch));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (100..130).collect::<Vec<i64>>());
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "chat");
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaChatStore::new(Shards::single(db))).await;
}

#[tokio::test]
async fn mariadb_store() {
    let Some(url) = fanone_testkit::mysql_database("fanone_chat_store").await else {
        return;
    };
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaChatStore::new(Shards::single(db))).await;
}

/// The suite on 2 databases × 2 tables; messages sit in their recipient's slot and a
/// conversation across two slots pages as one list.
#[tokio::test]
async fn mariadb_sharded_store() {
    let Some(shards) =
        fanone_testkit::shards::two_by_two::<Migrator>("fanone_chat_shard", fanone_chat::SHARDED)
            .await
    else {
        return;
    };
    let store = SeaChatStore::new(shards.clone());
    exercise(store.clone()).await;

    // two users in different slots, talking in turns
    let layout = shards.layout();
    let a = 1_000;
    let b = (1_001..)
        .find(|&u| layout.slot_of(u) != layout.slot_of(a))
        .unwrap();
    for i in 0..20i64 {
        let (from, to) = if i % 3 == 0 { (b, a) } else { (a, b) };
        store
            .insert(&msg(5_000 + i, from, to, "turn"))
            .await
            .unwrap();
    }
    let all: Vec<i64> = (5_000..5_020).rev().collect();
    assert_eq!(ids(&store.history(a, b, 0, 100).await.unwrap()), all);
    assert_eq!(ids(&store.history(b, a, 5, 4).await.unwrap()), all[5..9]);
    assert_eq!(store.count_between(a, b).await.unwrap(), 20);
    assert_eq!(store.take_unread(a, None, 100, 9).await.unwrap().len(), 7);

    // every row in its recipient's slot, the template empty
    let mut used = 0;
    for shard in shards.all() {
        let sql = format!("SELECT to_user_id FROM {}", shard.table("messages"));
        let rows = int_rows(shard.db(), &sql).await;
        for r in &rows {
            assert_eq!(layout.slot_of(r[0]), shard.slot, "message to {}", r[0]);
        }
        used += usize::from(!rows.is_empty());
    }
    assert!(used >= 2);
    assert_templates_empty(&shards, fanone_chat::SHARDED).await;
}
