//! Black-box tests of the WebSocket chat (CONTRACT.md §5, docs/chat.md), against the
//! real `fanone standalone` binary on ephemeral ports.

use std::time::Duration;

use fanone_testkit::{Fanone, Reply, Tokens};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message, client::IntoClientRequest},
};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");
const WAIT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn ws_url(app: &Fanone) -> String {
    format!("{}/ws", app.url.replacen("http://", "ws://", 1))
}

async fn connect_with_headers(app: &Fanone, t: &Tokens) -> Ws {
    let mut req = ws_url(app).into_client_request().unwrap();
    let h = req.headers_mut();
    h.insert("Access-Token", t.access.parse().unwrap());
    h.insert("Refresh-Token", t.refresh.parse().unwrap());
    connect_async(req).await.expect("upgrade with headers").0
}

async fn connect_with_query(app: &Fanone, query: &str) -> Ws {
    let url = format!("{}?{query}", ws_url(app));
    connect_async(url).await.expect("upgrade with ?token=").0
}

async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next JSON text frame (pings and pongs skipped).
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Send `{type, data}` and return the reply frame.
async fn ask(ws: &mut Ws, kind: i64, data: Value) -> Value {
    send_json(ws, json!({"type": kind, "data": data})).await;
    recv(ws).await
}

/// Asserts a type 0 error frame with `code`; returns its message.
fn error_code(frame: &Value, code: i64) -> String {
    assert_eq!(frame["type"], 0, "error frame expected: {frame}");
    assert_eq!(frame["data"]["code"], code, "{frame}");
    frame["data"]["msg"]
        .as_str()
        .expect("msg is a string")
        .to_owned()
}

/// Asserts no text frame arrives for a while.
async fn silent(ws: &mut Ws) {
    if let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(300), ws.next()).await
    {
        panic!("unexpected frame {t}");
    }
}

async fn close(mut ws: Ws) {
    ws.close(None).await.unwrap();
    // wait for the server's close reply, then give it a moment to leave the hub
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn assert_message(m: &Value, from: &str, to: &str, content: &str) {
    assert!(
        m["id"].as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
        "id is a numeric string: {m}"
    );
    assert_eq!(m["from_user_id"], from, "{m}");
    assert_eq!(m["to_user_id"], to, "{m}");
    assert_eq!(m["content"], content, "{m}");
    let secs = m["created_at"].as_i64().expect("created_at is an integer");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((secs - now).abs() < 600, "created_at is Unix seconds: {m}");
}

/// Users a, b, c: a and b are friends; a follows c one way.
async fn three_users(app: &Fanone) -> [(String, Tokens); 3] {
    let a = app.user("ws_a").await;
    let b = app.user("ws_b").await;
    let c = app.user("ws_c").await;
    app.follow(&a.1, &b.0).await;
    app.follow(&b.1, &a.0).await;
    app.follow(&a.1, &c.0).await;
    [a, b, c]
}

#[tokio::test]
async fn handshake_needs_a_valid_identity() {
    let app = Fanone::start(BIN).await;
    let (a, ta) = app.user("hs_a").await;

    // a WebSocket client without a (valid) token is not upgraded: HTTP 200 + 10004
    for query in ["", "?token=not.a.jwt", "?access_token=x&refresh_token=y"] {
        let url = format!("{}{query}", ws_url(&app));
        match connect_async(url).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 200, "{query}");
                if let Some(body) = resp.body().as_deref().filter(|b| !b.is_empty()) {
                    let v: Value = serde_json::from_slice(body).expect("envelope");
                    assert_eq!(v["base"]["code"], 10004, "{query}");
                }
            }
            other => panic!("{query}: expected a refused handshake, got {other:?}"),
        }
    }
    let mut req = ws_url(&app).into_client_request().unwrap();
    req.headers_mut()
        .insert("Access-Token", "not.a.jwt".parse().unwrap());
    assert!(matches!(
        connect_async(req).await,
        Err(tungstenite::Error::Http(r)) if r.status() == 200
    ));

    // the refusal is the contract's envelope (read with a plain HTTP client)
    let upgrade_headers = |req: reqwest::RequestBuilder| {
        req.header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    };
    for path in ["/ws", "/ws?token=not.a.jwt"] {
        let r = Reply::read(upgrade_headers(app.http.get(app.at(path))).send().await).await;
        assert_eq!(r.code(), 10004, "{path}: {}", r.body);
        assert!(r.data().is_null());
    }
    // a token on any other route's query string is not an identity
    let r = app
        .get(&format!("/friends/list?token={}", ta.access), None)
        .await;
    assert_eq!(r.code(), 10004);
    // valid identity but no upgrade request → parameter error
    let r = app.get("/ws", Some(&ta)).await;
    assert_eq!(r.code(), 10002);

    // accepted: headers, ?token=, ?access_token=, ?refresh_token= alone
    let mut ws = connect_with_headers(&app, &ta).await;
    let me = ask(&mut ws, 3, json!({})).await;
    assert_eq!(me, json!({"type": 3, "data": {"items": []}}));
    close(ws).await;
    for query in [
        format!("token={}", ta.access),
        format!("access_token={}", ta.access),
        format!("refresh_token={}", ta.refresh),
    ] {
        let mut ws = connect_with_query(&app, &query).await;
        let r = ask(&mut ws, 2, json!({"to_user_id": a})).await;
        assert_eq!(r["type"], 2, "{query}: {r}");
        assert_eq!(r["data"]["total"], 0);
        close(ws).await;
    }
}

