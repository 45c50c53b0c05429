//! What the test files of this crate share: the model, the test pictures, tract.

use std::sync::OnceLock;

use fanone_embed::TractEmbedder;

pub const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/effnet_lite0_emb.onnx"
);

/// The test pictures of every format, as indexed by the retrieval tests.
pub const INDEX: [&str; 9] = [
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

/// The model on tract, loaded once per test binary.
pub fn tract() -> &'static TractEmbedder {
    static E: OnceLock<TractEmbedder> = OnceLock::new();
    E.get_or_init(|| TractEmbedder::load(MODEL).expect("load model on tract"))
}

/// The bytes of `tests/data/<name>`.
pub fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `tests/data/<name>` as little-endian f32 values.
pub fn read_f32(name: &str) -> Vec<f32> {
    data(name)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
