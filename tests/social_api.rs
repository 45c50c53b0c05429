//! Black-box tests of the relation routes (CONTRACT.md §4.4), against the real
//! `fanone standalone` binary on ephemeral ports.

use fanone_testkit::{Fanone, Reply, Tokens};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

async fn act(app: &Fanone, tokens: &Tokens, to: &str, action: &str) -> Reply {
    app.post_form(
        "/relation/action",
        &[("to_user_id", to), ("action_type", action)],
        Some(tokens),
    )
    .await
}

async fn follow(app: &Fanone, tokens: &Tokens, to: &str) {
    let r = act(app, tokens, to, "1").await;
    assert_eq!(r.code(), 10000, "follow {to}: {}", r.body);
}

/// The ids of a list answer, after checking its shape.
fn ids(r: &Reply) -> Vec<String> {
    assert_eq!(r.code(), 10000, "{}", r.body);
    let data = r.data();
    assert!(
        data["total"].as_i64().is_some_and(|t| t >= 0),
        "total: {data}"
    );
    data["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items is an array: {data}"))
        .iter()
        .map(|u| {
            let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys.len(),
                3,
                "social user has id, username, avatar_url: {u}"
            );
            assert!(
                u["username"].is_string() && u["avatar_url"].is_string(),
                "{u}"
            );
            u["id"].as_str().expect("id is a string").to_owned()
        })
        .collect()
}

async fn friends(app: &Fanone, tokens: &Tokens) -> Reply {
    app.get("/friends/list", Some(tokens)).await
}

fn total(r: &Reply) -> i64 {
    r.data()["total"].as_i64().expect("total")
}

#[tokio::test]
async fn relation_action_codes() {
    let app = Fanone::start(BIN).await;
    let (a, ta) = app.user("rel_a").await;
    let (b, tb) = app.user("rel_b").await;
    let (c, _) = app.user("rel_c").await;

    // follow (form), base only
    let r = act(&app, &ta, &b, "1").await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert!(r.body.get("data").is_none(), "base only: {}", r.body);
    // twice → 10009
    assert_eq!(act(&app, &ta, &b, "1").await.code(), 10009);
    assert_eq!(act(&app, &ta, &b, "0").await.code(), 10009);
    // self → 10009
    assert_eq!(act(&app, &ta, &a, "1").await.code(), 10009);
    assert_eq!(act(&app, &ta, &a, "2").await.code(), 10009);
    // unknown target → 10007, for follow and unfollow
    assert_eq!(act(&app, &ta, "999999999999", "1").await.code(), 10007);
    assert_eq!(act(&app, &ta, "999999999999", "2").await.code(), 10007);

    // JSON with a numeric action_type 0 = follow (with a trailing slash)
    let r = Reply::read(
        app.http
            .post(app.at("/relation/action/"))
            .header("Access-Token", &tb.access)
            .header("Refresh-Token", &tb.refresh)
            .json(&json!({"to_user_id": a, "action_type": 0}))
            .send()
            .await,
    )
    .await;
    assert_eq!(r.code(), 10000, "{}", r.body);

    // parameter errors
    for (to, action) in [
        (b.as_str(), "3"),
        (b.as_str(), "-1"),
        (b.as_str(), "follow"),
        (b.as_str(), ""),
        ("", "1"),
        ("abc", "1"),
        ("-5", "1"),
    ] {
        let r = act(&app, &ta, to, action).await;
        assert_eq!(r.code(), 10002, "to={to:?} action={action:?}: {}", r.body);
    }
    let r = app
        .post_form("/relation/action", &[("to_user_id", &b)], Some(&ta))
        .await;
    assert_eq!(r.code(), 10002, "missing action_type");
    let r = app
        .post_form("/relation/action", &[("action_type", "1")], Some(&ta))
        .await;
    assert_eq!(r.code(), 10002, "missing to_user_id");

    // no token → 10004, and nothing happened
    let r = app
        .post_form(
            "/relation/action",
            &[("to_user_id", &c), ("action_type", "1")],
            None,
        )
        .await;
    assert_eq!(r.code(), 10004);
    let r = app.get(&format!("/follower/list?user_id={c}"), None).await;
    assert_eq!((ids(&r), total(&r)), (vec![], 0));

    // unfollow, then again → 10009; never followed → 10009
    assert_eq!(act(&app, &ta, &b, "2").await.code(), 10000);
    assert_eq!(act(&app, &ta, &b, "2").await.code(), 10009);
    assert_eq!(act(&app, &ta, &c, "2").await.code(), 10009);
    // and follow again works
    assert_eq!(act(&app, &ta, &b, "1").await.code(), 10000);
}

