//! Reverse image search end to end on the real binary: uploads emit events, the
//! image service indexes them, `POST /user/image/search` finds edited copies.

use std::time::Duration;

use fanone_errno::from_rpc;
use fanone_testkit::{Fanone, Reply, Tokens};
use reqwest::Method;
use volo_gen::image::{self as irpc, ImageKind};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

use fanone_testkit::picture as data;

async fn avatar(app: &Fanone, tokens: &Tokens, file: &str) -> String {
    app.upload_avatar(tokens, file, data(file)).await
}

async fn search(app: &Fanone, _file: &str, bytes: Vec<u8>, top_k: Option<&str>) -> Reply {
    app.image_search(bytes, top_k).await
}

/// One user per `(name, file)` with that picture as avatar; their URLs, once all
/// are indexed.
async fn avatars(app: &Fanone, users: &[(&str, &str)]) -> Vec<String> {
    let mut urls = Vec::new();
    for (name, file) in users {
        let (_, tokens) = app.user(name).await;
        urls.push(avatar(app, &tokens, file).await);
    }
    wait_indexed(app, users.len()).await;
    urls
}

/// Wait until the index holds `n` images (indexing is asynchronous, by events).
async fn wait_indexed(app: &Fanone, n: usize) {
    for _ in 0..300 {
        let r = search(app, "q.jpg", data("astronaut.jpg"), Some("20")).await;
        if r.code() == 10000 && r.data()["items"].as_array().is_some_and(|a| a.len() >= n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} images were not indexed within 30 s");
}

#[tokio::test]
async fn uploads_are_indexed_and_edited_copies_found() {
    let app = Fanone::start(BIN).await;
    // nothing indexed yet: a clear answer
    let r = search(&app, "q.jpg", data("chelsea.jpg"), None).await;
    assert_eq!(r.code(), 10007, "{}", r.body);
    assert!(r.msg().contains("indexed"), "{}", r.body);

    let urls = avatars(
        &app,
        &[
            ("astro", "astronaut.jpg"),
            ("cat", "chelsea.jpg"),
            ("cup", "coffee.jpg"),
            ("rkt", "rocket.webp"),
            ("bloom", "flower.jpg"),
        ],
    )
    .await;

    // the edited copy of the cat finds the cat's avatar, as a plain URL string
    let r = search(&app, "edited.jpg", data("chelsea_edited.jpg"), None).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert_eq!(r.data().as_str(), Some(urls[1].as_str()), "{}", r.body);
    // a rotated-by-EXIF copy of the astronaut finds the astronaut
    let r = search(&app, "exif.jpg", data("astronaut_exif6.jpg"), None).await;
    assert_eq!(r.data().as_str(), Some(urls[0].as_str()));

    // top_k extension: best first, scores descending, no duplicates
    let r = search(&app, "edited.jpg", data("chelsea_edited.jpg"), Some("3")).await;
    assert_eq!(r.code(), 10000);
    let items = r.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(r.data()["url"], urls[1].as_str());
    assert_eq!(items[0]["url"], urls[1].as_str());
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores[0] > 0.5 && scores[0] <= 1.0001, "{scores:?}");

    // re-delivering an event (indexing the same URL again) keeps one row and vector
    let addr: std::net::SocketAddr = app.endpoints["image"].parse().unwrap();
    let client = irpc::ImageServiceClientBuilder::new("image")
        .address(addr)
        .build();
    let index = |url: String| {
        let c = client.clone();
        async move {
            let call = c.index_image(irpc::IndexImageRequest {
                url: url.into(),
                kind: ImageKind::AVATAR,
                owner_id: 1,
            });
            // a caller inside the system: with the internal credential
            let token = Some(fanone_testkit::internal_credential());
            from_rpc(fanone_testkit::with_credential(token, call).await)
                .unwrap()
                .image_id
        }
    };
    assert_eq!(index(urls[2].clone()).await, index(urls[2].clone()).await);
    let r = search(&app, "q.jpg", data("coffee.jpg"), Some("20")).await;
    let all: Vec<&str> = r.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["url"].as_str().unwrap())
        .collect();
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[0], urls[2]);

    // bad input is refused clearly and the service stays up
    let r = search(&app, "x.png", b"definitely not an image".to_vec(), None).await;
    assert_eq!(r.code(), 10002);
    let r = search(&app, "bomb.png", data("bomb_pixels.png"), None).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    let r = search(&app, "bomb.png", data("bomb_side.png"), None).await;
    assert_eq!(r.code(), 10002, "{}", r.body);
    let r = search(
        &app,
        "cut.jpg",
        data("astronaut.jpg")[..2000].to_vec(),
        None,
    )
    .await;
    assert_eq!(r.code(), 10002, "truncated JPEG: {}", r.body);
    let r = search(&app, "q.jpg", data("chelsea.jpg"), Some("0")).await;
    assert_eq!(r.code(), 10002);
    let r = app
        .multipart(
            Method::POST,
            "/user/image/search",
            &[("data", "text")],
            vec![],
            None,
        )
        .await;
    assert_eq!(r.code(), 10002);
    let r = search(&app, "edited.jpg", data("chelsea_edited.jpg"), None).await;
    assert_eq!(
        r.data().as_str(),
        Some(urls[1].as_str()),
        "still serving after bad input"
    );

    // the built-in index survives a restart; restarted on ONNX Runtime, the vectors
    // indexed on tract are searched with the same scores (one model, two engines)
    let dir = app.stop().await;
    let lib = fanone_testkit::onnxruntime_lib();
    let env: Vec<(&str, &str)> = match &lib {
        Some(lib) => vec![
            ("FANONE__IMAGE__RUNTIME", "onnxruntime"),
            ("FANONE__IMAGE__ONNXRUNTIME_LIB", lib.as_str()),
        ],
        None => vec![],
    };
    let app = Fanone::start_in(BIN, dir, &env).await;
    let r = search(&app, "edited.jpg", data("chelsea_edited.jpg"), Some("20")).await;
    assert_eq!(r.code(), 10000);
    assert_eq!(r.data()["url"], urls[1].as_str());
    let items = r.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let top = items[0]["score"].as_f64().unwrap();
    assert!(
        (top - scores[0]).abs() < 1e-3,
        "{top} after restart, {} before",
        scores[0]
    );
}

