//! Probe-style tests of issue 8 ("what an attacker found in the standalone release
//! binary"): each one replays a probe against the real binary and checks the
//! defence (docs/security.md).

use std::{
    io::{Read, Write},
    os::unix::fs::PermissionsExt,
    time::{Duration, SystemTime},
};

use fanone_auth::unix_now;
use fanone_errno::from_rpc;
use fanone_testkit::{Fanone, Reply, Tokens};
use reqwest::Method;
use volo_gen::image::{self as irpc, ImageKind};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

fn png() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/contract/fixtures/avatar.png"
    ))
    .expect("avatar fixture")
}

async fn login_form(app: &Fanone, form: &[(&str, &str)]) -> Reply {
    app.post_form("/user/login", form, None).await
}

fn totp(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp")
}

/// Bind MFA for `tokens`' user; returns the secret.
async fn bind_mfa(app: &Fanone, tokens: &Tokens) -> String {
    let q = app.get("/auth/mfa/qrcode", Some(tokens)).await;
    let secret = q.data()["secret"].as_str().expect("secret").to_owned();
    let code = totp(&secret).generate(unix_now()).to_string();
    let r = app
        .post_form(
            "/auth/mfa/bind",
            &[("secret", &secret), ("code", &code)],
            Some(tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    secret
}

// ---- item 1: no outbound fetch of client-chosen URLs -------------------------

#[tokio::test]
async fn index_image_never_fetches_a_url() {
    let app = Fanone::start(BIN).await;
    // an "internal service" the probe pointed the image service at
    let internal = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    internal.set_nonblocking(true).unwrap();
    let port = internal.local_addr().unwrap().port();
    let addr: std::net::SocketAddr = app.endpoints["image"].parse().unwrap();
    let client = irpc::ImageServiceClientBuilder::new("image")
        .address(addr)
        .build();
    for url in [
        format!("http://127.0.0.1:{port}/latest/meta-data"),
        format!("http://127.0.0.1:{port}/static/avatars/1/2.png"),
    ] {
        // even a caller inside the system (valid credential) cannot make it fetch
        let call = client.index_image(irpc::IndexImageRequest {
            url: url.clone().into(),
            kind: ImageKind::AVATAR,
            owner_id: 1,
        });
        let r = from_rpc(
            fanone_testkit::with_credential(Some(fanone_testkit::internal_credential()), call)
                .await,
        );
        let e = r.expect_err("a URL that is no stored object is refused");
        assert!(matches!(e.code.as_i32(), 10002 | 10007), "{url}: {e}");
    }
    // the call has returned: any connection it made would be waiting in the backlog
    match internal.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the image service connected to the internal address: {other:?}"),
    }
}

// ---- item 2: the whole body is capped as it streams --------------------------

/// A multipart body sent with `Transfer-Encoding: chunked` (no Content-Length) that
/// never ends: the server must answer from what it has read (it refuses early), and
/// the client is not cut off mid-write by the server closing the connection.
fn chunked(parts: Vec<Vec<u8>>) -> reqwest::Body {
    use futures::StreamExt;
    let stream = futures::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>))
        .chain(futures::stream::pending());
    reqwest::Body::wrap_stream(stream)
}

fn file_part(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut p = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f.png\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    p.extend_from_slice(bytes);
    p.extend_from_slice(b"\r\n");
    p
}

async fn post_chunked(app: &Fanone, path: &str, parts: Vec<Vec<u8>>) -> Reply {
    Reply::read(
        app.http
            .post(app.at(path))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(chunked(parts))
            .send()
            .await,
    )
    .await
}

