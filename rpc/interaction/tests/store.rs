//! The same repository tests against SQLite and MariaDB (when configured).

use std::time::Duration;

use fanone_interaction::Migrator;
use fanone_interaction::store::{
    CommentRecord, InteractionStore, NewComment, Removed, SeaInteractionStore, StoreError, Target,
    Thread, Window, counter,
};
use fanone_shard::Shards;
use fanone_testkit::shards::{assert_templates_empty, int_rows};
use sea_orm::ConnectionTrait;

const ALL: Window = Window {
    offset: 0,
    limit: 100,
};

fn new_comment(id: i64, user_id: i64, thread: Thread, now: i64) -> NewComment {
    NewComment {
        id,
        user_id,
        thread,
        content: format!("comment {id} by {user_id}"),
        now,
    }
}

async fn count(store: &SeaInteractionStore, kind: i16, id: i64) -> i64 {
    store
        .counts(kind, &[id])
        .await
        .unwrap()
        .get(&id)
        .copied()
        .unwrap_or(0)
}

fn ids(r: Result<(Vec<CommentRecord>, i64), StoreError>) -> (Vec<i64>, i64) {
    let (rows, total) = r.unwrap();
    (rows.iter().map(|c| c.id).collect(), total)
}

async fn likes(store: &SeaInteractionStore) {
    store.like(1, Target::Video(100), 10).await.unwrap();
    assert!(matches!(
        store.like(1, Target::Video(100), 11).await,
        Err(StoreError::NoChange)
    ));
    assert!(matches!(
        store.unlike(2, Target::Video(100)).await,
        Err(StoreError::NoChange)
    ));
    store.like(2, Target::Video(100), 12).await.unwrap();
    store.like(1, Target::Video(101), 13).await.unwrap();
    store.like(1, Target::Video(102), 13).await.unwrap();
    assert_eq!(count(store, counter::VIDEO_LIKES, 100).await, 2);
    assert_eq!(count(store, counter::VIDEO_LIKES, 101).await, 1);
    assert_eq!(count(store, counter::VIDEO_LIKES, 999).await, 0);

    // like list: newest like first (ties: higher id first), paged, with total
    assert_eq!(
        store.liked_videos(1, ALL).await.unwrap(),
        (vec![102, 101, 100], 3)
    );
    let w = Window {
        offset: 1,
        limit: 1,
    };
    assert_eq!(store.liked_videos(1, w).await.unwrap(), (vec![101], 3));
    let past = Window {
        offset: 3,
        limit: 10,
    };
    assert_eq!(store.liked_videos(1, past).await.unwrap(), (vec![], 3));
    assert_eq!(store.liked_videos(77, ALL).await.unwrap(), (vec![], 0));

    let liked = store
        .liked_among(1, Target::Video(0).kind(), &[100, 101, 103])
        .await
        .unwrap();
    assert_eq!(liked.len(), 2);
    assert!(liked.contains(&100) && liked.contains(&101));
    assert!(
        store
            .liked_among(1, Target::Comment(0).kind(), &[100])
            .await
            .unwrap()
            .is_empty(),
        "kinds are separate"
    );

    // cancel: once
    store.unlike(1, Target::Video(101)).await.unwrap();
    assert!(matches!(
        store.unlike(1, Target::Video(101)).await,
        Err(StoreError::NoChange)
    ));
    assert_eq!(count(store, counter::VIDEO_LIKES, 101).await, 0);
    assert_eq!(
        store.liked_videos(1, ALL).await.unwrap(),
        (vec![102, 100], 2)
    );
}

