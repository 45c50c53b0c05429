//! The life of indexed images on the real binary: a replaced avatar and the cover of
//! a deleted video leave the index (events `image.removed`), duplicates answer with
//! the newest live owner, the reaper deletes removed objects after the grace period,
//! and `fanone image reindex` rebuilds exactly the live set.

use std::{collections::BTreeSet, path::Path, time::Duration};

use fanone_errno::from_rpc;
use fanone_testkit::{Fanone, Reply, Tokens};
use fanone_vector::{FlatIndex, VectorStore};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use volo_gen::image::{self as irpc, ImageKind};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");
const DIM: usize = 1280;

use fanone_testkit::picture as data;

async fn avatar(app: &Fanone, tokens: &Tokens, file: &str) -> String {
    app.upload_avatar(tokens, file, data(file)).await
}

async fn search(app: &Fanone, file: &str, top_k: Option<&str>) -> Reply {
    app.image_search(data(file), top_k).await
}

async fn search_bytes(app: &Fanone, bytes: Vec<u8>, top_k: Option<&str>) -> Reply {
    app.image_search(bytes, top_k).await
}

/// One item of a top-k answer: `(url, urls)`.
type Item = (String, Vec<String>);

fn items(r: &Reply) -> Vec<Item> {
    r.data()["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let urls = i["urls"]
                        .as_array()
                        .unwrap_or_else(|| panic!("urls missing: {i}"))
                        .iter()
                        .map(|u| u.as_str().unwrap().to_owned())
                        .collect();
                    (i["url"].as_str().unwrap().to_owned(), urls)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Search `bytes` (top 20) until `done` holds for the items (indexing and removal
/// are asynchronous, by events); the last items.
async fn until(
    app: &Fanone,
    bytes: &[u8],
    what: &str,
    done: impl Fn(&[Item]) -> bool,
) -> Vec<Item> {
    let mut last = Vec::new();
    for _ in 0..300 {
        let r = search_bytes(app, bytes.to_vec(), Some("20")).await;
        last = if r.code() == 10000 {
            items(&r)
        } else {
            Vec::new()
        };
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 30 s; last answer {last:?}");
}

fn all_urls(items: &[Item]) -> BTreeSet<String> {
    items.iter().flat_map(|(_, urls)| urls.clone()).collect()
}

fn set(urls: &[&str]) -> BTreeSet<String> {
    urls.iter().map(|u| u.to_string()).collect()
}

async fn status_of(app: &Fanone, url: &str) -> u16 {
    app.http.get(url).send().await.unwrap().status().as_u16()
}

async fn publish(app: &Fanone, uid: &str, tokens: &Tokens, title: &str) -> (String, String) {
    let id = app.publish_video(uid, tokens, title).await;
    let list = app
        .get(&format!("/video/list?user_id={uid}&page_size=100"), None)
        .await;
    let cover = list.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id.as_str())
        .and_then(|v| v["cover_url"].as_str())
        .unwrap()
        .to_owned();
    (id, cover)
}

async fn delete_video(app: &Fanone, tokens: &Tokens, id: &str) -> Reply {
    let req = app
        .http
        .delete(app.at(&format!("/video/delete?video_id={id}")))
        .header("Access-Token", &tokens.access)
        .header("Refresh-Token", &tokens.refresh);
    Reply::read(req.send().await).await
}

/// `IndexImage` as a (late, re-delivered) `image.stored` would ask for it.
async fn index(app: &Fanone, url: &str) -> Result<i64, fanone_errno::Error> {
    let addr: std::net::SocketAddr = app.endpoints["image"].parse().unwrap();
    let client = irpc::ImageServiceClientBuilder::new("image")
        .address(addr)
        .build();
    let call = client.index_image(irpc::IndexImageRequest {
        url: url.to_owned().into(),
        kind: ImageKind::AVATAR,
        owner_id: 1,
    });
    let token = Some(fanone_testkit::internal_credential());
    from_rpc(fanone_testkit::with_credential(token, call).await).map(|r| r.image_id)
}

/// The vector keys in the built-in index of a stopped system.
async fn vector_count(dir: &Path) -> u64 {
    let idx = FlatIndex::open(dir.join("image.vectors"), DIM).unwrap();
    idx.len().await.unwrap()
}

/// The image service's table of a stopped system: `(url, content_id, removed)`.
async fn image_rows(dir: &Path) -> Vec<(String, Option<i64>, bool)> {
    let url = format!("sqlite://{}?mode=rw", dir.join("image.db").display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT url, content_id, removed_at FROM images ORDER BY id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "url").unwrap(),
                r.try_get("", "content_id").unwrap(),
                r.try_get::<Option<i64>>("", "removed_at")
                    .unwrap()
                    .is_some(),
            )
        })
        .collect()
}

