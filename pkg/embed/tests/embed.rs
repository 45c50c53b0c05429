//! The embedder with the real model (`models/effnet_lite0_emb.onnx`).
//!
//! Golden values: see docs/image-embedding.md ("Golden test"). To re-check them against
//! onnxruntime, run this test with `FANONE_EMBED_DUMP=<dir>` (it writes the exact input
//! tensors and embeddings as raw little-endian f32) and then
//! `python3 bench/image/golden.py <dir>`.

mod common;

use common::{INDEX, data, read_f32, tract as embedder};
use fanone_embed::{DIM, Embedder, Limits, TractEmbedder, decode, preprocess};

fn embed(name: &str) -> Vec<f32> {
    let img = decode(&data(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let v = embedder().embed(&img).unwrap();
    assert_eq!(v.len(), DIM);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{name}: norm {norm}");
    v
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn write_f32(path: &std::path::Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

/// Two lossless test images (PNG decoding is exact on every platform, unlike JPEG's
/// IDCT): `coffee_alpha.png` (RGBA, upscaled: alpha compositing) and `camera.png`
/// (grey, downscaled). For each: the first 8 values of the embedding, and the whole
/// embedding that onnxruntime computes from the same input tensor
/// (`tests/data/<name>.ort.f32`, written by `bench/image/golden.py --write`): a change
/// in preprocessing or inference moves both. tract and onnxruntime agree to ~2e-7;
/// the tolerance leaves room for other SIMD paths.
#[test]
fn golden_first_values() {
    const GOLDEN: [(&str, [f32; 8]); 2] = [
        (
            "coffee_alpha.png",
            [
                0.0,
                0.00786889,
                0.018748662,
                0.0,
                0.0063828146,
                0.0,
                0.014892068,
                0.007590835,
            ],
        ),
        (
            "camera.png",
            [
                0.021574957,
                0.0,
                0.0044420636,
                0.0,
                0.0,
                0.0030248906,
                0.05448833,
                0.0,
            ],
        ),
    ];
    let dump = std::env::var_os("FANONE_EMBED_DUMP").map(std::path::PathBuf::from);
    let mut got = Vec::new();
    for (name, _) in GOLDEN {
        let img = decode(&data(name), &Limits::default()).unwrap();
        let input = preprocess(&img).unwrap();
        let v = embedder().embed_input(&input).unwrap();
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).unwrap();
            write_f32(&dir.join(format!("{name}.input.f32")), &input);
            write_f32(&dir.join(format!("{name}.embedding.f32")), &v);
        }
        println!("{name}: {:?}", &v[..8]);
        // the trait path is the same computation
        assert_eq!(embedder().embed(&img).unwrap(), v);
        got.push(v);
    }
    for ((name, expect), v) in GOLDEN.iter().zip(&got) {
        for (i, (a, b)) in v.iter().zip(expect).enumerate() {
            assert!(
                (a - b).abs() < 1e-4,
                "{name}[{i}]: {a} != {b}; first 8: {:?}",
                &v[..8]
            );
        }
        let reference = read_f32(&format!("{name}.ort.f32"));
        assert_eq!(reference.len(), DIM);
        let worst = v
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{name}: max |tract - onnxruntime| = {worst}");
    }
}

#[test]
fn an_edited_copy_finds_its_original_at_rank_1() {
    let index = INDEX;
    let vectors: Vec<Vec<f32>> = index.iter().map(|n| embed(n)).collect();
    // resized, cropped to 80 %, mirrored, brightened, JPEG q60
    let query = embed("chelsea_edited.jpg");
    let mut ranked: Vec<(f32, &str)> = vectors
        .iter()
        .zip(index)
        .map(|(v, n)| (cos(&query, v), n))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("{ranked:?}");
    assert_eq!(ranked[0].1, "chelsea.jpg", "{ranked:?}");
    // and with a margin
    assert!(ranked[0].0 - ranked[1].0 > 0.1, "{ranked:?}");
}

#[test]
fn exif_rotated_jpeg_embeds_like_the_upright_image() {
    let c = cos(&embed("astronaut.jpg"), &embed("astronaut_exif6.jpg"));
    println!("EXIF-rotated vs upright: cosine {c}");
    assert!(c > 0.99, "cosine {c}");
}

#[test]
fn alpha_is_composited_on_white() {
    // Pillow's composite on white of the same RGBA pixels
    let c = cos(
        &embed("coffee_alpha.png"),
        &embed("coffee_alpha_on_white.png"),
    );
    println!("RGBA vs Pillow's composite on white: cosine {c}");
    assert!(c > 0.999, "cosine {c}");
}

#[test]
fn one_embedder_serves_threads_concurrently() {
    let img = decode(&data("flower.jpg"), &Limits::default()).unwrap();
    let alone = embedder().embed(&img).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| embedder().embed(&img).unwrap()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), alone);
        }
    });
}

