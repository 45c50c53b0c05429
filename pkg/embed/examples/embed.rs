//! Prints the embedding of each image given: `cargo run -p fanone-embed --example embed -- <model.onnx> <image>...`
use std::time::Instant;

use fanone_embed::{Embedder, Limits, TractEmbedder, decode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().ok_or("usage: embed <model.onnx> <image>...")?;
    let t = Instant::now();
    let embedder = TractEmbedder::load(&model)?;
    eprintln!("loaded {model} in {:?}", t.elapsed());
    for path in args {
        let t = Instant::now();
        let img = decode(&std::fs::read(&path)?, &Limits::default())?;
        let v = embedder.embed(&img)?;
        eprintln!("{path}: {:?}", t.elapsed());
        println!("{path} {:?}", &v[..8]);
    }
    Ok(())
}