/// The length of each live picture's stored colour layout (None: no layout); then,
/// with `clear`, forget them all (as for pictures indexed before layouts were kept).
async fn live_layouts(dir: &Path, clear: bool) -> Vec<Option<usize>> {
    let url = format!("sqlite://{}?mode=rw", dir.join("image.db").display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT DISTINCT c.id, c.layout FROM image_contents c \
             JOIN images i ON i.content_id = c.id WHERE i.removed_at IS NULL ORDER BY c.id",
        ))
        .await
        .unwrap();
    if clear {
        db.execute_unprepared("UPDATE image_contents SET layout = NULL")
            .await
            .unwrap();
    }
    rows.iter()
        .map(|r| {
            r.try_get::<Option<Vec<u8>>>("", "layout")
                .unwrap()
                .map(|l| l.len())
        })
        .collect()
}

/// `fanone image reindex` on the data dir of a stopped system; its summary line.
async fn reindex(dir: &Path) -> String {
    let out = tokio::process::Command::new(BIN)
        .args(["image", "reindex"])
        .env("FANONE__DATA_DIR", dir)
        .env("FANONE__TELEMETRY__LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "reindex failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn removed_images_leave_the_index_and_reindex_keeps_the_live_set() {
    let app = Fanone::start(BIN).await;
    let (_, alice) = app.user("alice").await;
    let (_, bob) = app.user("bob").await;
    let a1 = avatar(&app, &alice, "astronaut.jpg").await;
    let b1 = avatar(&app, &bob, "coffee.jpg").await;
    until(&app, &data("astronaut.jpg"), "both avatars indexed", |i| {
        all_urls(i) == set(&[&a1, &b1])
    })
    .await;

    // alice replaces her avatar: the astronaut is no longer found, the new one is
    let a2 = avatar(&app, &alice, "chelsea.jpg").await;
    let left = until(
        &app,
        &data("astronaut.jpg"),
        "the replaced avatar removed",
        |i| all_urls(i) == set(&[&a2, &b1]),
    )
    .await;
    assert_eq!(left.len(), 2, "one item per picture: {left:?}");
    let r = search(&app, "astronaut_exif6.jpg", None).await;
    assert_ne!(r.data().as_str(), Some(a1.as_str()), "{}", r.body);
    let r = search(&app, "chelsea_edited.jpg", None).await;
    assert_eq!(r.data().as_str(), Some(a2.as_str()), "{}", r.body);
    // within the grace period (a day by default) the old object is still served
    assert_eq!(status_of(&app, &a1).await, 200);
    // a late or re-delivered image.stored of the removed URL never indexes it again
    let err = index(&app, &a1).await.unwrap_err();
    assert_eq!(err.code.as_i32(), 10007, "{err:?}");
    let r = search(&app, "astronaut.jpg", Some("20")).await;
    assert_eq!(all_urls(&items(&r)), set(&[&a2, &b1]));

    // a deleted video's cover leaves the index
    let (carol_id, carol) = app.user("carol").await;
    let (vid, cover) = publish(&app, &carol_id, &carol, "clip").await;
    let (vid2, cover2) = publish(&app, &carol_id, &carol, "other clip").await;
    let cover_bytes = app
        .http
        .get(&cover)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    until(&app, &cover_bytes, "the covers indexed", |i| {
        all_urls(i).is_superset(&set(&[&cover, &cover2]))
    })
    .await;
    // only the author may delete (10008), an unknown video is 10007, no id is 10002
    let r = delete_video(&app, &bob, &vid).await;
    assert_eq!(r.code(), 10008, "{}", r.body);
    let r = delete_video(&app, &carol, "12345").await;
    assert_eq!(r.code(), 10007, "{}", r.body);
    let r = app
        .post_form("/video/delete", &[("video_id", "x")], Some(&carol))
        .await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    let r = delete_video(&app, &carol, &vid).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let r = delete_video(&app, &carol, &vid).await;
    assert_eq!(r.code(), 10007, "deleted twice: {}", r.body);
    // the video is gone from lists, feed and search at once
    let list = app
        .get(&format!("/video/list?user_id={carol_id}"), None)
        .await;
    let listed: Vec<&str> = list.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![vid2.as_str()]);
    assert_eq!(list.data()["total"], 1);
    let feed = app.get("/video/feed", None).await;
    assert!(!feed.body.to_string().contains(&vid), "{}", feed.body);
    let found = app
        .post_form("/video/search", &[("keywords", "clip")], None)
        .await;
    assert!(!found.body.to_string().contains(&vid), "{}", found.body);
    until(
        &app,
        &cover_bytes,
        "the deleted video's cover removed",
        |i| {
            let urls = all_urls(i);
            !urls.contains(&cover) && urls.contains(&cover2)
        },
    )
    .await;
    // the other video deleted by POST with a form body
    let r = app
        .post_form("/video/delete", &[("video_id", &vid2)], Some(&carol))
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    until(&app, &cover_bytes, "the second cover removed", |i| {
        all_urls(i) == set(&[&a2, &b1])
    })
    .await;

    // the index holds exactly the live pictures: removed images' vectors are gone
    let dir = app.stop().await;
    assert_eq!(vector_count(dir.path()).await, 2);
    let rows = image_rows(dir.path()).await;
    let removed: Vec<&String> = rows.iter().filter(|r| r.2).map(|r| &r.0).collect();
    assert_eq!(removed.len(), 3, "{rows:?}");
    // a vector of a removed image left behind (say, by a crash between writes):
    // reindex drops it and rebuilds exactly the live set
    let stale = rows.iter().find(|r| r.0 == a1).and_then(|r| r.1).unwrap();
    {
        let idx = FlatIndex::open(dir.path().join("image.vectors"), DIM).unwrap();
        let mut v = vec![0.0f32; DIM];
        v[0] = 1.0;
        idx.upsert(stale, &v).await.unwrap();
        assert_eq!(idx.len().await.unwrap(), 3);
    }
    // indexing kept each live picture's colour layout; reindex writes them again
    // (for pictures indexed before layouts were kept)
    assert_eq!(live_layouts(dir.path(), true).await, vec![Some(192); 2]);
    assert_eq!(live_layouts(dir.path(), false).await, vec![None; 2]);
    let summary = reindex(dir.path()).await;
    assert_eq!(live_layouts(dir.path(), false).await, vec![Some(192); 2]);
    assert!(
        summary.contains("reindexed 2 images (2 distinct pictures), 0 failed"),
        "{summary}"
    );
    assert!(summary.contains("the index holds 2 vectors"), "{summary}");
    assert_eq!(vector_count(dir.path()).await, 2);

    let app = Fanone::start_in(BIN, dir, &[]).await;
    let r = search(&app, "astronaut.jpg", Some("20")).await;
    assert_eq!(all_urls(&items(&r)), set(&[&a2, &b1]), "{}", r.body);
    let r = search(&app, "chelsea_edited.jpg", None).await;
    assert_eq!(r.data().as_str(), Some(a2.as_str()));
    let r = search_bytes(&app, cover_bytes, Some("20")).await;
    assert!(!all_urls(&items(&r)).contains(&cover));
}

#[tokio::test]
async fn duplicates_answer_with_the_newest_live_owner() {
    let app = Fanone::start(BIN).await;
    let (_, dora) = app.user("dora").await;
    let (_, eve) = app.user("eve").await;
    let (_, fred) = app.user("fred").await;
    // the same bytes twice, eve's the newer
    let d1 = avatar(&app, &dora, "flower.jpg").await;
    let e1 = avatar(&app, &eve, "flower.jpg").await;
    let f1 = avatar(&app, &fred, "rocket.webp").await;
    let got = until(&app, &data("flower.jpg"), "all three indexed", |i| {
        all_urls(i).len() == 3
    })
    .await;
    // one item per picture: the flower once, answered by the newest owner
    assert_eq!(
        got,
        vec![
            (e1.clone(), vec![e1.clone(), d1.clone()]),
            (f1.clone(), vec![f1.clone()])
        ]
    );
    let r = search(&app, "flower.jpg", Some("1")).await;
    assert_eq!(r.data()["url"], e1.as_str());
    assert_eq!(items(&r), vec![(e1.clone(), vec![e1.clone(), d1.clone()])]);
    for _ in 0..3 {
        let r = search(&app, "flower.jpg", None).await;
        assert_eq!(r.data().as_str(), Some(e1.as_str()), "deterministic");
    }

    // the newest owner replaces the avatar: the older owner answers
    let e2 = avatar(&app, &eve, "coffee.jpg").await;
    let got = until(&app, &data("flower.jpg"), "eve's flower removed", |i| {
        all_urls(i) == set(&[&d1, &f1, &e2])
    })
    .await;
    assert_eq!(got[0], (d1.clone(), vec![d1.clone()]));
    let r = search(&app, "flower.jpg", None).await;
    assert_eq!(r.data().as_str(), Some(d1.as_str()));

    // the last owner replaces it too: the picture is gone
    let d2 = avatar(&app, &dora, "astronaut.jpg").await;
    until(&app, &data("flower.jpg"), "the flower removed", |i| {
        all_urls(i) == set(&[&f1, &e2, &d2])
    })
    .await;
    let dir = app.stop().await;
    assert_eq!(vector_count(dir.path()).await, 3);
}

#[tokio::test]
async fn the_reaper_deletes_removed_objects_after_the_grace_period() {
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__IMAGE__REMOVED_GRACE_SECS", "1"),
            ("FANONE__IMAGE__REAP_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let (uid, gina) = app.user("gina").await;
    let g1 = avatar(&app, &gina, "astronaut.jpg").await;
    let (vid, cover) = publish(&app, &uid, &gina, "short").await;
    let g2 = avatar(&app, &gina, "chelsea.jpg").await;
    assert_eq!(delete_video(&app, &gina, &vid).await.code(), 10000);
    for url in [&g1, &cover] {
        let mut gone = false;
        for _ in 0..300 {
            if status_of(&app, url).await == 404 {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "{url} still served 30 s after its removal");
        let r = app.get(&url[app.url.len()..], None).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.body["base"]["code"], 10007, "{}", r.body);
    }
    // the live avatar stays
    assert_eq!(status_of(&app, &g2).await, 200);
    let r = search(&app, "chelsea.jpg", None).await;
    assert_eq!(r.data().as_str(), Some(g2.as_str()), "{}", r.body);
}
