//! Retrieval evaluation over the set built by `bench/image/prepare.py`.
//!
//! ```text
//! cargo run --release -p fanone-embed --example eval -- bench/image/data [models/effnet_lite0_emb.onnx]
//! ```
//!
//! Indexes every `index/*.png`, queries with every `query/<edit>/<base>.jpg` (its true
//! match is `index/<base>.png`), ranks by dot product (= cosine: unit vectors), and
//! prints recall@1/@5 per edit, cosine statistics, the misses, and the latency of
//! decode, preprocessing and inference per image (one thread, as in the service).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Instant,
};

use fanone_embed::{DEFAULT_MODEL_PATH, Limits, TractEmbedder, decode, preprocess};

type Error = Box<dyn std::error::Error>;

#[derive(Default)]
struct Timings {
    decode: Vec<f64>,
    preprocess: Vec<f64>,
    infer: Vec<f64>,
    total: Vec<f64>,
}

fn embed(e: &TractEmbedder, path: &Path, t: &mut Timings) -> Result<Vec<f32>, Error> {
    let bytes = std::fs::read(path)?;
    let t0 = Instant::now();
    let img = decode(&bytes, &Limits::default())?;
    let t1 = Instant::now();
    let input = preprocess(&img)?;
    let t2 = Instant::now();
    let v = e.embed_input(&input)?;
    let t3 = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    t.decode.push(ms(t0, t1));
    t.preprocess.push(ms(t1, t2));
    t.infer.push(ms(t2, t3));
    t.total.push(ms(t0, t3));
    Ok(v)
}

fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, Error> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    Ok(v)
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    // nearest-rank percentile
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank - 1]
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "bench/image/data".into()));
    let model = args.next().unwrap_or_else(|| DEFAULT_MODEL_PATH.into());

    let t = Instant::now();
    let e = TractEmbedder::load(&model)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut timings = Timings::default();
    let index_files = files(&dir.join("index"), "png")?;
    // warm-up (first run allocates scratch space), not timed
    embed(&e, &index_files[0], &mut Timings::default())?;
    let mut names = Vec::new();
    let mut index = Vec::new();
    for p in &index_files {
        names.push(stem(p));
        index.push(embed(&e, p, &mut timings)?);
    }

    let mut edits: Vec<PathBuf> = std::fs::read_dir(dir.join("query"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    edits.sort();

    struct Row {
        n: usize,
        r1: usize,
        r5: usize,
        /// rank 1 when the other half of the same photo is left out of the index
        r1_no_sibling: usize,
        true_cos: Vec<f32>,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut unrelated: Vec<f32> = Vec::new();
    let mut sibling: Vec<f32> = Vec::new();
    for edit_dir in &edits {
        let edit = stem(edit_dir);
        let row = rows.entry(edit.clone()).or_insert(Row {
            n: 0,
            r1: 0,
            r5: 0,
            r1_no_sibling: 0,
            true_cos: Vec::new(),
        });
        for q in files(edit_dir, "jpg")? {
            let base = stem(&q);
            let Some(truth) = names.iter().position(|n| *n == base) else {
                return Err(format!("{}: no index/{base}.png", q.display()).into());
            };
            let v = embed(&e, &q, &mut timings)?;
            let scores: Vec<f32> = index.iter().map(|x| dot(&v, x)).collect();
            let true_score = scores[truth];
            let rank = 1 + scores.iter().filter(|&&s| s > true_score).count();
            row.n += 1;
            row.r1 += usize::from(rank == 1);
            row.r5 += usize::from(rank <= 5);
            let sib = sibling_of(&base);
            let beaten_by_other = scores
                .iter()
                .enumerate()
                .any(|(i, &s)| s > true_score && names[i] != sib);
            row.r1_no_sibling += usize::from(!beaten_by_other);
            row.true_cos.push(true_score);
            for (i, s) in scores.iter().enumerate() {
                if i == truth {
                    continue;
                }
                if names[i] == sib {
                    sibling.push(*s);
                } else {
                    unrelated.push(*s);
                }
            }
            if rank > 1 {
                let (top, top_s) = scores
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .unwrap();
                misses.push(format!(
                    "| {edit} | {base} | {rank} | {true_score:.3} | {}{} | {top_s:.3} |",
                    names[top],
                    if names[top] == sib {
                        " (other half)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }

    let (n, r1, r5, r1ns) = rows.values().fold((0, 0, 0, 0), |(n, a, b, c), r| {
        (n + r.n, a + r.r1, b + r.r5, c + r.r1_no_sibling)
    });
    println!(
        "index: {} images, queries: {n} ({} edits), model {model} (load {load_ms:.0} ms)\n",
        names.len(),
        rows.len()
    );
    println!(
        "| edit | queries | R@1 | R@5 | R@1 without the other half | cosine to original: mean | min |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (edit, r) in &rows {
        let mean = r.true_cos.iter().sum::<f32>() / r.true_cos.len() as f32;
        let min = r.true_cos.iter().copied().fold(f32::INFINITY, f32::min);
        println!(
            "| {edit} | {} | {:.3} | {:.3} | {:.3} | {mean:.3} | {min:.3} |",
            r.n,
            r.r1 as f64 / r.n as f64,
            r.r5 as f64 / r.n as f64,
            r.r1_no_sibling as f64 / r.n as f64
        );
    }
    println!(
        "| **all** | {n} | **{:.3}** | **{:.3}** | **{:.3}** | | |\n",
        r1 as f64 / n as f64,
        r5 as f64 / n as f64,
        r1ns as f64 / n as f64
    );
    let stats = |v: &[f32]| {
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (mean, max)
    };
    let (um, ux) = stats(&unrelated);
    let (sm, sx) = stats(&sibling);
    println!(
        "cosine, query vs unrelated originals: mean {um:.3}, max {ux:.3}; vs the other half of its photo: mean {sm:.3}, max {sx:.3}\n"
    );
    if !misses.is_empty() {
        println!("misses (rank > 1):\n");
        println!("| edit | base | rank | cosine to original | top-1 | its cosine |");
        println!("|---|---|---|---|---|---|");
        for m in &misses {
            println!("{m}");
        }
        println!();
    }
    println!(
        "latency per image, ms, one thread ({} images: index + queries)\n",
        timings.total.len()
    );
    println!("| stage | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (stage, v) in [
        ("decode", &timings.decode),
        (
            "preprocess (composite, resize, normalise)",
            &timings.preprocess,
        ),
        ("inference (tract)", &timings.infer),
        ("total", &timings.total),
    ] {
        println!(
            "| {stage} | {:.1} | {:.1} | {:.1} |",
            pct(v, 50.0),
            pct(v, 99.0),
            pct(v, 100.0)
        );
    }
    Ok(())
}

/// `x_a` ↔ `x_b`: the other half of the same source photo.
fn sibling_of(base: &str) -> String {
    match base.strip_suffix("_a") {
        Some(s) => format!("{s}_b"),
        None => format!("{}_a", base.strip_suffix("_b").unwrap_or(base)),
    }
}