#[tokio::test]
async fn live_push_ack_and_friends_only() {
    let app = Fanone::start(BIN).await;
    let [(a, ta), (b, tb), (c, tc)] = three_users(&app).await;
    let mut wa = connect_with_headers(&app, &ta).await;
    let mut wb = connect_with_query(&app, &format!("token={}", tb.access)).await;

    // a → b: pushed to b, echoed to a, same message
    let ack = ask(
        &mut wa,
        1,
        json!({"to_user_id": b, "content": "  hello b  "}),
    )
    .await;
    assert_eq!(ack["type"], 1, "{ack}");
    assert_message(&ack["data"], &a, &b, "hello b");
    let push = recv(&mut wb).await;
    assert_eq!(push, ack, "push and ack carry the same frame");
    // delivered live: nothing waits in b's unread inbox
    let u = ask(&mut wb, 3, json!({"to_user_id": a})).await;
    assert_eq!(u, json!({"type": 3, "data": {"items": []}}));

    // b → a with a numeric id
    let b_num: i64 = b.parse().unwrap();
    let a_num: i64 = a.parse().unwrap();
    let ack = ask(&mut wb, 1, json!({"to_user_id": a_num, "content": "hi a"})).await;
    assert_message(&ack["data"], &b, &a, "hi a");
    let push = recv(&mut wa).await;
    assert_eq!(push["data"]["id"], ack["data"]["id"]);
    assert_eq!(push["data"]["from_user_id"], b_num.to_string());

    // several connections of one user all get the push
    let mut wb2 = connect_with_headers(&app, &tb).await;
    let ack = ask(&mut wa, 1, json!({"to_user_id": b, "content": "both tabs"})).await;
    assert_eq!(recv(&mut wb).await, ack);
    assert_eq!(recv(&mut wb2).await, ack);
    close(wb2).await;

    // not friends: a follows c but c does not follow a; strangers; oneself
    let r = ask(&mut wa, 1, json!({"to_user_id": c, "content": "hey"})).await;
    error_code(&r, 10010);
    let mut wc = connect_with_headers(&app, &tc).await;
    let r = ask(&mut wc, 1, json!({"to_user_id": a, "content": "hey"})).await;
    error_code(&r, 10010);
    silent(&mut wa).await;
    let r = ask(&mut wa, 1, json!({"to_user_id": a, "content": "me"})).await;
    error_code(&r, 10010);
    let r = ask(
        &mut wa,
        1,
        json!({"to_user_id": "999999999999", "content": "ghost"}),
    )
    .await;
    error_code(&r, 10010);

    // bad content between friends
    let r = ask(&mut wa, 1, json!({"to_user_id": b, "content": "   "})).await;
    error_code(&r, 10010);
    let r = ask(
        &mut wa,
        1,
        json!({"to_user_id": b, "content": "x".repeat(2001)}),
    )
    .await;
    error_code(&r, 10010);
    let long = "字".repeat(2000);
    let r = ask(&mut wa, 1, json!({"to_user_id": b, "content": long})).await;
    assert_eq!(r["type"], 1, "2000 characters are fine");
    assert_eq!(recv(&mut wb).await["data"]["content"], long);
    silent(&mut wb).await;

    // friendship ends → chat ends
    let r = app
        .post_form(
            "/relation/action",
            &[("to_user_id", &a), ("action_type", "2")],
            Some(&tb),
        )
        .await;
    assert_eq!(r.code(), 10000);
    let r = ask(
        &mut wa,
        1,
        json!({"to_user_id": b, "content": "still there?"}),
    )
    .await;
    error_code(&r, 10010);
    silent(&mut wb).await;
}

