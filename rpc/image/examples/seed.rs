//! Fill the image service's table and vector store with `n` synthetic images
//! (random unit vectors, placeholder URLs) for latency measurements at scale.
//!
//!   cargo run --release -p fanone-image --example seed -- \
//!     <database_url> <vectors_file | milvus_url> <n> [milvus_collection]
//!
//! Run it before starting the service (the built-in index file is locked while the
//! service runs).

use fanone_image::store::{ImageRecord, ImageStore, SeaImageStore};
use fanone_vector::{FlatIndex, MilvusStore, VectorStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: seed <database_url> <vectors_file|milvus_url> <n> [collection]");
        std::process::exit(2);
    }
    let (db_url, target, n) = (&args[1], &args[2], args[3].parse::<i64>()?);
    let db = fanone_db::connect_and_migrate::<fanone_image::Migrator>(db_url).await?;
    let store = SeaImageStore::new(db);
    let dim = fanone_embed::DIM;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift: deterministic, no extra dependency
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let mut batch = Vec::with_capacity(1000);
    let mut vectors: Vec<(i64, Vec<f32>)> = Vec::new();
    for i in 1..=n {
        let mut v: Vec<f32> = (0..dim).map(|_| next()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        batch.push((i, v));
        if batch.len() == 1000 || i == n {
            vectors.append(&mut batch);
        }
    }
    for (id, _) in &vectors {
        let now = fanone_id::now_ms();
        let url = format!("http://seed.invalid/static/seed/{id}.jpg");
        store
            .get_or_insert(&ImageRecord::new(*id, &url, 3, 0, now))
            .await?;
        // each its own picture: a made-up hash, the vector keyed by the row's id
        let hash = format!("{id:064x}");
        let content = store.content_id(&hash, *id, now).await?;
        store.set_content(*id, &hash, content).await?;
        store.mark_indexed(*id, now).await?;
    }
    if target.starts_with("http://") || target.starts_with("https://") {
        let collection = args.get(4).map_or("fanone_images", String::as_str);
        let m = MilvusStore::connect(target, collection, dim).await?;
        for chunk in vectors.chunks(1000) {
            m.upsert_many(chunk).await?;
        }
        println!(
            "seeded {n} images into Milvus {target}/{collection}: {}",
            m.len().await?
        );
    } else {
        let f = FlatIndex::open(target, dim)?;
        for chunk in vectors.chunks(1000) {
            f.upsert_many(chunk).await?;
        }
        println!("seeded {n} images into {target}: {}", f.len().await?);
    }
    Ok(())
}