#[tokio::test]
async fn lists_with_totals_and_paging() {
    let app = Fanone::start(BIN).await;
    let (a, ta) = app.user("list_a").await;
    let (b, tb) = app.user("list_b").await;
    let (c, _) = app.user("list_c").await;
    let (d, td) = app.user("list_d").await;
    let (e, _) = app.user("list_e").await;
    for to in [&b, &c, &d] {
        follow(&app, &ta, to).await;
    }
    follow(&app, &tb, &d).await;

    // following of a: newest first, no token needed
    let r = app.get(&format!("/following/list?user_id={a}"), None).await;
    assert_eq!(ids(&r), vec![d.clone(), c.clone(), b.clone()]);
    assert_eq!(total(&r), 3);
    let first = &r.data()["items"][0];
    assert_eq!(first["username"], "list_d");
    assert_eq!(first["avatar_url"], "");

    // paging edges: 0-based, total always of everything
    let page = |n: i64, s: i64| format!("/following/list/?user_id={a}&page_num={n}&page_size={s}");
    let r = app.get(&page(0, 2), None).await;
    assert_eq!((ids(&r), total(&r)), (vec![d.clone(), c.clone()], 3));
    let r = app.get(&page(1, 2), None).await;
    assert_eq!((ids(&r), total(&r)), (vec![b.clone()], 3));
    let r = app.get(&page(2, 2), None).await;
    assert_eq!((ids(&r), total(&r)), (vec![], 3));
    let r = app.get(&page(0, 0), None).await;
    assert_eq!(ids(&r).len(), 3, "page_size 0 = default");
    let r = app.get(&page(0, 1000), None).await;
    assert_eq!(ids(&r).len(), 3, "page_size is capped, not refused");
    for bad in [
        format!("/following/list?user_id={a}&page_num=-1"),
        format!("/following/list?user_id={a}&page_size=x"),
        "/following/list".to_owned(),
        "/following/list?user_id=".to_owned(),
        "/following/list?user_id=abc".to_owned(),
        "/follower/list".to_owned(),
        "/follower/list?user_id=1.5".to_owned(),
    ] {
        let r = app.get(&bad, None).await;
        assert_eq!(r.code(), 10002, "{bad}: {}", r.body);
        assert!(r.data().is_null(), "error without data");
    }

    // followers: newest first
    let r = app
        .get(&format!("/follower/list?user_id={d}"), Some(&td))
        .await;
    assert_eq!((ids(&r), total(&r)), (vec![b.clone(), a.clone()], 2));
    let r = app
        .get(
            &format!("/follower/list?user_id={d}&page_num=1&page_size=1"),
            None,
        )
        .await;
    assert_eq!((ids(&r), total(&r)), (vec![a.clone()], 2));

    // nobody: empty items (never null), total 0; unknown users too
    for path in [
        format!("/following/list?user_id={e}"),
        format!("/follower/list?user_id={e}"),
        "/follower/list?user_id=999999999999".to_owned(),
    ] {
        let r = app.get(&path, None).await;
        assert_eq!(r.data()["items"], Value::Array(vec![]), "{path}");
        assert_eq!(total(&r), 0);
    }

    // totals follow unfollows
    assert_eq!(act(&app, &ta, &c, "2").await.code(), 10000);
    let r = app.get(&format!("/following/list?user_id={a}"), None).await;
    assert_eq!((ids(&r), total(&r)), (vec![d.clone(), b.clone()], 2));
    let r = app.get(&format!("/follower/list?user_id={c}"), None).await;
    assert_eq!((ids(&r), total(&r)), (vec![], 0));
}

#[tokio::test]
async fn friends_are_mutual_follows_only() {
    let app = Fanone::start(BIN).await;
    let (a, ta) = app.user("fr_a").await;
    let (b, tb) = app.user("fr_b").await;
    let (c, tc) = app.user("fr_c").await;
    let (_d, td) = app.user("fr_d").await;
    follow(&app, &ta, &b).await;
    follow(&app, &tb, &a).await;
    follow(&app, &ta, &c).await; // one way
    follow(&app, &td, &a).await; // one way

    let r = friends(&app, &ta).await;
    assert_eq!((ids(&r), total(&r)), (vec![b.clone()], 1));
    let r = friends(&app, &tb).await;
    assert_eq!((ids(&r), total(&r)), (vec![a.clone()], 1));
    let r = friends(&app, &tc).await;
    assert_eq!((ids(&r), total(&r)), (vec![], 0));
    assert_eq!(r.data()["items"], Value::Array(vec![]));
    let r = friends(&app, &td).await;
    assert_eq!((ids(&r), total(&r)), (vec![], 0));

    // c follows back: newest friendship first, paged
    follow(&app, &tc, &a).await;
    let r = friends(&app, &ta).await;
    assert_eq!((ids(&r), total(&r)), (vec![c.clone(), b.clone()], 2));
    let r = app
        .get("/friends/list/?page_num=1&page_size=1", Some(&ta))
        .await;
    assert_eq!((ids(&r), total(&r)), (vec![b.clone()], 2));
    let r = app.get("/friends/list?page_num=-1", Some(&ta)).await;
    assert_eq!(r.code(), 10002);

    // unfollowing ends a friendship, whichever side does it
    assert_eq!(act(&app, &tb, &a, "2").await.code(), 10000);
    let r = friends(&app, &ta).await;
    assert_eq!((ids(&r), total(&r)), (vec![c.clone()], 1));
    let r = friends(&app, &tb).await;
    assert_eq!((ids(&r), total(&r)), (vec![], 0));

    // the current user's list: a token is required
    let r = app.get("/friends/list", None).await;
    assert_eq!(r.code(), 10004);
    assert!(r.data().is_null());
    let r = app.get(&format!("/friends/list?user_id={b}"), None).await;
    assert_eq!(r.code(), 10004, "user_id does not replace the token");
}
