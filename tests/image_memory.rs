//! Memory of reverse image search under huge queries, on the real binary: eight
//! concurrent 40-megapixel JPEG queries (the largest the limits accept) all answer,
//! and the process's peak resident memory grows by at most the stated budget:
//! `image.max_concurrent_decodes` × 160 MiB (one decoded 40 MP RGB picture is
//! 114 MiB; its working copy and the model's buffers are small) plus 160 MiB for the
//! request bodies in flight (8 × ~4 MB, copied along gateway → Thrift → service).
//! Without the bound on concurrent decodes the eight would take about a gigabyte.
//! See docs/image-search.md ("Memory").

use std::time::Duration;

use fanone_testkit::{Fanone, Reply, picture};
use image::{ImageEncoder, codecs::jpeg::JpegEncoder};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");
const SLOTS: u64 = 2;
const MIB: u64 = 1 << 20;

/// `VmHWM` (peak resident set) or `VmRSS` of `pid`, in bytes.
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} missing"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad line {line}"));
    kib * 1024
}

/// An 8000 × 5000 JPEG (40 megapixels): smooth colour fields and a grid, a few MB.
fn forty_megapixels() -> Vec<u8> {
    let (w, h) = (8000u32, 5000u32);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w);
        let grid = if x % 400 < 8 || y % 400 < 8 { 60 } else { 0 };
        px[0] = ((x * 255 / w) as u8).saturating_sub(grid);
        px[1] = ((y * 255 / h) as u8).saturating_sub(grid);
        px[2] = (((x + y) / 50) % 256) as u8;
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 70)
        .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    out
}

#[tokio::test]
async fn eight_concurrent_40_megapixel_queries_stay_within_the_memory_budget() {
    let big = tokio::task::spawn_blocking(forty_megapixels).await.unwrap();
    assert!(big.len() < 10 << 20, "{} bytes", big.len());
    let app = Fanone::start_with(
        BIN,
        &[
            ("FANONE__IMAGE__MAX_CONCURRENT_DECODES", "2"),
            ("FANONE__IMAGE__DECODE_WAIT_MS", "600000"),
            ("FANONE__SERVICES__IMAGE__TIMEOUT_MS", "600000"),
        ],
    )
    .await;
    let pid = app.pid("standalone").expect("pid");

    // one indexed picture, and one small search, so that everything is warm
    let (_, tokens) = app.user("mem").await;
    app.upload_avatar(&tokens, "a.jpg", picture("chelsea.jpg"))
        .await;
    for _ in 0..300 {
        if app.image_search(picture("chelsea.jpg"), None).await.code() == 10000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = proc_status(pid, "VmHWM:");

    // a client of its own: eight 40 MP queries through two slots take a while in a
    // debug build
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let queries = (0..8).map(|_| {
        let form = reqwest::multipart::Form::new().part(
            "data",
            reqwest::multipart::Part::bytes(big.clone()).file_name("big.jpg"),
        );
        let req = http.post(app.at("/user/image/search")).multipart(form);
        async move { Reply::read(req.send().await).await }
    });
    let started = std::time::Instant::now();
    let replies = futures::future::join_all(queries).await;
    println!("8 queries answered in {:?}", started.elapsed());
    for r in &replies {
        assert_eq!(r.code(), 10000, "{}", r.body);
    }
    let peak = proc_status(pid, "VmHWM:");
    let grew = peak.saturating_sub(before);
    let budget = SLOTS * 160 * MIB + 160 * MIB;
    println!(
        "peak RSS {} MiB before, {} MiB after 8 concurrent 40 MP queries (+{} MiB, budget {} MiB)",
        before / MIB,
        peak / MIB,
        grew / MIB,
        budget / MIB
    );
    assert!(
        grew <= budget,
        "peak grew by {} MiB, over the {} MiB budget",
        grew / MIB,
        budget / MIB
    );
    // and the memory is given back
    let rss = proc_status(pid, "VmRSS:");
    assert!(
        rss < before + 2 * 160 * MIB,
        "{} MiB resident after the queries",
        rss / MIB
    );
}
