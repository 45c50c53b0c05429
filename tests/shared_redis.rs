//! Cluster mode with Redis (docs/data.md, docs/chat.md): two gateways, two replicas of
//! the user service, one real Redis server. A write through one gateway is seen on
//! the next read through the other (the profile cache lives in Redis, invalidated by
//! the replica that wrote); a chat message sent on one gateway is pushed live to the
//! receiver connected to the other; attempt limits (visits, login back-off) are
//! shared; with Redis killed, every request still answers (from the databases) and
//! nothing is lost; after Redis restarts both work again.

use std::time::{Duration, Instant};

use fanone_config::RedisConfig;
use fanone_redis::{
    Redis,
    fred::interfaces::{KeysInterface, SortedSetsInterface},
};
use fanone_testkit::{Fanone, Tokens, mysql_database, servers::RedisServer};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(app: &Fanone, t: &Tokens) -> Ws {
    let url = format!("{}/ws", app.url.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Access-Token", t.access.parse().unwrap());
    req.headers_mut()
        .insert("Refresh-Token", t.refresh.parse().unwrap());
    connect_async(req).await.expect("ws upgrade").0
}

/// The next JSON text frame within `within` (pings skipped), or `None`.
async fn next_frame(ws: &mut Ws, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).ok();
        }
    }
}

async fn send(ws: &mut Ws, to: &str, content: &str) -> Value {
    let frame = json!({"type": 1, "data": {"to_user_id": to, "content": content}});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next_frame(ws, Duration::from_secs(10))
        .await
        .expect("the sender's ack")
}