async fn comments(store: &SeaInteractionStore) {
    const V: i64 = 500;
    let c1 = store
        .insert_comment(&new_comment(1001, 1, Thread::Video(V), 100))
        .await
        .unwrap();
    assert_eq!((c1.video_id, c1.parent_id, c1.deleted_at), (V, 0, None));
    store
        .insert_comment(&new_comment(1002, 2, Thread::Video(V), 101))
        .await
        .unwrap();
    let r1 = store
        .insert_comment(&new_comment(1003, 2, Thread::Reply(1001), 102))
        .await
        .unwrap();
    assert_eq!(
        (r1.video_id, r1.parent_id),
        (V, 1001),
        "a reply takes its parent's video"
    );
    store
        .insert_comment(&new_comment(1004, 1, Thread::Reply(1003), 103))
        .await
        .unwrap();
    store
        .insert_comment(&new_comment(1005, 3, Thread::Reply(1001), 104))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_comment(&new_comment(1006, 3, Thread::Reply(4242), 105))
            .await,
        Err(StoreError::NotFound)
    ));

    // lists: top level newest first, replies oldest first, totals
    assert_eq!(ids(store.top_level(V, ALL).await), (vec![1002, 1001], 2));
    let w = Window {
        offset: 1,
        limit: 1,
    };
    assert_eq!(ids(store.top_level(V, w).await), (vec![1001], 2));
    assert_eq!(ids(store.replies(1001, ALL).await), (vec![1003, 1005], 2));
    assert_eq!(ids(store.replies(1003, ALL).await), (vec![1004], 1));
    assert_eq!(ids(store.top_level(4242, ALL).await), (vec![], 0));
    assert_eq!(
        store.comment(1003).await.unwrap().unwrap().content,
        "comment 1003 by 2"
    );

    assert_eq!(count(store, counter::VIDEO_COMMENTS, V).await, 5);
    assert_eq!(count(store, counter::COMMENT_REPLIES, 1001).await, 2);
    assert_eq!(count(store, counter::COMMENT_REPLIES, 1003).await, 1);

    // comment likes need a live comment
    store.like(7, Target::Comment(1003), 1).await.unwrap();
    store.like(8, Target::Comment(1003), 1).await.unwrap();
    assert!(matches!(
        store.like(7, Target::Comment(4242), 1).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(count(store, counter::COMMENT_LIKES, 1003).await, 2);
    assert_eq!(
        count(store, counter::VIDEO_LIKES, 1003).await,
        0,
        "video and comment likes are separate counters"
    );

    // settling changes no value
    let before = store
        .counts(counter::COMMENT_REPLIES, &[1001, 1003])
        .await
        .unwrap();
    assert!(store.settle().await.unwrap() > 0);
    assert_eq!(store.settle().await.unwrap(), 0);
    assert_eq!(
        store
            .counts(counter::COMMENT_REPLIES, &[1001, 1003])
            .await
            .unwrap(),
        before
    );
    assert_eq!(count(store, counter::VIDEO_COMMENTS, V).await, 5);

    // delete: author only, unknown = not found
    assert!(matches!(
        store.delete_comment(1, 1003, 200).await,
        Err(StoreError::NotAuthor)
    ));
    assert!(matches!(
        store.delete_comment(1, 4242, 200).await,
        Err(StoreError::NotFound)
    ));
    // deleting a reply removes its own replies too
    assert_eq!(
        store.delete_comment(2, 1003, 200).await.unwrap(),
        Removed {
            video_id: V,
            comments: 2
        }
    );
    assert!(matches!(
        store.delete_comment(2, 1003, 201).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.comment(1003).await.unwrap().is_none());
    assert!(store.comment(1004).await.unwrap().is_none());
    assert_eq!(count(store, counter::VIDEO_COMMENTS, V).await, 3);
    assert_eq!(count(store, counter::COMMENT_REPLIES, 1001).await, 1);
    assert_eq!(count(store, counter::COMMENT_REPLIES, 1003).await, 0);
    assert_eq!(ids(store.replies(1001, ALL).await), (vec![1005], 1));
    // a deleted comment takes no replies and no likes
    assert!(matches!(
        store
            .insert_comment(&new_comment(1007, 3, Thread::Reply(1004), 202))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.like(9, Target::Comment(1003), 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.unlike(7, Target::Comment(1003)).await,
        Err(StoreError::NotFound)
    ));

    // deleting a top-level comment removes its whole thread
    assert_eq!(
        store.delete_comment(1, 1001, 203).await.unwrap().comments,
        2
    );
    assert_eq!(count(store, counter::VIDEO_COMMENTS, V).await, 1);
    assert_eq!(ids(store.top_level(V, ALL).await), (vec![1002], 1));
    store.settle().await.unwrap();
    assert_eq!(count(store, counter::VIDEO_COMMENTS, V).await, 1);
    assert_eq!(count(store, counter::COMMENT_REPLIES, 1001).await, 0);
}

/// Many users like and unlike at once while settling runs: counted exactly, and
/// settling never fails for contention (it waits for the writers instead).
async fn concurrent_likes(store: &SeaInteractionStore) {
    const V: i64 = 900;
    let mut tasks = Vec::new();
    for user in 1..=40i64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.like(user, Target::Video(V), user).await.unwrap();
            // a repeated like never counts twice
            assert!(matches!(
                s.like(user, Target::Video(V), user).await,
                Err(StoreError::NoChange)
            ));
            if user % 2 == 0 {
                s.unlike(user, Target::Video(V)).await.unwrap();
            }
        }));
    }
    let mut settled = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        store.settle().await.expect("settle under load");
        settled += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(settled > 0);
    assert_eq!(count(store, counter::VIDEO_LIKES, V).await, 20);
    store.settle().await.unwrap();
    assert_eq!(count(store, counter::VIDEO_LIKES, V).await, 20);
}