#[tokio::test]
async fn offline_messages_wait_for_an_unread_query() {
    let app = Fanone::start(BIN).await;
    let [(a, ta), (b, tb), (c, tc)] = three_users(&app).await;
    app.follow(&tc, &b).await;
    app.follow(&tb, &c).await;
    let mut wa = connect_with_headers(&app, &ta).await;
    let wb = connect_with_headers(&app, &tb).await;
    close(wb).await;

    // b is offline: a and c write to b; the senders still get their acks
    let mut sent = Vec::new();
    for text in ["one", "two"] {
        let ack = ask(&mut wa, 1, json!({"to_user_id": b, "content": text})).await;
        assert_message(&ack["data"], &a, &b, text);
        sent.push(ack["data"].clone());
    }
    let mut wc = connect_with_headers(&app, &tc).await;
    let from_c = ask(&mut wc, 1, json!({"to_user_id": b, "content": "from c"})).await;

    // b comes back: nothing is pushed on reconnect; type 3 fetches, oldest first
    let mut wb = connect_with_headers(&app, &tb).await;
    silent(&mut wb).await;
    let u = ask(&mut wb, 3, json!({"to_user_id": a})).await;
    assert_eq!(u["type"], 3, "{u}");
    assert_eq!(u["data"]["items"], Value::Array(sent.clone()));
    assert!(u["data"].get("total").is_none(), "type 3 has no total");
    // fetched once: the query marked them read
    let u = ask(&mut wb, 3, json!({"to_user_id": a})).await;
    assert_eq!(u["data"]["items"], json!([]));
    // without to_user_id: everyone's, here only c's
    let u = ask(&mut wb, 3, json!({})).await;
    assert_eq!(u["data"]["items"], json!([from_c["data"]]));
    let u = ask(&mut wb, 3, Value::Null).await;
    assert_eq!(u["data"]["items"], json!([]));

    // everything stays in the history
    let h = ask(
        &mut wb,
        2,
        json!({"to_user_id": a, "page_num": 0, "page_size": 10}),
    )
    .await;
    assert_eq!(h["data"]["total"], 2);
    assert_eq!(h["data"]["items"][0], sent[1], "newest first");
}