#[test]
fn a_missing_or_wrong_model_is_an_error() {
    assert!(matches!(
        TractEmbedder::load("/nonexistent/model.onnx"),
        Err(fanone_embed::EmbedError::Model(_))
    ));
    let not_onnx = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/camera.png");
    assert!(matches!(
        TractEmbedder::load(not_onnx),
        Err(fanone_embed::EmbedError::Model(_))
    ));
}

#[test]
fn a_batch_embeds_like_one_input_at_a_time() {
    let names = ["chelsea.jpg", "camera.png", "rocket.webp"];
    let mut batch = Vec::new();
    let mut alone = Vec::new();
    for name in names {
        let input = preprocess(&decode(&data(name), &Limits::default()).unwrap()).unwrap();
        alone.push(embedder().embed_input(&input).unwrap());
        batch.extend_from_slice(&input);
    }
    let together = embedder().embed_inputs(&batch, names.len()).unwrap();
    assert_eq!(together.len(), names.len());
    for ((name, a), b) in names.iter().zip(&alone).zip(&together) {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "{name}: batch differs by {worst}");
    }
    // a batch of the wrong length is an error, not a panic
    assert!(embedder().embed_inputs(&batch[1..], 3).is_err());
    assert!(embedder().embed_inputs(&[], 0).is_err());
}

/// A screenshot: the picture at a third of the width of a flat page with a title bar,
/// text lines and a side panel.
fn screenshot_of(name: &str) -> fanone_embed::DynamicImage {
    use image::{GenericImage, Rgb, RgbImage, imageops::FilterType};
    let pic = decode(&data(name), &Limits::default()).unwrap().to_rgb8();
    let mut page = RgbImage::from_pixel(1280, 800, Rgb([246, 246, 248]));
    for y in 0..48 {
        for x in 0..1280 {
            page.put_pixel(x, y, Rgb([52, 56, 64])); // title bar
        }
    }
    for line in 0..20 {
        let y = 120 + line * 30;
        for x in 40..(240 + (line * 53) % 160) {
            for dy in 0..8 {
                page.put_pixel(x, y + dy, Rgb([90, 90, 96])); // text in the side panel
            }
        }
    }
    let (w, h) = pic.dimensions();
    let tw = 460;
    let th = (h * tw / w).min(560);
    let small = image::imageops::resize(&pic, tw, th, FilterType::Triangle);
    page.copy_from(&small, 560, 140).unwrap();
    fanone_embed::DynamicImage::ImageRgb8(page)
}

#[test]
fn a_picture_framed_by_a_page_is_found_by_one_of_the_query_views() {
    let index = INDEX;
    let vectors: Vec<Vec<f32>> = index.iter().map(|n| embed(n)).collect();
    for target in ["chelsea.jpg", "coffee.jpg", "hubble.jpg"] {
        let work = fanone_embed::working(&screenshot_of(target)).unwrap();
        let (w, h) = work.dimensions();
        let mut views = vec![fanone_embed::Rect::whole(w, h)];
        views.extend(fanone_embed::query_views(&work));
        assert_eq!(
            views.len(),
            4,
            "whole, the framed picture, two centre crops"
        );
        let query = embedder().embed_views(&work, &views).unwrap();
        let best = |v: &Vec<f32>| query.iter().map(|q| cos(q, v)).fold(f32::MIN, f32::max);
        let mut ranked: Vec<(f32, f32, &str)> = vectors
            .iter()
            .zip(index)
            .map(|(v, n)| (best(v), cos(&query[0], v), n))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        println!("{target}: (best view, whole) {ranked:?}");
        assert_eq!(ranked[0].2, target, "{ranked:?}");
        // the view that found it is close to the stored picture
        assert!(ranked[0].0 > 0.8, "{ranked:?}");
    }
}
