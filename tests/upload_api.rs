//! Black-box tests of the chunked, resumable upload (`/video/publish/start`,
//! `/uploading`, `/complete`, `/cancel`, `/status`) against the real binary.

use std::time::Duration;

use fanone_testkit::{Fanone, Reply, Tokens};
use md5::{Digest, Md5};
use reqwest::{Method, multipart};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

/// An MP4 (an `ftyp` box, then filler) of `len` bytes.
fn mp4_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![
        0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0, b'i', b's',
        b'o', b'm', b'm', b'p', b'4', b'1',
    ];
    v.extend((0..len.saturating_sub(v.len())).map(|i| (i * 7 % 251) as u8));
    v
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// `bytes` cut into `n` chunks (the last one shorter).
fn chunks(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    bytes
        .chunks(bytes.len().div_ceil(n))
        .map(<[u8]>::to_vec)
        .collect()
}

async fn start(app: &Fanone, t: &Tokens, title: &str, file: &[u8], count: usize) -> Reply {
    app.post_form(
        "/video/publish/start",
        &[
            ("title", title),
            ("description", "sent in chunks"),
            ("total_size", &file.len().to_string()),
            ("chunk_count", &count.to_string()),
            ("file_md5", &md5_hex(file)),
        ],
        Some(t),
    )
    .await
}

async fn started(app: &Fanone, t: &Tokens, title: &str, file: &[u8], count: usize) -> String {
    let r = start(app, t, title, file, count).await;
    assert_eq!(r.code(), 10000, "start: {}", r.body);
    r.data()["upload_id"].as_str().unwrap().to_owned()
}

/// Send chunk `number` (1-based) with the MD5 `md5` (of the bytes when `None`).
async fn send(
    app: &Fanone,
    t: &Tokens,
    upload: &str,
    number: usize,
    bytes: &[u8],
    md5: Option<&str>,
) -> Reply {
    let md5 = md5.map_or_else(|| md5_hex(bytes), str::to_owned);
    app.multipart(
        Method::POST,
        "/video/publish/uploading",
        &[
            ("upload_id", upload),
            ("chunk_number", &number.to_string()),
            ("chunk_md5", &md5),
        ],
        vec![("data", "chunk", bytes.to_vec())],
        Some(t),
    )
    .await
}

async fn status(app: &Fanone, t: &Tokens, upload: &str) -> Reply {
    app.get(
        &format!("/video/publish/status?upload_id={upload}"),
        Some(t),
    )
    .await
}

async fn complete(app: &Fanone, t: &Tokens, upload: &str) -> Reply {
    app.post_form("/video/publish/complete", &[("upload_id", upload)], Some(t))
        .await
}

fn numbers(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("array: {v}"))
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect()
}

/// The parts directory of an upload in the data dir.
fn parts_dir(app: &Fanone, upload: &str) -> std::path::PathBuf {
    app.data.path().join("objects/.uploads").join(upload)
}