async fn avatar(app: &Fanone, t: &Tokens, file: &str) -> String {
    let path = format!("{}/pkg/embed/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let r = app
        .multipart(
            Method::PUT,
            "/user/avatar/upload",
            &[],
            vec![("data", file, bytes)],
            Some(t),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    r.data()["avatar_url"].as_str().unwrap().to_owned()
}

async fn info_avatar(app: &Fanone, id: &str) -> String {
    let r = app.get(&format!("/user/info?user_id={id}"), None).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    r.data()["avatar_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn two_gateways_share_the_cache_and_the_chat_and_survive_redis_restarts() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    // both user replicas on one database: MariaDB when the test server is there,
    // else the SQLite file they share in the data directory
    let databases: Vec<(&str, String)> = mysql_database("redis_cluster_user")
        .await
        .map(|url| vec![("user", url)])
        .unwrap_or_default();
    let extra = [
        ("FANONE__REDIS__URL", redis.url()),
        ("FANONE__CACHE__HOLD_MS", "500".to_owned()),
        // a blocked login stays blocked for the rest of the test
        ("FANONE__LIMITS__LOGIN_BACKOFF_BASE_MS", "60000".to_owned()),
    ];
    let mut app = Fanone::start_topology(BIN, &databases, &extra, &[("user", 2)], 2).await;
    let probe = Redis::connect(&RedisConfig {
        url: redis.url(),
        ..RedisConfig::default()
    })
    .await
    .unwrap();

    // ---- the cache: gateway 1 (user replica 1) reads, gateway 0 (replica 0) writes
    app.use_gateway(0);
    let (a, ta) = app.user("rc_alice").await;
    let (b, tb) = app.user("rc_bob").await;
    app.use_gateway(1);
    let before = info_avatar(&app, &a).await;
    let cached: Option<Vec<u8>> = probe.pool().get(format!("user:profile:{a}")).await.unwrap();
    let cached = cached.expect("the read filled the user service's cache in Redis");
    assert_eq!(cached.first(), Some(&b'V'), "a cached value");
    assert!(
        String::from_utf8_lossy(&cached).contains("rc_alice"),
        "it is alice's profile"
    );
    assert_eq!(info_avatar(&app, &a).await, before);

    app.use_gateway(0);
    let new = avatar(&app, &ta, "chelsea.jpg").await;
    assert_ne!(new, before);
    app.use_gateway(1);
    assert_eq!(
        info_avatar(&app, &a).await,
        new,
        "the write through gateway 0 is seen on the next read through gateway 1"
    );

    // ---- attempt limits live in Redis: shared by both gateways and both user replicas
    app.use_gateway(0);
    let vid = app.publish_video(&b, &tb, "shared limits").await;
    for g in [0, 1, 0, 1] {
        app.use_gateway(g);
        let r = app
            .get(&format!("/video/visit?video_id={vid}"), Some(&ta))
            .await;
        assert_eq!(r.code(), 10000, "{}", r.body);
    }
    app.use_gateway(1);
    let list = app.get(&format!("/video/list?user_id={b}"), None).await;
    assert_eq!(
        list.data()["items"][0]["visit_count"],
        1,
        "one viewer counted once, whichever gateway it came through: {}",
        list.body
    );
    // the popular ranking is one sorted set in Redis, served the same by every gateway
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ranked: Vec<String> = probe
            .pool()
            .zrange("video:popular", 0, -1, None, false, None, false)
            .await
            .unwrap_or_default();
        if ranked.contains(&vid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ranking reached redis: {ranked:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for g in [0, 1] {
        app.use_gateway(g);
        let r = app.get("/video/popular", None).await;
        assert_eq!(r.code(), 10000, "{}", r.body);
        assert_eq!(r.data()["items"][0]["id"], vid.as_str(), "{}", r.body);
        assert_eq!(r.data()["total"], 1, "{}", r.body);
    }
    // wrong passwords alternate between the two user replicas: the back-off still
    // starts after the 5 free failures of the account
    let mut codes = Vec::new();
    for i in 0..7 {
        app.use_gateway(i % 2);
        let r = app
            .post_form(
                "/user/login",
                &[("username", "rc_bob"), ("password", "wrong-password")],
                None,
            )
            .await;
        codes.push(r.code());
    }
    assert_eq!(
        codes,
        [10005, 10005, 10005, 10005, 10005, 10011, 10011],
        "failures counted across replicas"
    );

    // ---- chat: alice on gateway 0, bob on gateway 1
    app.use_gateway(0);
    app.follow(&ta, &b).await;
    app.follow(&tb, &a).await;
    let mut wa = ws(&app, &ta).await;
    app.use_gateway(1);
    let mut wb = ws(&app, &tb).await;
    let ack = send(&mut wb, &a, "hello across gateways").await;
    assert_eq!(ack["type"], 1, "{ack}");
    let pushed = next_frame(&mut wa, Duration::from_secs(5))
        .await
        .expect("alice got bob's message live on the other gateway");
    assert_eq!(pushed["type"], 1, "{pushed}");
    assert_eq!(pushed["data"]["content"], "hello across gateways");
    assert_eq!(pushed["data"]["from_user_id"], b);

    // ---- Redis killed: everything still answers, from the databases
    redis.kill().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for g in [0, 1] {
        app.use_gateway(g);
        assert_eq!(info_avatar(&app, &a).await, new);
        let r = app.get("/video/feed", None).await;
        assert_eq!(r.code(), 10000, "{}", r.body);
        // the replica's own copy of the ranking answers
        let r = app.get("/video/popular", None).await;
        assert_eq!(r.code(), 10000, "{}", r.body);
        assert_eq!(r.data()["items"][0]["id"], vid.as_str(), "{}", r.body);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reads with Redis down must not wait on it ({:?})",
        started.elapsed()
    );
    // a write while Redis is down: its invalidation is applied once Redis is back
    app.use_gateway(0);
    let newer = avatar(&app, &ta, "china.jpg").await;
    app.use_gateway(1);
    assert_eq!(info_avatar(&app, &a).await, newer);
    // a message while Redis is down is stored: not pushed across, but never lost
    let ack = send(&mut wb, &a, "sent while redis was down").await;
    assert_eq!(ack["type"], 1, "{ack}");
    if let Some(f) = next_frame(&mut wa, Duration::from_millis(500)).await {
        panic!("nothing can cross gateways without Redis, got {f}");
    }
    app.use_gateway(0);
    let mut wa2 = ws(&app, &ta).await;
    wa2.send(Message::text(
        json!({"type": 3, "data": {"to_user_id": b}}).to_string(),
    ))
    .await
    .unwrap();
    let unread = next_frame(&mut wa2, Duration::from_secs(10)).await.unwrap();
    let items = unread["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        items
            .iter()
            .any(|m| m["content"] == "sent while redis was down"),
        "the message waits in alice's unread inbox: {unread}"
    );

    // ---- Redis back (empty): the cache and the relay recover on their own
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut relayed = false;
    let mut n = 0;
    while !relayed && Instant::now() < deadline {
        n += 1;
        let text = format!("after the restart #{n}");
        send(&mut wb, &a, &text).await;
        while let Some(f) = next_frame(&mut wa, Duration::from_millis(500)).await {
            if f["data"]["content"] == text.as_str() {
                relayed = true;
            }
        }
    }
    assert!(
        relayed,
        "live pushes cross gateways again after Redis restarted"
    );
    app.use_gateway(1);
    assert_eq!(info_avatar(&app, &a).await, newer);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hit: Option<Vec<u8>> = probe
            .pool()
            .get(format!("user:profile:{a}"))
            .await
            .unwrap_or(None);
        if hit.as_deref().is_some_and(|v| v.first() == Some(&b'V')) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache fills Redis again after its restart"
        );
        info_avatar(&app, &a).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