#[tokio::test]
async fn video_covers_are_indexed() {
    let app = Fanone::start(BIN).await;
    let (_, tokens) = app.user("director").await;
    let mp4 = [&[0u8, 0, 0, 0x18][..], b"ftypisom", &[0u8; 64][..]].concat();
    let r = app
        .multipart(
            Method::POST,
            "/video/publish",
            &[("title", "clip")],
            vec![("data", "c.mp4", mp4)],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let (uid, _) = app.login("director", "secret12").await;
    let list = app.get(&format!("/video/list?user_id={uid}"), None).await;
    let cover = list.data()["items"][0]["cover_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = app
        .http
        .get(&cover)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    for _ in 0..300 {
        let r = search(&app, "cover", bytes.clone(), None).await;
        if r.code() == 10000 {
            assert_eq!(r.data().as_str(), Some(cover.as_str()));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cover was not indexed within 30 s");
}

/// A screenshot as JPEG: the picture at a third of the width of a flat page with a
/// title bar and lines of text.
fn screenshot_of(file: &str) -> Vec<u8> {
    use image::{GenericImage, Rgb, RgbImage, imageops::FilterType};
    let pic = image::load_from_memory(&data(file)).unwrap().to_rgb8();
    let mut page = RgbImage::from_pixel(1280, 800, Rgb([246, 246, 248]));
    for y in 0..48 {
        for x in 0..1280 {
            page.put_pixel(x, y, Rgb([52, 56, 64])); // title bar
        }
    }
    for line in 0..20 {
        for x in 40..(240 + (line * 53) % 160) {
            for dy in 0..8 {
                page.put_pixel(x, 120 + line * 30 + dy, Rgb([90, 90, 96])); // text
            }
        }
    }
    let (w, h) = pic.dimensions();
    let small = image::imageops::resize(&pic, 460, (h * 460 / w).min(560), FilterType::Triangle);
    page.copy_from(&small, 560, 140).unwrap();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&page)
        .unwrap();
    out
}

/// How many searches so far used which views (`fanone_image_queries_total{views}`).
async fn views_used(app: &Fanone) -> [f64; 3] {
    let text = app.metrics("standalone").await;
    ["whole", "first", "several"].map(|v| {
        fanone_testkit::metric_sample(&text, "fanone_image_queries_total", &[("views", v)])
    })
}

/// A picture inside a page (a screenshot) does not match as a whole; the picture
/// found in the page does, and the centre crops are then skipped — unless
/// `image.multi_view_enough` asks for every view, which finds the same answer.
#[tokio::test]
async fn a_picture_in_a_page_is_found_by_its_own_view() {
    let app = Fanone::start(BIN).await;
    let urls = avatars(
        &app,
        &[
            ("astro", "astronaut.jpg"),
            ("cat", "chelsea.jpg"),
            ("cup", "coffee.jpg"),
            ("bloom", "flower.jpg"),
        ],
    )
    .await;
    let shot = screenshot_of("chelsea.jpg");

    let before = views_used(&app).await;
    let r = search(&app, "shot.jpg", shot.clone(), None).await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    assert_eq!(r.data().as_str(), Some(urls[1].as_str()), "{}", r.body);
    let after = views_used(&app).await;
    assert_eq!(
        [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2]
        ],
        [0.0, 1.0, 0.0],
        "views used (whole, first, several): {before:?} -> {after:?}"
    );
    // a copy of the picture itself needs no other view
    search(&app, "q.jpg", data("coffee.jpg"), None).await;
    assert_eq!(views_used(&app).await[0], after[0] + 1.0);

    let dir = app.stop().await;
    let app = Fanone::start_in(BIN, dir, &[("FANONE__IMAGE__MULTI_VIEW_ENOUGH", "1.01")]).await;
    let r = search(&app, "shot.jpg", shot, None).await;
    assert_eq!(r.data().as_str(), Some(urls[1].as_str()), "{}", r.body);
    assert_eq!(views_used(&app).await, [0.0, 0.0, 1.0]);
}

/// `image.runtime = "onnxruntime"` without a usable library stops the image service at
/// start-up with a message that names the setting, fast (never a hang or a silent
/// fall-back to the slower engine).
#[tokio::test]
async fn the_image_service_refuses_to_start_without_its_runtime() {
    let dir = tempfile::tempdir().unwrap();
    for (lib, expect) in [
        ("", "image.onnxruntime_lib"),
        ("/nonexistent/libonnxruntime.so", "ONNX Runtime"),
    ] {
        let run = tokio::process::Command::new(BIN)
            .arg("image")
            .env("FANONE__AUTH__JWT_SECRET", fanone_testkit::TEST_JWT_SECRET)
            .env(
                "FANONE__RPC__INTERNAL_SECRET",
                fanone_testkit::TEST_INTERNAL_SECRET,
            )
            .env("FANONE__DATA_DIR", dir.path())
            .env("FANONE__SERVICES__IMAGE__ADDR", "127.0.0.1:0")
            .env("FANONE__IMAGE__RUNTIME", "onnxruntime")
            .env("FANONE__IMAGE__ONNXRUNTIME_LIB", lib)
            .env("FANONE__TELEMETRY__LOG", "warn")
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("exits within 60 s")
            .unwrap();
        assert!(!out.status.success(), "lib {lib:?}: started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "lib {lib:?}: {err}");
    }
}
