//! The cost of each stage of a query, per image, over a directory of pictures, on
//! each model runtime:
//!
//! ```text
//! cargo run --release -p fanone-embed --example speed -- bench/image/hard/query [N] [LIB]
//! ```
//!
//! For up to `N` files (default 200, every kind in turn) it times the decode (a large
//! JPEG scaled while decoding, as the image service does), the working copy, the whole
//! picture's embedding, finding the other views (`query_views`), their embeddings and
//! the colour layouts of every view, on tract, and, given `LIB` (the `libonnxruntime.so` that `scripts/onnxruntime.sh
//! install` prints), on ONNX Runtime with one session (views one after the other) and
//! with one session per core (views in parallel). Prints p50/p90/p99 per stage in
//! milliseconds.

use std::{path::PathBuf, time::Instant};

use fanone_embed::{
    DEFAULT_MODEL_PATH, Embedder, Limits, OrtEmbedder, QueryLayout, Rect, TractEmbedder, WORK_SIDE,
    decode_reduced, query_views, working,
};

type Error = Box<dyn std::error::Error>;

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

fn files(dir: &PathBuf, n: usize) -> Result<Vec<PathBuf>, Error> {
    let mut by_kind: Vec<Vec<PathBuf>> = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&e)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            v.sort();
            by_kind.push(v);
        } else {
            by_kind.push(vec![e]);
        }
    }
    // round robin over the kinds
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n && by_kind.iter().any(|k| i < k.len()) {
        for k in &by_kind {
            if let Some(f) = k.get(i)
                && out.len() < n
            {
                out.push(f.clone());
            }
        }
        i += 1;
    }
    Ok(out)
}

#[derive(Default)]
struct Stages {
    decode: Vec<f64>,
    working: Vec<f64>,
    whole: Vec<f64>,
    views: Vec<f64>,
    find: Vec<f64>,
    layouts: Vec<f64>,
    n_views: Vec<f64>,
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: speed <dir> [N] [libonnxruntime.so]")?,
    );
    let n: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    let lib = args.next();
    let paths = files(&dir, n)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runtimes: Vec<(String, Box<dyn Embedder>)> = vec![(
        "tract".into(),
        Box::new(TractEmbedder::load(DEFAULT_MODEL_PATH)?),
    )];
    if let Some(lib) = &lib {
        for sessions in [1, cores] {
            runtimes.push((
                format!("ONNX Runtime, {sessions} session(s)"),
                Box::new(OrtEmbedder::load(lib, DEFAULT_MODEL_PATH, sessions)?),
            ));
        }
    }
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    for (name, e) in &runtimes {
        let mut s = Stages::default();
        for path in &paths {
            let bytes = std::fs::read(path)?;
            let t = Instant::now();
            let img = decode_reduced(&bytes, &Limits::default(), WORK_SIDE)?;
            s.decode.push(ms(t));
            let t = Instant::now();
            let work = working(&img)?;
            s.working.push(ms(t));
            let (w, h) = work.dimensions();
            let t = Instant::now();
            e.embed_views(&work, &[Rect::whole(w, h)])?;
            s.whole.push(ms(t));
            let t = Instant::now();
            let views = query_views(&work);
            s.find.push(ms(t));
            let t = Instant::now();
            e.embed_views(&work, &views)?;
            s.views.push(ms(t));
            let t = Instant::now();
            let mut all = vec![Rect::whole(w, h)];
            all.extend(&views);
            QueryLayout::new(&work, &all)?;
            s.layouts.push(ms(t));
            s.n_views.push(views.len() as f64);
        }
        println!("## {} images, {name}", paths.len());
        println!("| stage | p50 ms | p90 ms | p99 ms |");
        println!("|---|---|---|---|");
        for (stage, v) in [
            ("decode", &s.decode),
            ("working copy (≤1024 px)", &s.working),
            ("whole picture", &s.whole),
            ("finding the views (`query_views`)", &s.find),
            ("other views", &s.views),
            ("colour layouts of every view", &s.layouts),
        ] {
            println!(
                "| {stage} | {:.1} | {:.1} | {:.1} |",
                pct(v, 50.0),
                pct(v, 90.0),
                pct(v, 99.0)
            );
        }
        let mean_views = s.n_views.iter().sum::<f64>() / s.n_views.len().max(1) as f64;
        println!("(other views per query: {mean_views:.2} on average)\n");
    }
    Ok(())
}