/// Two replicas' like writers on the same database: every user likes the same video
/// through both at once, then unlikes through both: exactly one of each pair changes
/// something, whatever batch each lands in (set-wise or redone one by one), and the
/// count equals the rows.
async fn two_writers(shards: &Shards) {
    const V: i64 = 902;
    let (ja, jb) = (fanone_jobs::Jobs::new(), fanone_jobs::Jobs::new());
    let a = SeaInteractionStore::new(shards.clone()).with_group_commit(&ja);
    let b = SeaInteractionStore::new(shards.clone()).with_group_commit(&jb);
    for action in ["like", "unlike"] {
        let mut tasks = Vec::new();
        for user in 1..=60i64 {
            for s in [a.clone(), b.clone()] {
                tasks.push(tokio::spawn(async move {
                    let r = if action == "like" {
                        s.like(user, Target::Video(V), user).await
                    } else {
                        s.unlike(user, Target::Video(V)).await
                    };
                    match r {
                        Ok(()) => 1,
                        Err(StoreError::NoChange) => 0,
                        Err(e) => panic!("{action} by {user}: {e}"),
                    }
                }));
            }
        }
        let mut changed = 0;
        for t in tasks {
            changed += t.await.unwrap();
        }
        assert_eq!(changed, 60, "{action}: one change per user");
        let expect = if action == "like" { 60 } else { 0 };
        assert_eq!(count(&a, counter::VIDEO_LIKES, V).await, expect);
        let kind = Target::Video(0).kind();
        let liked = b.liked_among(7, kind, &[V]).await.unwrap();
        assert_eq!(liked.contains(&V), expect > 0);
    }
}

/// Replies race the deletion of their thread: whatever interleaving, the video's
/// comment count equals its live comments (none, once the root is gone).
async fn replies_race_delete(store: &SeaInteractionStore) {
    const V: i64 = 901;
    store
        .insert_comment(&new_comment(5000, 1, Thread::Video(V), 1))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30i64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            // reply to the root or to an earlier reply; losing the race is fine
            let parent = if i < 3 { 5000 } else { 5001 + i % 3 };
            match s
                .insert_comment(&new_comment(5001 + i, 2, Thread::Reply(parent), 2))
                .await
            {
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => panic!("reply failed: {e}"),
            }
        }));
    }
    let s = store.clone();
    let deleter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(3)).await;
        s.delete_comment(1, 5000, 3).await.unwrap()
    });
    for t in tasks {
        t.await.unwrap();
    }
    let removed = deleter.await.unwrap();
    assert!(removed.comments >= 1);
    let (top, total) = store.top_level(V, ALL).await.unwrap();
    assert!(top.is_empty() && total == 0);
    assert_eq!(count(store, counter::VIDEO_COMMENTS, V).await, 0);
    for id in 5000..5004 {
        assert_eq!(count(store, counter::COMMENT_REPLIES, id).await, 0, "{id}");
        assert!(store.comment(id).await.unwrap().is_none());
    }
}

