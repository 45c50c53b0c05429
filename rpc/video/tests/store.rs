//! The same repository tests against SQLite and MariaDB (when configured).

use fanone_video::Migrator;
use fanone_video::store::{
    ChunkAdded, ChunkRecord, Deletion, SeaVideoStore, SearchFilter, StoreError, UploadRecord,
    UploadState, VideoRecord, VideoStore, Window,
};

const T0: i64 = 1_700_000_000_000;

fn record(id: i64, user_id: i64, at: i64, title: &str, description: &str) -> VideoRecord {
    VideoRecord {
        id,
        user_id,
        title: title.to_owned(),
        description: description.to_owned(),
        video_url: format!("http://x/static/videos/{user_id}/{id}.mp4"),
        cover_url: format!("http://x/static/covers/{user_id}/{id}.png"),
        created_at: T0 + at,
        updated_at: T0 + at,
    }
}

fn all() -> Window {
    Window {
        offset: 0,
        limit: 100,
    }
}

fn ids(videos: &[VideoRecord]) -> Vec<i64> {
    videos.iter().map(|v| v.id).collect()
}

async fn search(store: &SeaVideoStore, f: SearchFilter) -> (Vec<i64>, u64) {
    let (videos, total) = store.search(&f, all()).await.unwrap();
    (ids(&videos), total)
}