#[tokio::test]
async fn chunked_bodies_are_capped_as_they_stream() {
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__GATEWAY__MAX_BODY_BYTES", "65536"),
            ("FANONE__IMAGE__MAX_BYTES", "262144"),
        ],
    )
    .await;
    // a route without files (cap 64 KiB here): 80 KiB of preamble before the first
    // part (bodies stay just over their cap, so the server reads all that was sent)
    let junk = vec![b'j'; 16 << 10];
    let mut parts = vec![junk; 5];
    parts.push(
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"keywords\"\r\n\r\nx\r\n--XyZ--\r\n"
            .to_vec(),
    );
    let r = post_chunked(&app, "/video/search", parts).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    assert!(r.msg().contains("exceeds"), "{}", r.body);

    // the search route takes one file, in `data`: more file fields are refused
    // (each used to get its own limit)
    let img = png();
    let parts = vec![
        file_part("data", &img),
        file_part("extra", &[0u8; 1024]),
        b"--XyZ--\r\n".to_vec(),
    ];
    let r = post_chunked(&app, "/user/image/search", parts).await;
    assert_eq!(r.code(), 10002, "{}", r.body);

    // and the whole body counts, whatever it is made of
    let mut parts: Vec<Vec<u8>> = (0..9)
        .map(|i| {
            format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"t{i}\"\r\n\r\n{}\r\n",
                "v".repeat(8 << 10)
            )
            .into_bytes()
        })
        .collect();
    parts.push(b"--XyZ--\r\n".to_vec());
    let r = post_chunked(&app, "/user/login", parts).await;
    assert_eq!(r.code(), 10002, "{}", r.body);

    // nothing is left in the temp directory, and normal requests still work
    let tmp = std::fs::read_dir(app.data.path().join("objects/.tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0);
    let r = app
        .post_form("/video/search", &[("keywords", "x")], None)
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
}

// ---- items 3 and 4: login and TOTP throttling --------------------------------

#[tokio::test]
async fn wrong_passwords_back_off_per_account_with_retry_after() {
    let app = Fanone::start(BIN).await;
    app.user("victim").await;
    for i in 0..5 {
        let r = login_form(&app, &[("username", "victim"), ("password", "wrong-pw")]).await;
        assert_eq!(r.code(), 10005, "failure {i} is answered normally");
    }
    // the right password, right after: throttled, with a clear code and Retry-After
    let r = login_form(&app, &[("username", "victim"), ("password", "secret12")]).await;
    assert_eq!(r.code(), 10011, "{}", r.body);
    assert!(r.tokens().is_none());
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After header")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    // other accounts are not affected
    app.user("bystander").await;
}

#[tokio::test]
async fn back_off_is_capped_and_success_resets() {
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__LIMITS__LOGIN_FREE_FAILURES", "2"),
            ("FANONE__LIMITS__LOGIN_BACKOFF_BASE_MS", "1"),
            ("FANONE__LIMITS__LOGIN_BACKOFF_MAX_SECS", "1"),
        ],
    )
    .await;
    app.user("amy").await;
    let wrong = [("username", "amy"), ("password", "wrong-pw")];
    for _ in 0..2 {
        assert_eq!(login_form(&app, &wrong).await.code(), 10005);
    }
    // capped at 1 s here: after it, attempts are taken again (no permanent lockout)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login_form(&app, &wrong).await.code(), 10005);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.login("amy", "secret12").await;
    // the success reset the count: two free failures again
    for _ in 0..2 {
        assert_eq!(login_form(&app, &wrong).await.code(), 10005);
    }
}

#[tokio::test]
async fn failures_are_also_limited_per_client_address() {
    let app = Fanone::start_with(BIN, &[("FANONE__LIMITS__CLIENT_FREE_FAILURES", "3")]).await;
    for name in ["p1", "p2", "p3"] {
        let r = login_form(&app, &[("username", name), ("password", "guess123")]).await;
        assert_eq!(r.code(), 10005);
    }
    // a fourth account from the same address: the address is throttled
    let r = login_form(&app, &[("username", "p4"), ("password", "guess123")]).await;
    assert_eq!(r.code(), 10011, "{}", r.body);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn totp_guessing_is_throttled() {
    let app = Fanone::start(BIN).await;
    let (_, tokens) = app.user("mfa_user").await;
    let secret = bind_mfa(&app, &tokens).await;
    let next = totp(&secret).generate(unix_now() + 30).to_string();
    let wrong = if next == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = login_form(
            &app,
            &[
                ("username", "mfa_user"),
                ("password", "secret12"),
                ("code", wrong),
            ],
        )
        .await;
        assert_eq!(r.code(), 10006);
    }
    let r = login_form(
        &app,
        &[
            ("username", "mfa_user"),
            ("password", "secret12"),
            ("code", &next),
        ],
    )
    .await;
    assert_eq!(r.code(), 10011, "{}", r.body);
    assert!(r.header("retry-after").is_some());
}

// ---- item 5: re-binding MFA needs the bound factor or the password -----------