/// Every row sits in the slot its owning key routes to: likes, comments and their
/// counters by video, comment homes by comment id; the template tables stay empty.
async fn placement(store: &SeaInteractionStore, shards: &Shards) {
    let layout = shards.layout();
    for v in 0..40i64 {
        let video = 7_000_000 + v * 4_194_304; // snowflake-like ids
        store.like(1, Target::Video(video), v).await.unwrap();
        let c = store
            .insert_comment(&new_comment(8_000_000 + v, 2, Thread::Video(video), v))
            .await
            .unwrap();
        store.like(3, Target::Comment(c.id), v).await.unwrap();
    }
    let video_of = |c: i64| 7_000_000 + (c - 8_000_000) * 4_194_304;
    let mut used = 0;
    for shard in shards.all() {
        let select = |cols: &str, t: &str| format!("SELECT {cols} FROM {}", shard.table(t));
        let comments = int_rows(shard.db(), &select("id, video_id", "comments")).await;
        for r in &comments {
            assert_eq!(layout.slot_of(r[1]), shard.slot, "comment {}", r[0]);
        }
        for r in int_rows(shard.db(), &select("kind, target_id", "likes")).await {
            let video = if r[0] == 1 { r[1] } else { video_of(r[1]) };
            assert_eq!(layout.slot_of(video), shard.slot, "like on {}", r[1]);
        }
        for r in int_rows(shard.db(), &select("id, video_id", "comment_homes")).await {
            assert_eq!(layout.slot_of(r[0]), shard.slot, "home of {}", r[0]);
            assert_eq!(r[1], video_of(r[0]));
        }
        for r in int_rows(shard.db(), &select("kind, target_id", "counter_events")).await {
            let by_video = [counter::VIDEO_LIKES, counter::VIDEO_COMMENTS].map(i64::from);
            let video = if by_video.contains(&r[0]) {
                r[1]
            } else {
                video_of(r[1])
            };
            assert_eq!(layout.slot_of(video), shard.slot, "counter {r:?}");
        }
        used += usize::from(!comments.is_empty());
    }
    assert!(
        used >= 3,
        "40 videos over {} slots used only {used}",
        layout.slots()
    );
    assert_templates_empty(shards, fanone_interaction::SHARDED).await;
    // counts and lists read back through the routing
    assert_eq!(store.liked_videos(1, ALL).await.unwrap().1, 40);
    let first = 7_000_000;
    assert_eq!(count(store, counter::VIDEO_LIKES, first).await, 1);
    assert_eq!(count(store, counter::VIDEO_COMMENTS, first).await, 1);
    assert_eq!(count(store, counter::COMMENT_LIKES, 8_000_000).await, 1);
}

/// Empty every table of every slot (the suites reuse their ids).
async fn clear(shards: &Shards) {
    for shard in shards.all() {
        for table in fanone_interaction::SHARDED {
            shard
                .db()
                .execute_unprepared(&format!("DELETE FROM {}", shard.table(table)))
                .await
                .unwrap();
        }
    }
}

/// The whole suite, with each like its own transaction and with group commit.
async fn exercise(shards: Shards) {
    let store = SeaInteractionStore::new(shards.clone());
    likes(&store).await;
    comments(&store).await;
    concurrent_likes(&store).await;
    replies_race_delete(&store).await;
    clear(&shards).await;
    let jobs = fanone_jobs::Jobs::new();
    let store = SeaInteractionStore::new(shards.clone()).with_group_commit(&jobs);
    likes(&store).await;
    comments(&store).await;
    concurrent_likes(&store).await;
    replies_race_delete(&store).await;
    two_writers(&shards).await;
    if shards.layout().is_sharded() {
        clear(&shards).await;
        placement(&store, &shards).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "interaction");
    exercise(Shards::single(
        fanone_testkit::migrated::<Migrator>(&url).await,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_store() {
    let Some(url) = fanone_testkit::mysql_database("fanone_interaction_store").await else {
        return;
    };
    exercise(Shards::single(
        fanone_testkit::migrated::<Migrator>(&url).await,
    ))
    .await;
}

/// The same suite on 2 databases × 2 tables, and every row where the rule says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mariadb_sharded_store() {
    let Some(shards) = fanone_testkit::shards::two_by_two::<Migrator>(
        "fanone_interaction_shard",
        fanone_interaction::SHARDED,
    )
    .await
    else {
        return;
    };
    exercise(shards).await;
}
