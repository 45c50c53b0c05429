//! Black-box tests of the like and comment routes (CONTRACT.md §4.3) against the
//! real `fanone standalone` binary. Videos are published through `/video/publish`
//! and checked through `/video/list`, so most of these need the video service.

use fanone_testkit::{Fanone, Reply, Tokens};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

/// Bytes that sniff as an MP4 (ISO BMFF `ftyp` box) followed by filler.
fn with_tokens(req: reqwest::RequestBuilder, t: &Tokens) -> reqwest::RequestBuilder {
    req.header("Access-Token", &t.access)
        .header("Refresh-Token", &t.refresh)
}

/// A video as `/video/list` of its uploader shows it.
async fn listed_video(app: &Fanone, uid: &str, video_id: &str) -> Value {
    let list = app
        .get(
            &format!("/video/list?user_id={uid}&page_num=0&page_size=100"),
            None,
        )
        .await;
    assert_eq!(list.code(), 10000, "{}", list.body);
    list.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == video_id)
        .cloned()
        .unwrap_or_else(|| panic!("video {video_id} not listed: {}", list.body))
}

async fn counts(app: &Fanone, uid: &str, video_id: &str) -> (i64, i64) {
    let v = listed_video(app, uid, video_id).await;
    (
        v["like_count"].as_i64().unwrap(),
        v["comment_count"].as_i64().unwrap(),
    )
}

async fn like(app: &Fanone, t: &Tokens, form: &[(&str, &str)]) -> i64 {
    app.post_form("/like/action", form, Some(t)).await.code()
}

async fn comment(app: &Fanone, t: &Tokens, form: &[(&str, &str)]) -> i64 {
    let r = app.post_form("/comment/publish", form, Some(t)).await;
    assert!(r.body.get("data").is_none(), "no data: {}", r.body);
    r.code()
}

/// `(items, total)` of a comment list.
async fn comments(app: &Fanone, query: &str) -> (Vec<Value>, i64) {
    let r = app.get(&format!("/comment/list?{query}"), None).await;
    assert_eq!(r.code(), 10000, "{query}: {}", r.body);
    (
        r.data()["items"].as_array().unwrap().clone(),
        r.data()["total"].as_i64().unwrap(),
    )
}

async fn delete_comment(app: &Fanone, t: &Tokens, id: &str) -> i64 {
    let req = with_tokens(app.http.delete(app.at("/comment/delete")), t)
        .form(&[("comment_id", id), ("video_id", "1")]);
    Reply::read(req.send().await).await.code()
}

fn assert_time(v: &Value) {
    let s = v.as_str().expect("time is a string");
    assert!(
        s.len() == 19 && &s[4..5] == "-" && &s[10..11] == " " && &s[13..14] == ":",
        "time {s:?} is not YYYY-MM-DD HH:MM:SS"
    );
}

fn assert_comment_shape(c: &Value) {
    for k in ["id", "user_id", "video_id", "parent_id", "content"] {
        assert!(c[k].is_string(), "{k} is a string: {c}");
    }
    assert!(c["like_count"].is_i64() && c["child_count"].is_i64(), "{c}");
    assert_time(&c["created_at"]);
    assert_time(&c["updated_at"]);
    assert_eq!(c["deleted_at"], "");
    assert_eq!(c.as_object().unwrap().len(), 10, "10 fields: {c}");
}

/// The comment of `list` with `content`.
fn by_content<'a>(list: &'a [Value], content: &str) -> &'a Value {
    list.iter()
        .find(|c| c["content"] == content)
        .unwrap_or_else(|| panic!("no comment {content:?} in {list:?}"))
}