#[tokio::test]
async fn mfa_rebind_needs_a_current_code_or_the_password() {
    let app = Fanone::start(BIN).await;
    let (_, tokens) = app.user("rebind").await;
    let old = bind_mfa(&app, &tokens).await;

    // a token alone cannot replace the factor
    let q = app.get("/auth/mfa/qrcode", Some(&tokens)).await;
    let new = q.data()["secret"].as_str().unwrap().to_owned();
    let new_code = totp(&new).generate(unix_now()).to_string();
    let bind = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![("secret", new.clone()), ("code", new_code.clone())];
        form.extend(extra);
        let app = &app;
        let tokens = &tokens;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/auth/mfa/bind", &form, Some(tokens)).await
        }
    };
    let r = bind(vec![]).await;
    assert_eq!(r.code(), 10006, "{}", r.body);
    assert!(r.msg().contains("current_code"), "{}", r.body);
    let r = bind(vec![("password", "not-the-pw".into())]).await;
    assert_eq!(r.code(), 10005, "{}", r.body);
    let r = bind(vec![("current_code", "000000".into())]).await;
    assert_eq!(r.code(), 10006, "{}", r.body);
    // the old factor still guards the login
    let old_next = totp(&old).generate(unix_now() + 30).to_string();
    let r = bind(vec![("current_code", old_next)]).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    // now the new secret is the factor
    let r = login_form(
        &app,
        &[
            ("username", "rebind"),
            ("password", "secret12"),
            ("code", &totp(&new).generate(unix_now() + 30).to_string()),
        ],
    )
    .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
}

// ---- item 6: private data directory and secrets ------------------------------