#[tokio::test]
async fn history_is_paged_newest_first() {
    let app = Fanone::start(BIN).await;
    let [(a, ta), (b, tb), (c, _)] = three_users(&app).await;
    let mut wa = connect_with_headers(&app, &ta).await;
    let mut wb = connect_with_headers(&app, &tb).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (ws, to) = if i % 2 == 0 {
            (&mut wa, &b)
        } else {
            (&mut wb, &a)
        };
        let ack = ask(ws, 1, json!({"to_user_id": to, "content": format!("m{i}")})).await;
        ids.push(ack["data"]["id"].as_str().unwrap().to_owned());
        let other = if i % 2 == 0 { &mut wb } else { &mut wa };
        recv(other).await;
    }
    ids.reverse(); // newest first

    let page = |v: &Value| -> Vec<String> {
        v["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let h = ask(
        &mut wa,
        2,
        json!({"to_user_id": b, "page_num": 0, "page_size": 2}),
    )
    .await;
    assert_eq!(h["type"], 2);
    assert_eq!(
        (page(&h), h["data"]["total"].as_i64()),
        (ids[0..2].to_vec(), Some(5))
    );
    assert_message(&h["data"]["items"][0], &a, &b, "m4");
    assert_message(&h["data"]["items"][1], &b, &a, "m3");
    // numbers as strings, the other side of the conversation
    let h = ask(
        &mut wb,
        2,
        json!({"to_user_id": a, "page_num": "1", "page_size": "2"}),
    )
    .await;
    assert_eq!(
        (page(&h), h["data"]["total"].as_i64()),
        (ids[2..4].to_vec(), Some(5))
    );
    let h = ask(
        &mut wb,
        2,
        json!({"to_user_id": a, "page_num": 2, "page_size": 2}),
    )
    .await;
    assert_eq!(page(&h), ids[4..].to_vec());
    let h = ask(
        &mut wb,
        2,
        json!({"to_user_id": a, "page_num": 3, "page_size": 2}),
    )
    .await;
    assert_eq!((page(&h), h["data"]["total"].as_i64()), (vec![], Some(5)));
    // defaults: page 0 of 10
    let h = ask(&mut wa, 2, json!({"to_user_id": b})).await;
    assert_eq!(page(&h), ids);
    // another conversation is separate
    let h = ask(&mut wa, 2, json!({"to_user_id": c})).await;
    assert_eq!((page(&h), h["data"]["total"].as_i64()), (vec![], Some(0)));
    // paging errors
    let r = ask(&mut wa, 2, json!({"to_user_id": b, "page_num": -1})).await;
    error_code(&r, 10002);
    let r = ask(&mut wa, 2, json!({"to_user_id": b, "page_size": "ten"})).await;
    error_code(&r, 10002);
    let r = ask(&mut wa, 2, json!({"page_num": 0})).await;
    error_code(&r, 10002);
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays() {
    let app = Fanone::start(BIN).await;
    let [(_a, ta), (b, _tb), _] = three_users(&app).await;
    let mut ws = connect_with_headers(&app, &ta).await;

    for raw in [
        "{not json",
        "[1, 2]",
        "42",
        r#"{"data": {}}"#,
        r#"{"type": "x"}"#,
        r#"{"type": 1.5}"#,
        r#"{"type": 1, "data": "text"}"#,
    ] {
        ws.send(Message::text(raw)).await.unwrap();
        error_code(&recv(&mut ws).await, 10002);
    }
    for (kind, data) in [
        (99, json!({})),
        (0, json!({})),
        (-1, json!({})),
        (1, json!({"content": "no recipient"})),
        (1, json!({"to_user_id": b})),
        (1, json!({"to_user_id": b, "content": 5})),
        (1, json!({"to_user_id": "abc", "content": "x"})),
        (1, json!({"to_user_id": -3, "content": "x"})),
        (3, json!({"to_user_id": "12x"})),
    ] {
        let r = ask(&mut ws, kind, data.clone()).await;
        error_code(&r, 10002);
    }
    for kind in [4, 5] {
        let r = ask(&mut ws, kind, json!({"group_id": "1", "content": "hi"})).await;
        let msg = error_code(&r, 10002);
        assert!(msg.contains("group"), "{msg}");
    }
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    error_code(&recv(&mut ws).await, 10002);

    // still open and working
    let r = ask(&mut ws, 3, json!({})).await;
    assert_eq!(r, json!({"type": 3, "data": {"items": []}}));

    // a frame over the size limit closes the connection
    let huge = json!({"type": 1, "data": {"to_user_id": b, "content": "x".repeat(70 * 1024)}});
    let _ = ws.send(Message::text(huge.to_string())).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(Message::Text(t))) => panic!("no reply to an oversized frame: {t}"),
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("closed in time");
    assert!(closed);
    // and a fresh connection works
    let mut ws = connect_with_headers(&app, &ta).await;
    let r = ask(&mut ws, 3, json!({})).await;
    assert_eq!(r["type"], 3);
}