fn id_of(c: &Value) -> String {
    c["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tokens_parameters_and_unknown_ids() {
    let app = Fanone::start(BIN).await;
    let (_, t) = app.user("ann").await;

    // no token
    assert_eq!(
        app.post_form(
            "/like/action",
            &[("video_id", "1"), ("action_type", "1")],
            None
        )
        .await
        .code(),
        10004
    );
    assert_eq!(
        app.post_form(
            "/comment/publish",
            &[("video_id", "1"), ("content", "x")],
            None
        )
        .await
        .code(),
        10004
    );
    let r = Reply::read(
        app.http
            .delete(app.at("/comment/delete"))
            .form(&[("comment_id", "1")])
            .send()
            .await,
    )
    .await;
    assert_eq!(r.code(), 10004);
    assert_eq!(app.get("/like/list", None).await.code(), 10004);

    // bad or missing parameters
    for form in [
        &[("comment_id", "1")][..],
        &[("comment_id", "1"), ("action_type", "3")],
        &[("comment_id", "1"), ("action_type", "0")],
        &[("comment_id", "1"), ("action_type", "like")],
        &[("comment_id", "1"), ("action_type", "")],
        &[("action_type", "1")],
        &[("comment_id", "abc"), ("action_type", "1")],
        &[("video_id", "-5"), ("action_type", "1")],
    ] {
        assert_eq!(like(&app, &t, form).await, 10002, "{form:?}");
    }
    for form in [
        &[("content", "x")][..],
        &[("comment_id", "1")],
        &[("comment_id", "1"), ("content", "")],
        &[("comment_id", "x1"), ("content", "hi")],
    ] {
        assert_eq!(comment(&app, &t, form).await, 10002, "{form:?}");
    }
    assert_eq!(app.get("/comment/list", None).await.code(), 10002);
    assert_eq!(
        app.get("/comment/list?video_id=1&page_num=-1", None)
            .await
            .code(),
        10002
    );
    assert_eq!(delete_comment(&app, &t, "").await, 10002);
    assert_eq!(delete_comment(&app, &t, "zz").await, 10002);

    // unknown comments
    assert_eq!(
        like(&app, &t, &[("comment_id", "12345"), ("action_type", "1")]).await,
        10007
    );
    assert_eq!(
        comment(&app, &t, &[("comment_id", "12345"), ("content", "hi")]).await,
        10007
    );
    assert_eq!(delete_comment(&app, &t, "12345").await, 10007);
    assert_eq!(
        app.get("/comment/list?comment_id=12345", None).await.code(),
        10007
    );

    // empty lists are lists
    let r = app.get("/comment/list?video_id=12345", None).await;
    assert_eq!(r.code(), 10000);
    assert_eq!(r.data(), &json!({"items": [], "total": 0}));
    let r = app.get("/like/list", Some(&t)).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert_eq!(r.data(), &json!({"items": [], "total": 0}));
}

#[tokio::test]
async fn video_likes_counts_and_like_list() {
    let app = Fanone::start(BIN).await;
    let (alice, at) = app.user("alice").await;
    let (bob, bt) = app.user("bob").await;
    let (_, ct) = app.user("carol").await;
    let v1 = app.publish_video(&alice, &at, "one").await;
    let v2 = app.publish_video(&alice, &at, "two").await;

    assert_eq!(
        like(
            &app,
            &bt,
            &[("video_id", "987654321"), ("action_type", "1")]
        )
        .await,
        10007,
        "unknown video"
    );
    assert_eq!(
        like(&app, &bt, &[("video_id", &v1), ("action_type", "1")]).await,
        10000
    );
    assert_eq!(
        like(&app, &bt, &[("video_id", &v1), ("action_type", "1")]).await,
        10009,
        "second like"
    );
    assert_eq!(
        like(&app, &bt, &[("video_id", &v2), ("action_type", "2")]).await,
        10009,
        "cancel without a like"
    );
    // JSON with a numeric action_type; multipart
    let r = Reply::read(
        with_tokens(app.http.post(app.at("/like/action")), &bt)
            .json(&json!({"video_id": v2, "action_type": 1}))
            .send()
            .await,
    )
    .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert!(r.body.get("data").is_none());
    let r = app
        .multipart(
            Method::POST,
            "/like/action",
            &[("video_id", &v1), ("action_type", "1")],
            vec![],
            Some(&ct),
        )
        .await;
    assert_eq!(r.code(), 10000);

    assert_eq!(counts(&app, &alice, &v1).await, (2, 0));
    assert_eq!(counts(&app, &alice, &v2).await, (1, 0));

    // like list: newest like first, as Video objects, with total
    let r = app.get("/like/list", Some(&bt)).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let items = r.data()["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [v2.as_str(), v1.as_str()]);
    assert_eq!(r.data()["total"], 2);
    assert_eq!(items[1]["like_count"], 2);
    assert_eq!(items[1]["user_id"], alice.as_str());
    assert!(items[0]["video_url"].is_string() && items[0]["visit_count"].is_i64());
    let r = app
        .get(
            &format!("/like/list?user_id={bob}&page_num=1&page_size=1"),
            None,
        )
        .await;
    assert_eq!(r.code(), 10000);
    assert_eq!(r.data()["items"][0]["id"], v1.as_str());
    assert_eq!(r.data()["total"], 2);
    let r = app
        .get(
            &format!("/like/list?user_id={bob}&page_num=2&page_size=1"),
            None,
        )
        .await;
    assert_eq!(r.data(), &json!({"items": [], "total": 2}));

    // cancel
    assert_eq!(
        like(&app, &bt, &[("video_id", &v1), ("action_type", "2")]).await,
        10000
    );
    assert_eq!(
        like(&app, &bt, &[("video_id", &v1), ("action_type", "2")]).await,
        10009
    );
    assert_eq!(counts(&app, &alice, &v1).await, (1, 0));
    let r = app.get("/like/list", Some(&bt)).await;
    assert_eq!(r.data()["total"], 1);
}

#[tokio::test]
async fn comments_replies_likes_and_deletion() {
    let app = Fanone::start(BIN).await;
    let (alice, at) = app.user("alice").await;
    let (bob, bt) = app.user("bob").await;
    let (_, ct) = app.user("carol").await;
    let (_, dt) = app.user("dave").await;
    let v = app.publish_video(&alice, &at, "talk").await;

    assert_eq!(
        comment(&app, &bt, &[("video_id", "987654321"), ("content", "?")]).await,
        10007,
        "unknown video"
    );
    assert_eq!(
        comment(&app, &bt, &[("video_id", &v), ("content", "  ")]).await,
        10002
    );
    let long = "x".repeat(1001);
    assert_eq!(
        comment(&app, &bt, &[("video_id", &v), ("content", &long)]).await,
        10002
    );

    assert_eq!(
        comment(&app, &bt, &[("video_id", &v), ("content", "bob says")]).await,
        10000
    );
    assert_eq!(
        comment(&app, &ct, &[("video_id", &v), ("content", "carol says")]).await,
        10000
    );
    let (top, total) = comments(&app, &format!("video_id={v}")).await;
    assert_eq!(total, 2);
    for c in &top {
        assert_comment_shape(c);
        assert_eq!(c["parent_id"], "0");
        assert_eq!(c["video_id"], v.as_str());
    }
    assert_eq!(top[0]["content"], "carol says", "newest first");
    let bobs = id_of(by_content(&top, "bob says"));
    assert_eq!(by_content(&top, "bob says")["user_id"], bob.as_str());

    // replies: to bob's comment, and a reply to that reply; comment_id wins over video_id
    assert_eq!(
        comment(
            &app,
            &at,
            &[
                ("video_id", "1"),
                ("comment_id", &bobs),
                ("content", "alice replies")
            ]
        )
        .await,
        10000
    );
    let (replies, total) = comments(&app, &format!("comment_id={bobs}")).await;
    assert_eq!(total, 1);
    assert_comment_shape(&replies[0]);
    assert_eq!(replies[0]["parent_id"], bobs.as_str());
    assert_eq!(
        replies[0]["video_id"],
        v.as_str(),
        "a reply belongs to the video"
    );
    let alices = id_of(&replies[0]);
    assert_eq!(
        comment(
            &app,
            &dt,
            &[("comment_id", &alices), ("content", "dave too")]
        )
        .await,
        10000
    );
    assert_eq!(
        comment(
            &app,
            &ct,
            &[("comment_id", &bobs), ("content", "carol too")]
        )
        .await,
        10000
    );

    // comment likes
    for t in [&at, &ct] {
        assert_eq!(
            like(&app, t, &[("comment_id", &bobs), ("action_type", "1")]).await,
            10000
        );
    }
    assert_eq!(
        like(&app, &ct, &[("comment_id", &bobs), ("action_type", "1")]).await,
        10009
    );
    assert_eq!(
        like(
            &app,
            &dt,
            &[
                ("video_id", "1"),
                ("comment_id", &alices),
                ("action_type", "1")
            ]
        )
        .await,
        10000,
        "comment_id wins over video_id"
    );

    let (top, _) = comments(&app, &format!("video_id={v}")).await;
    let b = by_content(&top, "bob says");
    assert_eq!(
        (b["like_count"].as_i64(), b["child_count"].as_i64()),
        (Some(2), Some(2))
    );
    let (replies, total) = comments(&app, &format!("comment_id={bobs}&page_size=1")).await;
    assert_eq!((replies.len(), total), (1, 2));
    assert_eq!(
        replies[0]["content"], "alice replies",
        "replies oldest first"
    );
    assert_eq!(
        (
            replies[0]["like_count"].as_i64(),
            replies[0]["child_count"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let (replies, _) = comments(&app, &format!("comment_id={bobs}&page_size=1&page_num=1")).await;
    assert_eq!(replies[0]["content"], "carol too");
    assert_eq!(counts(&app, &alice, &v).await, (0, 5));

    // only the author deletes
    assert_eq!(delete_comment(&app, &ct, &bobs).await, 10008);
    assert_eq!(delete_comment(&app, &at, &bobs).await, 10008);
    assert_eq!(counts(&app, &alice, &v).await, (0, 5));

    // deleting alice's reply takes dave's reply along
    assert_eq!(delete_comment(&app, &at, &alices).await, 10000);
    assert_eq!(delete_comment(&app, &at, &alices).await, 10007);
    assert_eq!(counts(&app, &alice, &v).await, (0, 3));
    let (top, _) = comments(&app, &format!("video_id={v}")).await;
    assert_eq!(by_content(&top, "bob says")["child_count"], 1);
    assert_eq!(
        app.get(&format!("/comment/list?comment_id={alices}"), None)
            .await
            .code(),
        10007
    );

    // deleting bob's comment takes the whole thread; POST with the id in the query works too
    let r = Reply::read(
        with_tokens(
            app.http
                .post(app.at(&format!("/comment/delete?comment_id={bobs}"))),
            &bt,
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert!(r.body.get("data").is_none());
    assert_eq!(counts(&app, &alice, &v).await, (0, 1));
    let (top, total) = comments(&app, &format!("video_id={v}")).await;
    assert_eq!(total, 1);
    assert_eq!(top[0]["content"], "carol says");
    assert_eq!(
        like(&app, &dt, &[("comment_id", &bobs), ("action_type", "1")]).await,
        10007,
        "a deleted comment takes no likes"
    );
    assert_eq!(
        comment(&app, &dt, &[("comment_id", &bobs), ("content", "late")]).await,
        10007,
        "nor replies"
    );
}

#[tokio::test]
async fn counts_survive_a_restart() {
    // settle rarely, so increments are still pending when the system is killed
    let slow = [("FANONE__TUNING__SETTLE_INTERVAL_MS", "3600000")];
    let app = Fanone::start_with(BIN, &slow).await;
    let (alice, at) = app.user("alice").await;
    let (bob, bt) = app.user("bob").await;
    let v = app.publish_video(&alice, &at, "lasting").await;
    for t in [&at, &bt] {
        assert_eq!(
            like(&app, t, &[("video_id", &v), ("action_type", "1")]).await,
            10000
        );
        assert_eq!(
            comment(&app, t, &[("video_id", &v), ("content", "hi")]).await,
            10000
        );
    }
    let (top, _) = comments(&app, &format!("video_id={v}")).await;
    let first = id_of(&top[0]);
    assert_eq!(
        comment(&app, &bt, &[("comment_id", &first), ("content", "re")]).await,
        10000
    );
    assert_eq!(
        like(&app, &at, &[("comment_id", &first), ("action_type", "1")]).await,
        10000
    );
    assert_eq!(counts(&app, &alice, &v).await, (2, 3));

    let data = app.stop().await;
    let app = Fanone::start_in(BIN, data, &[]).await;
    assert_eq!(counts(&app, &alice, &v).await, (2, 3));
    let (top, total) = comments(&app, &format!("video_id={v}")).await;
    assert_eq!(total, 2);
    let c = top.iter().find(|c| c["id"] == first.as_str()).unwrap();
    assert_eq!(
        (c["like_count"].as_i64(), c["child_count"].as_i64()),
        (Some(1), Some(1))
    );
    let r = app.get(&format!("/like/list?user_id={bob}"), None).await;
    assert_eq!(r.data()["total"], 1);
    assert_eq!(r.data()["items"][0]["id"], v.as_str());
    // the state is live, not just readable: a repeated like is still refused
    let (_, bt) = app.login("bob", "secret12").await;
    assert_eq!(
        like(&app, &bt, &[("video_id", &v), ("action_type", "1")]).await,
        10009
    );
    // the default settler folds them after the restart; values stay the same
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(counts(&app, &alice, &v).await, (2, 3));
}

#[tokio::test]
async fn interaction_service_on_mariadb_in_its_own_process() {
    let Some(db) = fanone_testkit::mysql_database("fanone_ia_cluster").await else {
        return;
    };
    let app = Fanone::start_cluster(BIN, &[("interaction", db)], &[]).await;
    let (alice, at) = app.user("alice").await;
    let (_, bt) = app.user("bob").await;
    let v = app.publish_video(&alice, &at, "remote").await;
    assert_eq!(
        like(&app, &bt, &[("video_id", &v), ("action_type", "1")]).await,
        10000
    );
    assert_eq!(
        like(&app, &bt, &[("video_id", &v), ("action_type", "1")]).await,
        10009
    );
    assert_eq!(
        comment(&app, &bt, &[("video_id", &v), ("content", "top")]).await,
        10000
    );
    let (top, _) = comments(&app, &format!("video_id={v}")).await;
    let c = id_of(&top[0]);
    assert_eq!(
        comment(&app, &at, &[("comment_id", &c), ("content", "re")]).await,
        10000
    );
    assert_eq!(counts(&app, &alice, &v).await, (1, 2));
    assert_eq!(delete_comment(&app, &at, &c).await, 10008);
    assert_eq!(delete_comment(&app, &bt, &c).await, 10000);
    assert_eq!(counts(&app, &alice, &v).await, (1, 0));
}

/// Likes from many users at once, on real and unknown videos and comments: the gateway
/// sends them in shared batches (`compose::like`: one `MGetVideos` and one
/// `LikeActions` per batch), and each request still gets its own answer — 10000 for
/// a real target, 10007 for an unknown one — and the counts are exact.
#[tokio::test]
async fn concurrent_likes_each_get_their_own_answer() {
    let app = Fanone::start(BIN).await;
    let (alice, at) = app.user("alice").await;
    let videos = [
        app.publish_video(&alice, &at, "one").await,
        app.publish_video(&alice, &at, "two").await,
    ];
    assert_eq!(
        comment(
            &app,
            &at,
            &[("video_id", &videos[0]), ("content", "like me")]
        )
        .await,
        10000
    );
    let (listed, _) = comments(&app, &format!("video_id={}", videos[0])).await;
    let liked_comment = listed[0]["id"].as_str().unwrap().to_owned();
    let mut fans = Vec::new();
    for i in 0..24 {
        fans.push(app.user(&format!("fan{i}")).await.1);
    }
    let unknown = ["987654321", "987654322"];
    // (expected code, target, id) per request: each fan likes a real and an unknown
    // video, the real comment or an unknown one, all at once (batches mix them)
    let asks: Vec<(i64, &str, &str, &Tokens)> = fans
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            let on_comment = if i % 2 == 0 {
                (10000, "comment_id", liked_comment.as_str(), t)
            } else {
                (10007, "comment_id", unknown[0], t)
            };
            [
                (10000, "video_id", videos[i % 2].as_str(), t),
                (10007, "video_id", unknown[i % 2], t),
                on_comment,
            ]
        })
        .collect();
    let app = &app;
    let likes = asks.iter().map(|&(want, key, id, t)| async move {
        (want, like(app, t, &[(key, id), ("action_type", "1")]).await)
    });
    let answers = futures::future::join_all(likes).await;
    assert_eq!(answers.len(), 72);
    for (want, got) in answers {
        assert_eq!(got, want, "a like got another request's answer");
    }
    for v in &videos {
        let (liked, _) = counts(app, &alice, v).await;
        assert_eq!(liked, 12, "likes of {v}");
    }
    let (listed, _) = comments(app, &format!("video_id={}", videos[0])).await;
    assert_eq!(listed[0]["like_count"], 12, "likes of the comment");
}
