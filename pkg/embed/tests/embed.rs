//! The embedder with the real model (`models/effnet_lite0_emb.onnx`).
//!
//! Golden values: see docs/image-embedding.md ("Golden test"). To re-check them against
//! onnxruntime, run this test with `FANONE_EMBED_DUMP=<dir>` (it writes the exact input
//! tensors and embeddings as raw little-endian f32) and then
//! `python3 bench/image/golden.py <dir>`.

use std::sync::OnceLock;

use fanone_embed::{DIM, Embedder, Limits, TractEmbedder, decode, preprocess};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/effnet_lite0_emb.onnx"
);

fn embedder() -> &'static TractEmbedder {
    static E: OnceLock<TractEmbedder> = OnceLock::new();
    E.get_or_init(|| TractEmbedder::load(MODEL).expect("load model"))
}

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

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

fn read_f32(name: &str) -> Vec<f32> {
    data(name)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
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
                0.009119719,
                0.016767967,
                0.0,
                0.0049736393,
                0.0,
                0.014556885,
                0.0076599806,
            ],
        ),
        (
            "camera.png",
            [
                0.022651369,
                0.0,
                0.004378574,
                0.0,
                0.0,
                0.0017430747,
                0.052440833,
                0.0,
            ],
        ),
    ];
    let dump = std::env::var_os("FANONE_EMBED_DUMP").map(std::path::PathBuf::from);
    let mut got = Vec::new();
    for (name, _) in GOLDEN {
        let img = decode(&data(name), &Limits::default()).unwrap();
        let input = preprocess(&img);
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
    let index = [
        "astronaut.jpg",
        "chelsea.jpg",
        "coffee.jpg",
        "china.jpg",
        "flower.jpg",
        "hubble.jpg",
        "camera.png",
        "coins.gif",
        "rocket.webp",
    ];
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