/// The published file plays with Range requests and is the uploaded file.
async fn assert_plays(app: &Fanone, video: &Value, file: &[u8]) {
    let url = video["video_url"].as_str().unwrap();
    assert!(url.ends_with(".mp4"), "{url}");
    let whole = app.http.get(url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(
        whole.bytes().await.unwrap().as_ref(),
        file,
        "the assembled file"
    );
    let part = app
        .http
        .get(url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", file.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &file[100..200]);
    let cover = app
        .http
        .get(video["cover_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(cover.status(), 200, "a cover was made");
}

#[tokio::test]
async fn chunks_in_any_order_once_each_by_the_uploader_only() {
    let app = Fanone::start(BIN).await;
    let (uid, alice) = app.user("up_alice").await;
    let (_, bob) = app.user("up_bob").await;
    let file = mp4_bytes(10_000);
    let parts = chunks(&file, 4);
    let upload = started(&app, &alice, "chunky", &file, 4).await;

    let s = status(&app, &alice, &upload).await;
    assert_eq!(s.code(), 10000, "{}", s.body);
    assert_eq!(s.data()["state"], "open");
    assert_eq!(numbers(&s.data()["missing"]), [1, 2, 3, 4]);
    assert!(numbers(&s.data()["received"]).is_empty());

    // out of order; chunk 3 twice: accepted once
    for n in [3, 1, 3] {
        let r = send(&app, &alice, &upload, n, &parts[n - 1], None).await;
        assert_eq!(r.code(), 10000, "chunk {n}: {}", r.body);
    }
    let r = send(&app, &alice, &upload, 3, &parts[2], None).await;
    assert_eq!(r.data()["already_received"], true, "{}", r.body);
    assert_eq!(r.data()["received_count"], 2);
    // other content under a received number
    let r = send(&app, &alice, &upload, 3, &parts[1], None).await;
    assert_eq!(r.code(), 10009, "{}", r.body);
    // a chunk whose bytes do not match its MD5
    let r = send(
        &app,
        &alice,
        &upload,
        2,
        &parts[1],
        Some(&md5_hex(b"other")),
    )
    .await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    let r = send(&app, &alice, &upload, 2, &parts[1], Some("nothex")).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    // numbers outside the upload
    for n in [0, 5] {
        let r = send(&app, &alice, &upload, n, &parts[0], None).await;
        assert_eq!(r.code(), 10002, "chunk {n}: {}", r.body);
    }
    // another user can neither send to it nor read it nor end it
    let r = send(&app, &bob, &upload, 2, &parts[1], None).await;
    assert_eq!(r.code(), 10008, "{}", r.body);
    assert_eq!(status(&app, &bob, &upload).await.code(), 10008);
    assert_eq!(complete(&app, &bob, &upload).await.code(), 10008);
    let r = app
        .post_form(
            "/video/publish/cancel",
            &[("upload_id", &upload)],
            Some(&bob),
        )
        .await;
    assert_eq!(r.code(), 10008);
    // no token, unknown upload
    let r = app
        .post_form("/video/publish/complete", &[("upload_id", &upload)], None)
        .await;
    assert_eq!(r.code(), 10004);
    assert_eq!(status(&app, &alice, "123456789").await.code(), 10007);

    // completing early names what is missing
    let r = complete(&app, &alice, &upload).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    assert!(r.msg().contains("2, 4"), "{}", r.msg());
    let s = status(&app, &alice, &upload).await;
    assert_eq!(numbers(&s.data()["received"]), [1, 3]);
    assert_eq!(numbers(&s.data()["missing"]), [2, 4]);
    assert_eq!(
        s.data()["received_bytes"],
        (parts[0].len() + parts[2].len()) as i64
    );

    for n in [4, 2] {
        let r = send(&app, &alice, &upload, n, &parts[n - 1], None).await;
        assert_eq!(r.code(), 10000, "chunk {n}: {}", r.body);
    }
    let r = complete(&app, &alice, &upload).await;
    assert_eq!(r.code(), 10000, "complete: {}", r.body);
    let video = r.data().clone();
    assert_eq!(video["title"], "chunky");
    assert_eq!(video["user_id"], uid.as_str());
    assert_plays(&app, &video, &file).await;
    let list = app.get(&format!("/video/list?user_id={uid}"), None).await;
    assert_eq!(list.data()["items"][0]["id"], video["id"], "{}", list.body);

    // once only; the status says where it went; the parts are gone
    assert_eq!(complete(&app, &alice, &upload).await.code(), 10009);
    let r = send(&app, &alice, &upload, 1, &parts[0], None).await;
    assert_eq!(r.code(), 10009);
    let s = status(&app, &alice, &upload).await;
    assert_eq!(s.data()["state"], "completed");
    assert_eq!(s.data()["video_id"], video["id"]);
    assert!(!parts_dir(&app, &upload).exists());
    // parts are never served
    let r = app
        .http
        .get(app.at(&format!(
            "/static/.uploads/{upload}/1-{}",
            md5_hex(&parts[0])
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn wrong_file_md5_not_a_video_cancel_and_limits() {
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__UPLOAD__MAX_CHUNK_BYTES", "4096"),
            ("FANONE__UPLOAD__MAX_BYTES", "100000"),
            ("FANONE__UPLOAD__MAX_OPEN_PER_USER", "2"),
        ],
    )
    .await;
    let (_, t) = app.user("up_carol").await;
    let file = mp4_bytes(6000);

    // bad starts
    for (field, value) in [
        ("total_size", "0"),
        ("total_size", "100001"),
        ("chunk_count", "0"),
        ("chunk_count", "1"), // 6000 bytes do not fit one 4096-byte chunk
        ("file_md5", "xyz"),
        ("title", ""),
    ] {
        let mut form = vec![
            ("title", "t".to_owned()),
            ("total_size", file.len().to_string()),
            ("chunk_count", "2".to_owned()),
            ("file_md5", md5_hex(&file)),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value.to_owned()));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.post_form("/video/publish/start", &form, Some(&t)).await;
        assert_eq!(r.code(), 10002, "{field}={value}: {}", r.body);
    }

    // the whole-file MD5 is checked at completion; the upload stays open
    let mut wrong = md5_hex(&file);
    wrong.replace_range(0..1, if wrong.starts_with('0') { "1" } else { "0" });
    let r = app
        .post_form(
            "/video/publish/start",
            &[
                ("title", "wrong md5"),
                ("total_size", &file.len().to_string()),
                ("chunk_count", "2"),
                ("file_md5", &wrong),
            ],
            Some(&t),
        )
        .await;
    let bad = r.data()["upload_id"].as_str().unwrap().to_owned();
    let parts = chunks(&file, 2);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(send(&app, &t, &bad, i + 1, p, None).await.code(), 10000);
    }
    // a chunk larger than the limit is refused as it streams (the body never ends:
    // the answer comes from what was read, and the client is not cut off mid-write)
    let r = too_big_chunk(&app, &t, &bad).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    assert!(r.msg().contains("4096"), "{}", r.msg());
    let r = complete(&app, &t, &bad).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    assert!(r.msg().contains("file_md5"), "{}", r.msg());

    // not a video (right MD5, wrong bytes)
    let text = b"just some text, not a video at all".repeat(100);
    let fake = started(&app, &t, "fake", &text, 1).await;
    assert_eq!(send(&app, &t, &fake, 1, &text, None).await.code(), 10000);
    // two open uploads already: a third is refused
    let r = start(&app, &t, "third", &file, 2).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    let r = complete(&app, &t, &fake).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    assert!(r.msg().contains("video"), "{}", r.msg());

    // cancel: the parts go, the upload takes nothing more, a slot is free again
    assert!(parts_dir(&app, &bad).exists());
    let r = app
        .post_form("/video/publish/cancel", &[("upload_id", &bad)], Some(&t))
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert!(!parts_dir(&app, &bad).exists());
    assert_eq!(status(&app, &t, &bad).await.data()["state"], "cancelled");
    assert_eq!(send(&app, &t, &bad, 1, &parts[0], None).await.code(), 10007);
    assert_eq!(complete(&app, &t, &bad).await.code(), 10007);
    let r = start(&app, &t, "third", &file, 2).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
}

#[tokio::test]
async fn abandoned_uploads_expire_and_their_parts_are_removed() {
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__UPLOAD__TTL_SECS", "2"),
            ("FANONE__UPLOAD__EXPIRY_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let (_, t) = app.user("up_dave").await;
    let file = mp4_bytes(3000);
    let parts = chunks(&file, 3);
    let upload = started(&app, &t, "abandoned", &file, 3).await;
    assert_eq!(
        send(&app, &t, &upload, 1, &parts[0], None).await.code(),
        10000
    );
    assert!(parts_dir(&app, &upload).exists());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while parts_dir(&app, &upload).exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !parts_dir(&app, &upload).exists(),
        "parts removed by the job"
    );
    assert_eq!(status(&app, &t, &upload).await.code(), 10007);
    assert_eq!(
        send(&app, &t, &upload, 2, &parts[1], None).await.code(),
        10007
    );
    assert_eq!(complete(&app, &t, &upload).await.code(), 10007);
}

#[tokio::test]
async fn an_upload_resumes_after_the_server_is_killed_mid_chunk() {
    let app = Fanone::start(BIN).await;
    let (uid, t) = app.user("up_erin").await;
    let file = mp4_bytes(300_000);
    let parts = chunks(&file, 3);
    let upload = started(&app, &t, "resumed", &file, 3).await;
    assert_eq!(
        send(&app, &t, &upload, 1, &parts[0], None).await.code(),
        10000
    );

    // chunk 2 starts streaming, then the server is killed before it ends
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let form = multipart::Form::new()
        .text("upload_id", upload.clone())
        .text("chunk_number", "2")
        .text("chunk_md5", md5_hex(&parts[1]))
        .part("data", multipart::Part::stream(body).file_name("chunk"));
    let req = app
        .http
        .post(app.at("/video/publish/uploading"))
        .header("Access-Token", &t.access)
        .header("Refresh-Token", &t.refresh)
        .multipart(form)
        .send();
    let in_flight = tokio::spawn(req);
    tx.send(Ok(parts[1][..50_000].to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let data = app.stop().await;
    assert!(
        in_flight.await.unwrap().is_err(),
        "the request died with the server"
    );
    drop(tx);

    let app = Fanone::start_in(BIN, data, &[]).await;
    let t = app.login("up_erin", "secret12").await.1;
    let s = status(&app, &t, &upload).await;
    assert_eq!(s.code(), 10000, "{}", s.body);
    assert_eq!(numbers(&s.data()["received"]), [1], "{}", s.body);
    assert_eq!(numbers(&s.data()["missing"]), [2, 3]);
    for n in [3, 2] {
        let r = send(&app, &t, &upload, n, &parts[n - 1], None).await;
        assert_eq!(r.code(), 10000, "chunk {n}: {}", r.body);
    }
    let r = complete(&app, &t, &upload).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert_eq!(r.data()["user_id"], uid.as_str());
    assert_plays(&app, r.data(), &file).await;
}

/// Chunk 1 of `upload` with 5000 bytes, in a multipart body that never ends.
async fn too_big_chunk(app: &Fanone, t: &Tokens, upload: &str) -> Reply {
    use futures::StreamExt;
    let mut head = String::new();
    for (k, v) in [
        ("upload_id", upload),
        ("chunk_number", "1"),
        ("chunk_md5", &md5_hex(&[7u8; 5000])),
    ] {
        head += &format!("--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n");
    }
    head += "--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"c\"\r\n\r\n";
    let mut first = head.into_bytes();
    first.extend_from_slice(&[7u8; 5000]);
    let stream =
        futures::stream::iter([Ok::<_, std::io::Error>(first)]).chain(futures::stream::pending());
    Reply::read(
        app.http
            .post(app.at("/video/publish/uploading"))
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .header("Access-Token", &t.access)
            .header("Refresh-Token", &t.refresh)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await,
    )
    .await
}

/// A stream of the receiver's items (what `reqwest::Body::wrap_stream` takes).
fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}
