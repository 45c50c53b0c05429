//! The same repository tests against SQLite and MariaDB (when configured).

use fanone_user::Migrator;
use fanone_user::store::{SeaUserStore, SessionRecord, StoreError, UserRecord, UserStore};

fn record(id: i64, name: &str) -> UserRecord {
    UserRecord {
        id,
        username: name.to_owned(),
        password_hash: "$argon2id$fake".to_owned(),
        avatar_url: String::new(),
        mfa_secret: None,
        mfa_last_step: 0,
        created_at: 1_700_000_000_000 + id,
        updated_at: 1_700_000_000_000 + id,
    }
}

async fn exercise(store: SeaUserStore) {
    store.insert(&record(1, "alice")).await.unwrap();
    store.insert(&record(2, "Bob_the_builder")).await.unwrap();
    store.insert(&record(3, "50%_off")).await.unwrap();
    store
        .insert(&record(4, "robert'); DROP TABLE users;--"))
        .await
        .unwrap();

    // unique username, exact and case-sensitive
    assert!(matches!(
        store.insert(&record(9, "alice")).await,
        Err(StoreError::Duplicate)
    ));
    store.insert(&record(5, "Alice")).await.unwrap();
    assert_eq!(store.by_username("alice").await.unwrap().unwrap().id, 1);
    assert_eq!(store.by_username("Alice").await.unwrap().unwrap().id, 5);
    assert!(store.by_username("ALICE").await.unwrap().is_none());

    // metacharacters are data, not SQL
    let bobby = store
        .by_username("robert'); DROP TABLE users;--")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bobby.id, 4);
    assert_eq!(store.by_id(1).await.unwrap().unwrap(), record(1, "alice"));
    assert!(store.by_id(404).await.unwrap().is_none());

    // batch read
    let mut got: Vec<i64> = store
        .by_ids(&[3, 1, 404])
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    got.sort();
    assert_eq!(got, vec![1, 3]);
    assert!(store.by_ids(&[]).await.unwrap().is_empty());

    // substring search: case-insensitive, LIKE wildcards taken literally
    assert_eq!(
        store.ids_by_username_fragment("BOB", 10).await.unwrap(),
        vec![2]
    );
    assert_eq!(
        store.ids_by_username_fragment("lic", 10).await.unwrap(),
        vec![1, 5]
    );
    assert_eq!(
        store.ids_by_username_fragment("lic", 1).await.unwrap(),
        vec![1]
    );
    assert_eq!(
        store.ids_by_username_fragment("%", 10).await.unwrap(),
        vec![3]
    );
    assert_eq!(
        store.ids_by_username_fragment("_", 10).await.unwrap(),
        vec![2, 3]
    );
    assert_eq!(
        store.ids_by_username_fragment("'", 10).await.unwrap(),
        vec![4]
    );
    assert!(
        store
            .ids_by_username_fragment("zzz", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // updates
    // updates answer the avatar they replaced ("" = none)
    assert_eq!(
        store.set_avatar(1, "http://x/a.png", 42).await.unwrap(),
        Some(String::new())
    );
    let a = store.by_id(1).await.unwrap().unwrap();
    assert_eq!(
        (a.avatar_url.as_str(), a.updated_at),
        ("http://x/a.png", 42)
    );
    assert_eq!(
        store.set_avatar(1, "http://x/b.png", 43).await.unwrap(),
        Some("http://x/a.png".to_owned())
    );
    // the same URL again: replaced itself (no loop on an unchanged row)
    assert_eq!(
        store.set_avatar(1, "http://x/b.png", 43).await.unwrap(),
        Some("http://x/b.png".to_owned())
    );
    assert_eq!(
        store.set_avatar(404, "http://x/a.png", 42).await.unwrap(),
        None
    );
    // racing updates of one user: each answers a different replaced URL, and the
    // replaced ones plus the final one are exactly every URL set
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let url = format!("http://x/r{i}.png");
                let prev = store.set_avatar(1, &url, 50 + i).await.unwrap().unwrap();
                (url, prev)
            })
        })
        .collect();
    let (mut set, mut replaced) = (vec!["http://x/b.png".to_owned()], Vec::new());
    for r in racers {
        let (url, prev) = r.await.unwrap();
        set.push(url);
        replaced.push(prev);
    }
    replaced.push(store.by_id(1).await.unwrap().unwrap().avatar_url);
    replaced.sort();
    set.sort();
    assert_eq!(
        replaced, set,
        "each URL replaced exactly once, the last one kept"
    );
    store.set_avatar(1, "http://x/a.png", 60).await.unwrap();

    // MFA: bind records the step; steps only move forward
    assert!(store.set_mfa(1, "SECRETBASE32", 100, 43).await.unwrap());
    assert_eq!(
        store.by_id(1).await.unwrap().unwrap().mfa_secret.as_deref(),
        Some("SECRETBASE32")
    );
    assert!(!store.advance_mfa_step(1, 100).await.unwrap());
    assert!(!store.advance_mfa_step(1, 99).await.unwrap());
    assert!(store.advance_mfa_step(1, 101).await.unwrap());
    assert!(!store.advance_mfa_step(1, 101).await.unwrap());
    assert!(!store.set_mfa(404, "S", 1, 1).await.unwrap());

    // sessions: rotation is a compare-and-set on the generation; revocation sticks
    let s = SessionRecord {
        id: 77,
        user_id: 1,
        generation: 10,
        previous_generation: 0,
        rotated_at: 5,
        revoked_at: None,
        expires_at: i64::MAX,
        created_at: 5,
    };
    store.insert_session(&s).await.unwrap();
    assert_eq!(store.session(77).await.unwrap(), Some(s.clone()));
    assert!(store.rotate_session(77, 10, 11, 6).await.unwrap());
    assert!(
        !store.rotate_session(77, 10, 12, 7).await.unwrap(),
        "stale generation"
    );
    let r = store.session(77).await.unwrap().unwrap();
    assert_eq!(
        (r.generation, r.previous_generation, r.rotated_at),
        (11, 10, 6)
    );
    assert!(store.revoke_session(77, 8).await.unwrap());
    assert!(!store.revoke_session(77, 9).await.unwrap());
    assert!(
        !store.rotate_session(77, 11, 12, 9).await.unwrap(),
        "revoked"
    );
    assert_eq!(
        store.session(77).await.unwrap().unwrap().revoked_at,
        Some(8)
    );
    assert_eq!(store.session(404).await.unwrap(), None);
}

#[tokio::test]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "user");
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaUserStore::new(db)).await;
}

#[tokio::test]
async fn mariadb_store() {
    let Some(url) = fanone_testkit::mysql_database("fanone_user_store").await else {
        return;
    };
    let db = fanone_testkit::migrated::<Migrator>(&url).await;
    exercise(SeaUserStore::new(db)).await;
}