async fn exercise(store: SeaVideoStore) {
    // user 1: ids 1..=3, user 2: ids 4..=6; ids 7 and 8 share a millisecond
    store
        .insert(&record(1, 1, 10, "Cats in the snow", ""))
        .await
        .unwrap();
    store
        .insert(&record(2, 1, 20, "Dogs", "a dog meets a CAT"))
        .await
        .unwrap();
    store
        .insert(&record(
            3,
            1,
            30,
            "100% real_stuff",
            "percent and underscore",
        ))
        .await
        .unwrap();
    store
        .insert(&record(4, 2, 40, "robert'); DROP TABLE videos;--", "bobby"))
        .await
        .unwrap();
    store
        .insert(&record(5, 2, 50, "猫の動画", "中文描述"))
        .await
        .unwrap();
    store
        .insert(&record(6, 2, 60, "birds", "no felines"))
        .await
        .unwrap();
    store
        .insert(&record(7, 3, 70, "same ms a", ""))
        .await
        .unwrap();
    store
        .insert(&record(8, 3, 70, "same ms b", ""))
        .await
        .unwrap();
    assert!(matches!(
        store.insert(&record(1, 9, 99, "dup", "")).await,
        Err(StoreError::Duplicate)
    ));

    // batch read, metacharacters kept as data
    let mut got = ids(&store.by_ids(&[4, 1, 404]).await.unwrap());
    got.sort();
    assert_eq!(got, vec![1, 4]);
    assert_eq!(
        store.by_ids(&[4]).await.unwrap()[0],
        record(4, 2, 40, "robert'); DROP TABLE videos;--", "bobby")
    );
    assert!(store.by_ids(&[]).await.unwrap().is_empty());

    // list by user: newest first, total, paging edges
    let (v, total) = store.list_by_user(1, all()).await.unwrap();
    assert_eq!((ids(&v), total), (vec![3, 2, 1], 3));
    let (v, total) = store
        .list_by_user(
            1,
            Window {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((ids(&v), total), (vec![2], 3));
    let (v, total) = store
        .list_by_user(
            1,
            Window {
                offset: 3,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((ids(&v), total), (vec![], 3));
    let (v, total) = store.list_by_user(404, all()).await.unwrap();
    assert_eq!((ids(&v), total), (vec![], 0));
    // same millisecond: the id breaks the tie
    let (v, _) = store.list_by_user(3, all()).await.unwrap();
    assert_eq!(ids(&v), vec![8, 7]);
    // the author's newest ids (what the list cache keeps), same order, capped
    assert_eq!(store.ids_by_user(1, 10).await.unwrap(), (vec![3, 2, 1], 3));
    assert_eq!(store.ids_by_user(1, 2).await.unwrap(), (vec![3, 2], 3));
    assert_eq!(store.ids_by_user(3, 10).await.unwrap(), (vec![8, 7], 2));
    assert_eq!(store.ids_by_user(404, 10).await.unwrap(), (vec![], 0));

    // feed: strictly after latest_time, newest first
    let feed = |after, offset, limit| {
        let store = store.clone();
        async move { ids(&store.feed(after, Window { offset, limit }).await.unwrap()) }
    };
    assert_eq!(feed(None, 0, 100).await, vec![8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(feed(Some(T0 + 50), 0, 100).await, vec![8, 7, 6]);
    assert_eq!(feed(Some(T0 + 50), 1, 1).await, vec![7]);
    assert_eq!(feed(Some(T0 + 70), 0, 100).await, Vec::<i64>::new());
    assert_eq!(feed(None, 2, 3).await, vec![6, 5, 4]);

    // search: keywords in title OR description, case-insensitive, literal wildcards
    let kw = |k: &str| SearchFilter {
        keywords: Some(k.to_owned()),
        ..Default::default()
    };
    assert_eq!(search(&store, kw("cat")).await, (vec![2, 1], 2));
    assert_eq!(search(&store, kw("CATS")).await, (vec![1], 1));
    assert_eq!(search(&store, kw("%")).await, (vec![3], 1));
    assert_eq!(search(&store, kw("_")).await, (vec![3], 1));
    assert_eq!(search(&store, kw("'); DROP")).await, (vec![4], 1));
    assert_eq!(search(&store, kw("猫")).await, (vec![5], 1));
    assert_eq!(search(&store, kw("中文")).await, (vec![5], 1));
    assert_eq!(search(&store, kw("nothing like it")).await, (vec![], 0));
    assert_eq!(search(&store, SearchFilter::default()).await.1, 8);
    // dates are inclusive on both ends
    let dated = SearchFilter {
        from: Some(T0 + 20),
        to: Some(T0 + 40),
        ..Default::default()
    };
    assert_eq!(search(&store, dated.clone()).await, (vec![4, 3, 2], 3));
    // everything ANDed
    let and = SearchFilter {
        keywords: Some("s".to_owned()),
        user_ids: Some(vec![1, 3]),
        ..dated.clone()
    };
    assert_eq!(search(&store, and).await, (vec![3, 2], 2));
    let uploaders = SearchFilter {
        user_ids: Some(vec![2]),
        ..Default::default()
    };
    assert_eq!(search(&store, uploaders).await, (vec![6, 5, 4], 3));
    let nobody = SearchFilter {
        user_ids: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(search(&store, nobody).await, (vec![], 0));
    let (v, total) = store
        .search(
            &kw("s"),
            Window {
                offset: 1,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 7, "every title or description with an s");
    assert_eq!(v.len(), 2);

    // newest and created_at_of feed the popular ranking
    assert_eq!(
        store.newest(3).await.unwrap(),
        vec![(8, T0 + 70), (7, T0 + 70), (6, T0 + 60)]
    );
    let mut at = store.created_at_of(&[2, 404, 5]).await.unwrap();
    at.sort();
    assert_eq!(at, vec![(2, T0 + 20), (5, T0 + 50)]);

    // visits: exact before and after settling; unknown videos count nothing
    assert!(store.add_visit(2).await.unwrap());
    assert!(store.add_visit(2).await.unwrap());
    assert!(store.add_visit(5).await.unwrap());
    assert!(!store.add_visit(404).await.unwrap());
    let counts = store.visit_counts(&[2, 5, 6, 404]).await.unwrap();
    assert_eq!((counts[&2], counts[&5]), (2, 1));
    assert!(!counts.contains_key(&6) && !counts.contains_key(&404));
    assert!(store.visit_counts(&[]).await.unwrap().is_empty());
    assert!(
        store.top_visited(10).await.unwrap().is_empty(),
        "nothing settled yet"
    );
    store.counters().settle().await.unwrap();
    assert!(store.add_visit(5).await.unwrap());
    assert!(store.add_visit(5).await.unwrap());
    let counts = store.visit_counts(&[2, 5]).await.unwrap();
    assert_eq!((counts[&2], counts[&5]), (2, 3));
    assert_eq!(store.top_visited(10).await.unwrap(), vec![(2, 2), (5, 1)]);
    store.counters().settle().await.unwrap();
    assert_eq!(store.top_visited(1).await.unwrap(), vec![(5, 3)]);

    // many concurrent visits, settled while they run: nothing lost or doubled
    let settler = fanone_jobs::Jobs::new();
    fanone_counter::settle_every(
        vec![store.counters().as_ref().clone()],
        &settler,
        "test-settle",
        std::time::Duration::from_millis(5),
    );
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                assert!(store.add_visit(6).await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    settler.shutdown(std::time::Duration::from_secs(1)).await;
    assert_eq!(store.visit_counts(&[6]).await.unwrap()[&6], 100);
}

fn upload(id: i64, user_id: i64, expires_at: i64) -> UploadRecord {
    UploadRecord {
        id,
        user_id,
        title: format!("upload {id}"),
        description: String::new(),
        total_size: 10,
        chunk_count: 2,
        file_md5: "0".repeat(32),
        state: UploadState::Open,
        video_id: None,
        created_at: T0,
        updated_at: T0,
        expires_at,
    }
}

fn chunk(number: i32, size: i64, md5: char) -> ChunkRecord {
    ChunkRecord {
        number,
        size,
        md5: md5.to_string().repeat(32),
    }
}

/// Chunked uploads: the per-user limit, chunks once by key, closing with the video in
/// one transaction, expiry and purge.
async fn exercise_uploads(store: SeaVideoStore) {
    let now = T0 + 1000;
    let later = T0 + 10_000;
    // at most 2 open uploads that have not expired; an expired one does not count
    assert!(
        store
            .insert_upload(&upload(100, 7, now - 1), 2, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_upload(&upload(101, 7, later), 2, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_upload(&upload(102, 7, later), 2, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_upload(&upload(103, 7, later), 2, now)
            .await
            .unwrap()
    );
    assert!(store.upload(103).await.unwrap().is_none());
    assert!(
        store
            .insert_upload(&upload(104, 8, later), 2, now)
            .await
            .unwrap()
    );

    // a chunk is recorded once; the key keeps what came first
    let add = |id, c| {
        let store = store.clone();
        async move { store.add_chunk(id, &c, now, later + 1).await.unwrap() }
    };
    assert_eq!(add(101, chunk(2, 4, 'b')).await, ChunkAdded::Added);
    assert_eq!(add(101, chunk(1, 6, 'a')).await, ChunkAdded::Added);
    assert_eq!(
        add(101, chunk(2, 5, 'c')).await,
        ChunkAdded::Existing(chunk(2, 4, 'b'))
    );
    // expired or unknown uploads take nothing
    assert_eq!(add(100, chunk(1, 1, 'a')).await, ChunkAdded::NotOpen);
    assert_eq!(add(999, chunk(1, 1, 'a')).await, ChunkAdded::NotOpen);
    let (u, chunks) = store.upload(101).await.unwrap().unwrap();
    assert_eq!(u.expires_at, later + 1, "a chunk moves the expiry");
    assert_eq!(chunks, vec![chunk(1, 6, 'a'), chunk(2, 4, 'b')]);

    // complete: the video and the closed upload commit together, once
    let video = record(500, 7, 500, "from chunks", "");
    assert!(
        store
            .close_upload(101, UploadState::Completed, Some(&video), now, later)
            .await
            .unwrap()
    );
    assert_eq!(store.by_ids(&[500]).await.unwrap(), vec![video.clone()]);
    assert!(
        !store
            .close_upload(101, UploadState::Cancelled, None, now, later)
            .await
            .unwrap()
    );
    assert_eq!(add(101, chunk(1, 6, 'a')).await, ChunkAdded::NotOpen);
    let (u, _) = store.upload(101).await.unwrap().unwrap();
    assert_eq!((u.state, u.video_id), (UploadState::Completed, Some(500)));
    // a taken video id rolls the close back
    let taken = record(500, 7, 600, "again", "");
    assert!(matches!(
        store
            .close_upload(102, UploadState::Completed, Some(&taken), now, later)
            .await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store.upload(102).await.unwrap().unwrap().0.state,
        UploadState::Open
    );

    // expiry: the oldest first; purge removes rows and chunks of expired ones only
    assert_eq!(store.expired_uploads(now, 10).await.unwrap(), vec![100]);
    assert_eq!(
        store.expired_uploads(later + 1, 10).await.unwrap(),
        vec![100, 101, 102, 104]
    );
    assert_eq!(store.purge_uploads(&[100, 102], now).await.unwrap(), 1);
    assert!(store.upload(100).await.unwrap().is_none());
    assert!(store.upload(102).await.unwrap().is_some());
    assert_eq!(store.purge_uploads(&[101], later + 1).await.unwrap(), 1);
    assert!(store.upload(101).await.unwrap().is_none());
    assert_eq!(store.purge_uploads(&[], now).await.unwrap(), 0);
}

/// Soft delete: the author only; the row leaves every live read; again = flagged.
async fn exercise_delete(store: SeaVideoStore) {
    let keep = record(901, 90, 1000, "kept clip", "");
    let gone = record(902, 90, 1001, "gone clip", "");
    let other = record(903, 91, 1002, "other clip", "");
    for v in [&keep, &gone, &other] {
        store.insert(v).await.unwrap();
    }
    assert!(store.add_visit(902).await.unwrap());
    let now = T0 + 5000;
    assert_eq!(
        store.soft_delete(902, 91, now).await.unwrap(),
        Deletion::NotAuthor
    );
    assert_eq!(
        store.soft_delete(404, 90, now).await.unwrap(),
        Deletion::NotFound
    );
    assert_eq!(
        store.soft_delete(902, 90, now).await.unwrap(),
        Deletion::Deleted(VideoRecord {
            updated_at: now,
            ..gone.clone()
        })
    );
    // again: the author is told it was deleted before (at that time); others: unknown
    assert_eq!(
        store.soft_delete(902, 90, now + 1).await.unwrap(),
        Deletion::AlreadyDeleted(VideoRecord {
            updated_at: now,
            ..gone.clone()
        })
    );
    assert_eq!(
        store.soft_delete(902, 91, now + 1).await.unwrap(),
        Deletion::NotFound
    );

    // every read of live videos leaves it out
    let mut live = ids(&store.by_ids(&[901, 902, 903]).await.unwrap());
    live.sort_unstable();
    assert_eq!(live, vec![901, 903]);
    assert!(store.by_ids(&[902]).await.unwrap().is_empty());
    let (v, total) = store.list_by_user(90, all()).await.unwrap();
    assert_eq!((ids(&v), total), (vec![901], 1));
    assert_eq!(store.ids_by_user(90, 10).await.unwrap(), (vec![901], 1));
    let feed = ids(&store.feed(Some(T0 + 999), all()).await.unwrap());
    assert_eq!(feed, vec![903, 901]);
    assert_eq!(
        search(
            &store,
            SearchFilter {
                keywords: Some("clip".into()),
                ..Default::default()
            }
        )
        .await,
        (vec![903, 901], 2)
    );
    let newest: Vec<i64> = store
        .newest(3)
        .await
        .unwrap()
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert!(!newest.contains(&902), "{newest:?}");
    assert!(store.created_at_of(&[902]).await.unwrap().is_empty());
    assert!(
        !store.add_visit(902).await.unwrap(),
        "no visits of a deleted video"
    );
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "video");
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaVideoStore::new(db.clone())).await;
    exercise_uploads(SeaVideoStore::new(db.clone())).await;
    exercise_delete(SeaVideoStore::new(db)).await;
}

#[tokio::test]
async fn mariadb_store() {
    let Some(url) = fanone_testkit::mysql_database("fanone_video_store").await else {
        return;
    };
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaVideoStore::new(db.clone())).await;
    exercise_uploads(SeaVideoStore::new(db.clone())).await;
    exercise_delete(SeaVideoStore::new(db)).await;
}
