//! `decode` on hostile and ordinary input (no model needed).

use std::time::{Duration, Instant};

use fanone_embed::{EmbedError, Limits, decode, decode_reduced};
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

/// `img` as a baseline JPEG (quality 90), with an EXIF orientation when given.
fn jpeg(img: &image::DynamicImage, orientation: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(img)
        .expect("encode");
    let Some(o) = orientation else {
        return out;
    };
    // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112)
    let mut app1 = vec![0xFF, 0xE1, 0x00, 0x22];
    app1.extend_from_slice(b"Exif\0\0MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0");
    app1.extend_from_slice(&[o, 0, 0, 0, 0, 0, 0]);
    [&out[..2], &app1, &out[2..]].concat()
}

/// Mean absolute difference of two same-size images, grey levels.
fn mad(a: &image::DynamicImage, b: &image::DynamicImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (a, b) = (a.to_luma8(), b.to_luma8());
    a.pixels()
        .zip(b.pixels())
        .map(|(p, q)| f64::from((i32::from(p[0]) - i32::from(q[0])).abs()))
        .sum::<f64>()
        / f64::from(a.width() * a.height())
}

/// The astronaut enlarged to `side` × `side`.
fn large(side: u32) -> image::DynamicImage {
    let small = decode(&data("astronaut.jpg"), &Limits::default()).unwrap();
    small.resize_exact(side, side, image::imageops::FilterType::Triangle)
}

#[test]
fn a_large_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_size_asked() {
    let big = large(2304);
    let bytes = jpeg(&big, None);
    let limits = Limits::default();
    let full = decode(&bytes, &limits).unwrap();
    assert_eq!(full.dimensions(), (2304, 2304));
    // 1/2 keeps 1152 ≥ 1024; 1/4 (576) would not
    let half = decode_reduced(&bytes, &limits, 1024).unwrap();
    assert_eq!(half.dimensions(), (1152, 1152));
    assert_eq!(
        decode_reduced(&bytes, &limits, 500).unwrap().dimensions(),
        (576, 576)
    );
    assert_eq!(
        decode_reduced(&bytes, &limits, 10).unwrap().dimensions(),
        (288, 288),
        "1/8 is the smallest scale"
    );
    assert_eq!(
        decode_reduced(&bytes, &limits, 2000).unwrap().dimensions(),
        (2304, 2304),
        "no scale keeps 2000: decoded in full"
    );
    // the same picture: the full decode brought to the same size differs by JPEG
    // noise only (a different picture: ~50)
    let shrunk = full.resize_exact(1152, 1152, image::imageops::FilterType::Triangle);
    let d = mad(&half, &shrunk);
    assert!(d < 3.0, "mean abs diff {d}");
    // and so do the working copies made from either
    let (a, b) = (
        fanone_embed::working(&half).unwrap(),
        fanone_embed::working(&full).unwrap(),
    );
    let d = mad(&a.into(), &b.into());
    assert!(d < 3.0, "working copies: mean abs diff {d}");
}

#[test]
fn a_scaled_jpeg_keeps_its_exif_orientation_and_grey_stays_grey() {
    let upright = large(2048);
    // stored turned 90° counter-clockwise, tagged "rotate 90° clockwise to view"
    let stored = jpeg(&upright.rotate270(), Some(6));
    let limits = Limits::default();
    let seen = decode_reduced(&stored, &limits, 1024).unwrap();
    assert_eq!(seen.dimensions(), (1024, 1024));
    let want = upright.resize_exact(1024, 1024, image::imageops::FilterType::Triangle);
    let d = mad(&seen, &want);
    assert!(d < 4.0, "mean abs diff {d}");

    let grey = image::DynamicImage::ImageLuma8(upright.to_luma8());
    let grey = jpeg(&grey, None);
    let full = decode(&grey, &limits).unwrap();
    let seen = decode_reduced(&grey, &limits, 512).unwrap();
    assert_eq!(seen.dimensions(), (512, 512));
    assert_eq!(seen.color(), full.color());
}

#[test]
fn a_scaled_decode_refuses_what_decode_refuses() {
    let bytes = jpeg(&large(2304), None);
    let small = Limits {
        max_pixels: 2000 * 2000,
        ..Limits::default()
    };
    // the header check comes first, whatever size the pixels would be decoded at
    assert!(matches!(
        decode_reduced(&bytes, &small, 256),
        Err(EmbedError::TooLarge(_))
    ));
    // a cut-off file is refused, not decoded as half a picture
    let cut = &bytes[..bytes.len() / 2];
    assert!(matches!(
        decode_reduced(cut, &Limits::default(), 256),
        Err(EmbedError::Decode(_))
    ));
}
