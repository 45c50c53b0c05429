//! Search latency of the vector stores at image-search scale.
//!
//! ```text
//! cargo run --release -p fanone-vector --example latency -- [--milvus URL] [--n 10000]
//!     [--dim 1280] [--queries 400] [--clients 1,8] [--views 1]
//! ```
//! Indexes `n` seeded random unit vectors into a fresh `FlatIndex` (a temp file) and, with
//! `--milvus`, into a fresh collection on that server (dropped afterwards), then runs top-10
//! searches from 1 and 8 concurrent clients and prints p50/p99 per store. With `--views N`
//! each search asks for the best of N query vectors at depth 100 (`search_best_of`, as
//! a multi-view image query does). Numbers and the
//! server used are recorded in `docs/vector-store.md`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use fanone_vector::{FlatIndex, Hit, MilvusStore, VectorStore};

struct Args {
    milvus: Option<String>,
    n: usize,
    dim: usize,
    queries: usize,
    clients: Vec<usize>,
    views: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        milvus: None,
        n: 10_000,
        dim: 1280,
        queries: 400,
        clients: vec![1, 8],
        views: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--milvus" => a.milvus = Some(value()),
            "--n" => a.n = value().parse().expect("--n"),
            "--dim" => a.dim = value().parse().expect("--dim"),
            "--queries" => a.queries = value().parse().expect("--queries"),
            "--views" => a.views = value().parse().expect("--views"),
            "--clients" => {
                a.clients = value()
                    .split(',')
                    .map(|c| c.parse().expect("--clients"))
                    .collect()
            }
            _ => panic!("unknown argument {flag}"),
        }
    }
    a
}

/// splitmix64, so every run indexes and queries the same vectors.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Index `data`, then measure top-10 searches for each client count.
async fn measure<S: VectorStore>(
    name: &str,
    store: Arc<S>,
    data: &[(i64, Vec<f32>)],
    queries: &Arc<Vec<Vec<f32>>>,
    args: &Args,
) -> Vec<Vec<Hit>> {
    let start = Instant::now();
    for chunk in data.chunks(2000) {
        store.upsert_many(chunk).await.expect("upsert");
    }
    let load = start.elapsed();
    assert_eq!(store.len().await.unwrap(), data.len() as u64);
    println!(
        "{name}: indexed {} × {}-d in {:.2} s",
        data.len(),
        args.dim,
        load.as_secs_f64()
    );
    // warm-up, and the answers for a cross-check between stores
    let mut answers = Vec::new();
    for q in queries.iter().take(20) {
        answers.push(store.search(q, 10).await.unwrap());
    }
    for &clients in &args.clients {
        let per_client = (args.queries / clients).max(1);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (store, queries, views) = (store.clone(), queries.clone(), args.views);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let at = (c * per_client + i) % queries.len();
                    let t = Instant::now();
                    if views == 1 {
                        let hits = store.search(&queries[at], 10).await.expect("search");
                        assert_eq!(hits.len(), 10);
                    } else {
                        let q: Vec<Vec<f32>> = (0..views)
                            .map(|v| queries[(at + v) % queries.len()].clone())
                            .collect();
                        let hits = store.search_best_of(&q, 100).await.expect("search");
                        assert_eq!(hits.len(), 100);
                    }
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut lat: Vec<Duration> = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let wall = start.elapsed();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
        let mean = lat.iter().sum::<Duration>() / lat.len() as u32;
        println!(
            "{name}: {}, {clients} client(s), {} searches: p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms, max {:.2} ms, {:.0} searches/s",
            if args.views == 1 {
                "top-10".to_owned()
            } else {
                format!("best of {} views, top-100", args.views)
            },
            lat.len(),
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(mean),
            ms(*lat.last().unwrap()),
            lat.len() as f64 / wall.as_secs_f64()
        );
    }
    answers
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let mut rng = Rng(2024);
    let data: Vec<(i64, Vec<f32>)> = (0..args.n as i64)
        .map(|id| (id, rng.unit(args.dim)))
        .collect();
    let queries = Arc::new((0..1000).map(|_| rng.unit(args.dim)).collect::<Vec<_>>());
    println!(
        "{} cores available; tokio multi-thread runtime",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let flat = Arc::new(FlatIndex::open(dir.path().join("bench.vec"), args.dim).expect("open"));
    let flat_answers = measure("FlatIndex", flat, &data, &queries, &args).await;

    if let Some(url) = &args.milvus {
        let collection = format!("fanone_latency_{}", std::process::id());
        let store = MilvusStore::connect(url, &collection, args.dim)
            .await
            .expect("connect to Milvus");
        let store = Arc::new(store);
        let answers = measure("Milvus", store.clone(), &data, &queries, &args).await;
        let same = flat_answers
            .iter()
            .zip(&answers)
            .filter(|(a, b)| {
                a.iter().map(|h| h.id).collect::<Vec<_>>()
                    == b.iter().map(|h| h.id).collect::<Vec<_>>()
            })
            .count();
        println!(
            "top-10 lists identical in both stores: {same} of {}",
            answers.len()
        );
        store.drop_collection().await.expect("drop collection");
    }
}
