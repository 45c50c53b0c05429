//! `decode` on hostile and ordinary input (no model needed).

use std::time::{Duration, Instant};

use fanone_embed::{EmbedError, Limits, decode};
use image::GenericImageView;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_four_formats_decode() {
    for (name, dims) in [
        ("astronaut.jpg", (256, 256)),
        ("camera.png", (320, 320)),
        ("coins.gif", (192, 152)),
        ("rocket.webp", (256, 171)),
        ("coffee_alpha.png", (160, 107)),
    ] {
        let img = decode(&data(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(img.dimensions(), dims, "{name}");
    }
    let alpha = decode(&data("coffee_alpha.png"), &Limits::default()).unwrap();
    assert!(alpha.color().has_alpha());
}

#[test]
fn exif_orientation_is_applied() {
    let upright = decode(&data("astronaut.jpg"), &Limits::default()).unwrap();
    let rotated = decode(&data("astronaut_exif6.jpg"), &Limits::default()).unwrap();
    assert_eq!(rotated.dimensions(), upright.dimensions());
    // stored rotated 90° counter-clockwise: once oriented, pixels match the upright
    // image up to JPEG noise (mean absolute difference, not rotated: ~60)
    let (a, b) = (upright.to_luma8(), rotated.to_luma8());
    let mad = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| (i32::from(p[0]) - i32::from(q[0])).abs())
        .sum::<i32>() as f64
        / f64::from(a.width() * a.height());
    assert!(mad < 4.0, "mean abs diff {mad}");
}

fn assert_quick_refusal(bytes: &[u8], limits: &Limits, expect: fn(&EmbedError) -> bool) {
    let t = Instant::now();
    let err = decode(bytes, limits).expect_err("must be refused");
    assert!(expect(&err), "unexpected error: {err:?}");
    println!("refused in {:?}: {err}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn decompression_bombs_are_refused_from_the_header() {
    let too_large = |e: &EmbedError| matches!(e, EmbedError::TooLarge(_));
    // 50000 × 50000 declared by a 69-byte PNG: over max_side
    assert_quick_refusal(&data("bomb_side.png"), &Limits::default(), too_large);
    // 11000 × 11000: each side allowed, 121 Mpx is not
    assert_quick_refusal(&data("bomb_pixels.png"), &Limits::default(), too_large);
    // a JPEG whose header declares 60000 × 60000
    assert_quick_refusal(&data("bomb.jpg"), &Limits::default(), too_large);
    // the pixel budget applies to ordinary images too
    let small = Limits {
        max_pixels: 256 * 255,
        ..Limits::default()
    };
    assert_quick_refusal(&data("astronaut.jpg"), &small, too_large);
    let narrow = Limits {
        max_side: 255,
        ..Limits::default()
    };
    assert_quick_refusal(&data("astronaut.jpg"), &narrow, too_large);
}

#[test]
fn the_memory_budget_refuses_before_decoding() {
    // astronaut.jpg is 256×256 RGB: 192 KiB decoded
    let tight = Limits {
        max_decode_bytes: 128 << 10,
        ..Limits::default()
    };
    assert_quick_refusal(&data("astronaut.jpg"), &tight, |e| {
        matches!(e, EmbedError::TooLarge(_))
    });
    let roomy = Limits {
        max_decode_bytes: 1 << 20,
        ..Limits::default()
    };
    assert!(decode(&data("astronaut.jpg"), &roomy).is_ok());
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&data("astronaut.jpg"), &limits),
        Err(EmbedError::TooLarge(_))
    ));
}

#[test]
fn non_images_are_refused() {
    for bytes in [
        &b""[..],
        b"hello, I am a text file named cat.jpg\n",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        b"%PDF-1.7\n",
        b"BM\x36\0\0\0\0\0\0\0\x36\0\0\0", // BMP: a real image format, not accepted
    ] {
        assert!(
            matches!(
                decode(bytes, &Limits::default()),
                Err(EmbedError::NotAnImage)
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn truncated_and_corrupt_files_are_errors_not_panics() {
    let jpg = data("astronaut.jpg");
    for cut in [3, 20, 200, jpg.len() / 3, jpg.len() / 2] {
        let got = decode(&jpg[..cut], &Limits::default()).map(|i| i.dimensions());
        assert!(
            matches!(got, Err(EmbedError::Decode(_))),
            "cut {cut}: {got:?}"
        );
    }
    let png = data("camera.png");
    for cut in [8, 30, png.len() / 2, png.len() - 20] {
        let got = decode(&png[..cut], &Limits::default()).map(|i| i.dimensions());
        assert!(
            matches!(got, Err(EmbedError::Decode(_))),
            "cut {cut}: {got:?}"
        );
    }
    // valid magic, garbage after it
    let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
    garbage.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
    assert!(matches!(
        decode(&garbage, &Limits::default()),
        Err(EmbedError::Decode(_))
    ));
    for name in ["coins.gif", "rocket.webp"] {
        let bytes = data(name);
        let got = decode(&bytes[..bytes.len() / 2], &Limits::default()).map(|i| i.dimensions());
        assert!(got.is_err(), "{name}: truncated file decoded: {got:?}");
    }
}