#[tokio::test]
async fn data_dir_and_secrets_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    // a secret written world-readable by an older version
    std::fs::write(p.join("jwt.secret"), "ab".repeat(32)).unwrap();
    std::fs::set_permissions(p.join("jwt.secret"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = Fanone::start_in(
        BIN,
        dir,
        // no configured key: standalone uses (and keeps) data/jwt.secret
        &[("FANONE__AUTH__JWT_SECRET", fanone_config::DEV_JWT_SECRET)],
    )
    .await;
    let mode = |name: &str| {
        std::fs::metadata(app.data.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "data dir");
    assert_eq!(mode("jwt.secret"), 0o600);
    assert_eq!(mode("user.db"), 0o600);
    assert_eq!(mode("objects"), 0o700);
    // the kept secret still signs: a login works
    app.user("private").await;
}

// ---- item 7: stale upload temp files are swept ------------------------------

#[tokio::test]
async fn stale_upload_temp_files_are_swept_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("objects/.tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // left by a kill -9 two hours ago, and one "being written" by another gateway
    let stale = tmp.join("upload-4242-0");
    std::fs::write(&stale, vec![0u8; 4096]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    let live = tmp.join("upload-4243-0");
    std::fs::write(&live, b"in progress").unwrap();
    let app = Fanone::start_in(BIN, dir, &[]).await;
    for _ in 0..100 {
        if !stale.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!stale.exists(), "the stale temp file is removed");
    assert!(live.exists(), "a young temp file is kept");
    drop(app);
}

// ---- item 8: /static keys -----------------------------------------------------

#[tokio::test]
async fn static_keys_are_decoded_safely_and_unknown_ones_are_404_envelopes() {
    let app = Fanone::start(BIN).await;
    let (_, tokens) = app.user("pics").await;
    let r = app
        .multipart(
            Method::PUT,
            "/user/avatar/upload",
            &[],
            vec![("data", "me.png", png())],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let url = r.data()["avatar_url"].as_str().unwrap().to_owned();
    let key = url.split_once("/static/").unwrap().1.to_owned();

    // served with nosniff
    let resp = app.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    // a percent-encoded key names the same object
    let encoded = key.replace('/', "%2F").replace(".png", "%2Epng");
    let resp = app
        .http
        .get(app.at(&format!("/static/{encoded}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "/static/{encoded}");

    for path in [
        format!("/static/{}", "n".repeat(300)),
        format!("/static/avatars/{}.png", "n".repeat(256)),
        "/static/%2e%2e%2fjwt.secret".to_owned(),
        "/static/avatars%2F..%2F..%2Fjwt.secret".to_owned(),
        "/static/%00".to_owned(),
        "/static/%ff%fe".to_owned(),
        "/static/.tmp%2Fupload-1-0".to_owned(),
    ] {
        let resp = app.http.get(app.at(&path)).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.expect("an envelope");
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["base"]["code"], 10007, "{path}: {body}");
    }
}

// ---- refresh tokens: rotation, reuse detection, logout -----------------------

async fn refresh(app: &Fanone, token: &str) -> Reply {
    app.post_form("/auth/refresh", &[("refresh_token", token)], None)
        .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_session() {
    let app = Fanone::start_with(BIN, &[("FANONE__AUTH__REFRESH_REUSE_GRACE_SECS", "0")]).await;
    let (_, t0) = app.user("rotor").await;
    let r = refresh(&app, &t0.refresh).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let t1 = r.tokens().unwrap();
    assert_ne!(t1.refresh, t0.refresh, "rotated");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // the old token again: reuse → the whole session is revoked
    let r = refresh(&app, &t0.refresh).await;
    assert_eq!(r.code(), 10004, "{}", r.body);
    let r = refresh(&app, &t1.refresh).await;
    assert_eq!(
        r.code(),
        10004,
        "the new token died with its session: {}",
        r.body
    );
    // silent refresh with it is refused too
    let r = app
        .get(
            "/user/info",
            Some(&Tokens {
                access: "expired.or.bad".into(),
                refresh: t1.refresh.clone(),
            }),
        )
        .await;
    assert_eq!(r.code(), 10004, "{}", r.body);
    // another login is another session
    app.login("rotor", "secret12").await;
}

#[tokio::test]
async fn logout_revokes_refresh_tokens() {
    let app = Fanone::start(BIN).await;
    let (_, t) = app.user("leaver").await;
    let (_, other) = app.login("leaver", "secret12").await;
    let r = app.post_form("/auth/logout", &[], Some(&t)).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert_eq!(refresh(&app, &t.refresh).await.code(), 10004);
    let silent = Tokens {
        access: "x".into(),
        refresh: t.refresh.clone(),
    };
    assert_eq!(app.get("/user/info", Some(&silent)).await.code(), 10004);
    // the other session (another device) is untouched
    assert_eq!(refresh(&app, &other.refresh).await.code(), 10000);
    assert_eq!(app.post_form("/auth/logout", &[], None).await.code(), 10004);
}

// ---- visits, WebSocket cap, connection deadlines ----------------------------

#[tokio::test]
async fn a_viewer_counts_one_visit_per_interval() {
    let app = Fanone::start(BIN).await;
    let (uid, tokens) = app.user("vlogger").await;
    let vid = app.publish_video(&uid, &tokens, "v").await;
    for _ in 0..20 {
        let r = app.get(&format!("/video/visit?video_id={vid}"), None).await;
        assert_eq!(r.code(), 10000);
    }
    let r = app
        .get(&format!("/video/visit?video_id={vid}"), Some(&tokens))
        .await;
    assert_eq!(r.code(), 10000);
    let list = app.get(&format!("/video/list?user_id={uid}"), None).await;
    assert_eq!(
        list.data()["items"][0]["visit_count"],
        2,
        "one anonymous address + one user: {}",
        list.body
    );
    assert_eq!(
        app.get("/video/visit?video_id=999999999999", None)
            .await
            .code(),
        10007
    );
}

#[tokio::test]
async fn websocket_connections_per_user_are_capped() {
    let app = Fanone::start_with(BIN, &[("FANONE__LIMITS__WS_MAX_PER_USER", "2")]).await;
    let (_, t) = app.user("chatty").await;
    let ws_url = format!(
        "{}/ws?token={}",
        app.url.replacen("http", "ws", 1),
        t.access
    );
    let a = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("first");
    let b = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("second");
    // the third is not upgraded: an envelope with a clear code
    let r = app.get(&format!("/ws?token={}", t.access), None).await;
    assert_eq!(r.code(), 10002, "plain GET is not an upgrade");
    let third = tokio_tungstenite::connect_async(&ws_url).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).expect("envelope");
            assert_eq!(v["base"]["code"], 10010, "{v}");
        }
        other => panic!("third connection must be refused, got {other:?}"),
    }
    drop(a);
    drop(b);
}

/// Read until the server closes the connection; false if it is still open after
/// the guard (a generous bound, not a timing assertion).
fn closed_by_server(s: &mut std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__GATEWAY__HEADER_READ_TIMEOUT_SECS", "1"),
            ("FANONE__GATEWAY__IDLE_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        // slowloris: headers that never end
        let mut slow = std::net::TcpStream::connect(&addr).unwrap();
        slow.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        assert!(closed_by_server(&mut slow), "slow headers must be cut");
        // keep-alive connection left idle after one request
        let mut idle = std::net::TcpStream::connect(&addr).unwrap();
        idle.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert!(
            closed_by_server(&mut idle),
            "idle connection must be closed"
        );
    })
    .await
    .unwrap();
}
