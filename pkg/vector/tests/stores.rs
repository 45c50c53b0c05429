//! One behaviour test run against every store: the built-in `FlatIndex`, and `MilvusStore`
//! on a real Milvus server (`FANONE_TEST_MILVUS_URL`, set by `scripts/test.sh`; skipped
//! without it unless `FANONE_TEST_REQUIRE_MILVUS=1`). Then what only the file index does:
//! reopen, torn tails, compaction, locking.

use std::{
    fs::OpenOptions,
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
};

use fanone_vector::{FlatIndex, Hit, MilvusStore, VectorError, VectorStore};

const DIM: usize = 1280;
/// More than one Milvus insert batch (≤ 2000 rows, ≤ 4 MiB) and than the file index's
/// compaction minimum (1024 dead records).
const BULK: i64 = 2100;

/// splitmix64: a seeded generator, so every run uses the same vectors.
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
        normalize(v)
    }
}

fn normalize(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i] = 1.0;
    v
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn ids(hits: &[Hit]) -> Vec<i64> {
    hits.iter().map(|h| h.id).collect()
}

fn assert_close(got: f32, want: f32, what: &str) {
    assert!(
        (got - want).abs() < 1e-4,
        "{what}: score {got}, want {want}"
    );
}

/// The behaviour every store must have. `s` starts empty.
async fn exercise<S: VectorStore>(s: &S) {
    // empty store
    assert_eq!(s.len().await.unwrap(), 0);
    assert!(s.search(&axis(0), 5).await.unwrap().is_empty());

    // order and scores
    let mix = normalize({
        let mut v = axis(0);
        v[0] = 0.8;
        v[1] = 0.6;
        v
    });
    s.upsert(1, &axis(0)).await.unwrap();
    s.upsert(2, &axis(1)).await.unwrap();
    s.upsert(3, &mix).await.unwrap();
    let hits = s.search(&axis(0), 3).await.unwrap();
    assert_eq!(ids(&hits), vec![1, 3, 2]);
    assert_close(hits[0].score, 1.0, "exact match");
    assert_close(hits[1].score, 0.8, "mix");
    assert_close(hits[2].score, 0.0, "orthogonal");
    assert_eq!(ids(&s.search(&axis(1), 2).await.unwrap()), vec![2, 3]);
    assert!(s.search(&axis(0), 0).await.unwrap().is_empty());
    assert_eq!(s.search(&axis(0), 50).await.unwrap().len(), 3, "k > len");

    // upsert is idempotent and replaces
    s.upsert(1, &axis(0)).await.unwrap();
    s.upsert(2, &axis(2)).await.unwrap();
    s.upsert(2, &axis(2)).await.unwrap();
    assert_eq!(s.len().await.unwrap(), 3);
    let hits = s.search(&axis(0), 10).await.unwrap();
    assert_eq!(ids(&hits), vec![1, 3, 2], "one hit per id");
    let hits = s.search(&axis(2), 1).await.unwrap();
    assert_eq!(ids(&hits), vec![2]);
    assert_close(hits[0].score, 1.0, "replaced vector");
    assert_close(
        s.search(&axis(1), 3).await.unwrap()[0].score,
        0.6,
        "old vector gone",
    );

    // remove
    s.remove(3).await.unwrap();
    s.remove(3).await.unwrap();
    s.remove(999).await.unwrap();
    assert_eq!(s.len().await.unwrap(), 2);
    assert_eq!(ids(&s.search(&axis(0), 10).await.unwrap()), vec![1, 2]);

    // remove many: absent and repeated ids are fine; exactly the named ones go
    s.upsert_many(&[(20, axis(5)), (21, axis(6)), (22, axis(7))])
        .await
        .unwrap();
    assert_eq!(s.len().await.unwrap(), 5);
    s.remove_many(&[20, 22, 999, 20]).await.unwrap();
    assert_eq!(s.len().await.unwrap(), 3);
    assert_eq!(ids(&s.search(&axis(6), 1).await.unwrap()), vec![21]);
    for gone in [5, 7] {
        let hits = s.search(&axis(gone), 10).await.unwrap();
        assert!(
            hits.iter().all(|h| h.id != 20 && h.id != 22),
            "removed vectors are not found: {hits:?}"
        );
    }
    s.remove_many(&[]).await.unwrap();
    s.remove_many(&[21, 404]).await.unwrap();
    s.remove_many(&[21]).await.unwrap();
    assert_eq!(s.len().await.unwrap(), 2);
    assert_eq!(ids(&s.search(&axis(0), 10).await.unwrap()), vec![1, 2]);

    // dimension and value errors, nothing stored
    let short = vec![0.0; DIM - 1];
    let long = vec![0.0; DIM + 1];
    let mut nan = axis(0);
    nan[7] = f32::NAN;
    assert!(matches!(
        s.upsert(5, &short).await,
        Err(VectorError::Dimension { expected: DIM, got }) if got == DIM - 1
    ));
    assert!(matches!(
        s.search(&long, 3).await,
        Err(VectorError::Dimension { expected: DIM, got }) if got == DIM + 1
    ));
    assert!(matches!(
        s.upsert_many(&[(6, axis(3)), (7, short.clone())]).await,
        Err(VectorError::Dimension { .. })
    ));
    assert!(matches!(
        s.upsert(5, &nan).await,
        Err(VectorError::NonFinite)
    ));
    assert!(matches!(
        s.search(&[], 3).await,
        Err(VectorError::Dimension { .. })
    ));
    assert_eq!(s.len().await.unwrap(), 2);

    // bulk: more than one Milvus batch; a repeated id in a batch keeps its last vector
    let mut rng = Rng(42);
    let mut bulk: Vec<(i64, Vec<f32>)> = (0..BULK).map(|i| (1000 + i, rng.unit(DIM))).collect();
    s.upsert_many(&bulk).await.unwrap();
    let mut again: Vec<(i64, Vec<f32>)> = (0..50).map(|i| (1000 + i, rng.unit(DIM))).collect();
    again.push((1000, rng.unit(DIM)));
    s.upsert_many(&again).await.unwrap();
    for (id, v) in &again {
        bulk[(*id - 1000) as usize].1 = v.clone();
    }
    assert_eq!(s.len().await.unwrap(), 2 + BULK as u64);

    let mut all = bulk.clone();
    all.push((1, axis(0)));
    all.push((2, axis(2)));
    for probe in [0usize, 1, 49, 1999, 2099] {
        let (id, v) = &bulk[probe];
        let hits = s.search(v, 10).await.unwrap();
        assert_eq!(hits.len(), 10);
        assert_eq!(hits[0].id, *id, "a stored vector finds itself");
        assert_close(hits[0].score, 1.0, "self match");
    }
    for q in 0..5 {
        let query = rng.unit(DIM);
        let hits = s.search(&query, 10).await.unwrap();
        let mut want: Vec<f32> = all.iter().map(|(_, v)| dot(&query, v)).collect();
        want.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(hits.len(), 10);
        for (rank, hit) in hits.iter().enumerate() {
            assert_close(hit.score, want[rank], &format!("query {q} rank {rank}"));
            let stored = &all.iter().find(|(id, _)| *id == hit.id).unwrap().1;
            assert_close(dot(&query, stored), hit.score, "score is the inner product");
        }
        assert!(
            hits.windows(2).all(|w| w[0].score >= w[1].score),
            "best first"
        );
    }

    // best of several queries (the views of one picture): each id once, by its best
    // query, equal to the brute-force maximum
    let queries: Vec<Vec<f32>> = (0..4).map(|_| rng.unit(DIM)).collect();
    for k in [1usize, 7, 30] {
        let hits = s.search_best_of(&queries, k).await.unwrap();
        let mut want: Vec<(i64, f32)> = all
            .iter()
            .map(|(id, v)| {
                let best = queries.iter().map(|q| dot(q, v)).fold(f32::MIN, f32::max);
                (*id, best)
            })
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(hits.len(), k);
        let mut seen = std::collections::HashSet::new();
        for (rank, hit) in hits.iter().enumerate() {
            assert!(seen.insert(hit.id), "id {} twice: {hits:?}", hit.id);
            assert_close(
                hit.score,
                want[rank].1,
                &format!("best-of k={k} rank {rank}"),
            );
        }
    }
    // a stored vector among the queries finds itself first
    let probe = bulk[77].clone();
    let hits = s
        .search_best_of(&[queries[0].clone(), probe.1.clone()], 3)
        .await
        .unwrap();
    assert_eq!(hits[0].id, probe.0);
    assert_close(hits[0].score, 1.0, "self match among views");
    assert!(s.search_best_of(&[], 5).await.unwrap().is_empty());
    assert!(s.search_best_of(&queries, 0).await.unwrap().is_empty());
    assert!(matches!(
        s.search_best_of(&[axis(0), vec![0.0; 3]], 5).await,
        Err(VectorError::Dimension { .. })
    ));

    // bulk removal: more ids than one Milvus delete takes; the rest keep their order
    let doomed: Vec<i64> = (0..1500).map(|i| 1000 + i).collect();
    s.remove_many(&doomed).await.unwrap();
    assert_eq!(s.len().await.unwrap(), 2 + BULK as u64 - 1500);
    let (id, v) = &bulk[1600];
    assert_eq!(s.search(v, 1).await.unwrap()[0].id, *id, "a kept vector");
    let hits = s.search(&bulk[10].1, 5).await.unwrap();
    assert!(
        hits.iter().all(|h| !(1000..2500).contains(&h.id)),
        "removed ids are not found: {hits:?}"
    );
}

// ---------------------------------------------------------------- FlatIndex

#[tokio::test]
async fn flat_index_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("images.vec");
    let s = FlatIndex::open(&path, DIM).unwrap();
    exercise(&s).await;
    let before: Vec<Vec<Hit>> = search_axes(&s).await;
    let len = s.len().await.unwrap();
    drop(s);

    // a restart keeps everything, removals included
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(s.len().await.unwrap(), len);
    assert_eq!(search_axes(&s).await, before);
}

#[tokio::test]
async fn flat_index_logs_one_record_per_removed_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.idx");
    let s = FlatIndex::open(&path, DIM).unwrap();
    s.upsert_many(&[(1, axis(0)), (2, axis(1)), (3, axis(2))])
        .await
        .unwrap();
    let before = s.stats();
    // two present ids (one repeated) and an absent one: two remove records, one append
    s.remove_many(&[1, 404, 3, 1]).await.unwrap();
    let after = s.stats();
    let remove_record = (1 + 8 + 4) as u64;
    assert_eq!(after.live, 1);
    assert_eq!(after.records, before.records + 2);
    assert_eq!(after.file_bytes, before.file_bytes + 2 * remove_record);
    // nothing present: nothing written
    s.remove_many(&[1, 3, 404]).await.unwrap();
    assert_eq!(s.stats(), after);
    drop(s);

    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(s.len().await.unwrap(), 1);
    assert_eq!(ids(&s.search(&axis(0), 5).await.unwrap()), vec![2]);
}

async fn search_axes(s: &impl VectorStore) -> Vec<Vec<Hit>> {
    let mut out = Vec::new();
    for i in 0..4 {
        out.push(s.search(&axis(i), 5).await.unwrap());
    }
    out
}

#[tokio::test]
async fn flat_index_tolerates_a_torn_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.idx");
    let s = FlatIndex::open(&path, DIM).unwrap();
    s.upsert(1, &axis(0)).await.unwrap();
    s.upsert(2, &axis(1)).await.unwrap();
    s.remove(1).await.unwrap();
    s.upsert(3, &axis(2)).await.unwrap();
    let good_len = s.stats().file_bytes;
    drop(s);
    assert_eq!(file_len(&path), good_len);

    // a crash in the middle of an append: half an upsert record
    let record = 1 + 8 + 4 * DIM + 4;
    let mut torn = vec![1u8];
    torn.resize(record / 2, 7);
    append(&path, &torn);
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(file_len(&path), good_len, "torn tail truncated");
    assert_eq!(s.len().await.unwrap(), 2);
    assert_eq!(ids(&s.search(&axis(2), 5).await.unwrap())[0], 3);
    s.upsert(4, &axis(3)).await.unwrap();
    drop(s);

    // a full-length last record whose bytes never reached the disk (zeros / bad crc)
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(
        s.len().await.unwrap(),
        3,
        "the append after the cut survived"
    );
    let good_len = s.stats().file_bytes;
    s.upsert(5, &axis(4)).await.unwrap();
    drop(s);
    flip_byte(&path, file_len(&path) - 10);
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(file_len(&path), good_len);
    assert_eq!(s.len().await.unwrap(), 3, "only the damaged record is lost");
    drop(s);
    append(&path, &vec![0u8; record]);
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(file_len(&path), good_len);
    assert_eq!(ids(&s.search(&axis(3), 1).await.unwrap()), vec![4]);
    drop(s);

    // damage before the last record: everything from there is cut, and kept aside
    let s = FlatIndex::open(&path, DIM).unwrap();
    s.upsert(6, &axis(5)).await.unwrap();
    s.upsert(7, &axis(6)).await.unwrap();
    drop(s);
    flip_byte(&path, good_len + 20);
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(s.len().await.unwrap(), 3);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("v.idx.dropped-"))
        .collect();
    assert_eq!(kept.len(), 1, "dropped bytes kept: {kept:?}");
    assert_eq!(
        std::fs::metadata(dir.path().join(&kept[0])).unwrap().len(),
        2 * record as u64
    );
}

#[tokio::test]
async fn flat_index_compacts_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.idx");
    let s = FlatIndex::open(&path, DIM).unwrap();
    let mut rng = Rng(7);
    let mut latest = Vec::new();
    // 100 ids rewritten 25 times: dead records pile up and trigger compaction
    for _round in 0..25 {
        latest = (0..100).map(|id| (id, rng.unit(DIM))).collect::<Vec<_>>();
        for chunk in latest.chunks(10) {
            s.upsert_many(chunk).await.unwrap();
        }
    }
    for id in 0..10 {
        s.remove(id).await.unwrap();
    }
    let stats = s.stats();
    assert_eq!(stats.live, 90);
    assert!(stats.records < 1200, "compacted: {stats:?}");
    let record = (1 + 8 + 4 * DIM + 4) as u64;
    assert_eq!(file_len(&path), stats.file_bytes);

    s.compact().await.unwrap();
    assert_eq!(
        s.stats(),
        fanone_vector::FlatStats {
            live: 90,
            records: 90,
            file_bytes: 16 + 90 * record
        }
    );
    assert_eq!(file_len(&path), 16 + 90 * record);
    assert!(!dir.path().join("v.idx.compact").exists());
    s.upsert(500, &axis(0)).await.unwrap();
    drop(s);

    let s = FlatIndex::open(&path, DIM).unwrap();
    assert_eq!(s.len().await.unwrap(), 91);
    for (id, v) in &latest {
        let hits = s.search(v, 1).await.unwrap();
        if *id < 10 {
            assert_ne!(hits[0].id, *id, "removed id {id} stays removed");
        } else {
            assert_eq!(hits[0].id, *id, "latest vector of {id}");
            assert_close(hits[0].score, 1.0, "latest vector");
        }
    }
    assert_eq!(s.search(&axis(0), 1).await.unwrap()[0].id, 500);
}

#[tokio::test]
async fn flat_index_rejects_other_files_and_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.idx");
    let s = FlatIndex::open(&path, DIM).unwrap();
    assert!(matches!(
        FlatIndex::open(&path, DIM),
        Err(VectorError::Locked)
    ));
    s.upsert(1, &axis(0)).await.unwrap();
    drop(s);
    assert!(matches!(
        FlatIndex::open(&path, 512),
        Err(VectorError::Dimension {
            expected: DIM,
            got: 512
        })
    ));
    let other = dir.path().join("other");
    std::fs::write(&other, b"definitely not a vector index file").unwrap();
    assert!(matches!(
        FlatIndex::open(&other, DIM),
        Err(VectorError::Corrupt(_))
    ));
    // a header torn at creation holds nothing: start afresh
    let torn = dir.path().join("torn");
    std::fs::write(&torn, b"FOVEC").unwrap();
    let s = FlatIndex::open(&torn, DIM).unwrap();
    assert_eq!(s.len().await.unwrap(), 0);
    // nested directories are created
    let nested = FlatIndex::open(dir.path().join("a/b/v.idx"), 4).unwrap();
    nested.upsert(1, &[1.0, 0.0, 0.0, 0.0]).await.unwrap();
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

fn flip_byte(path: &Path, at: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x5a]).unwrap();
}

// ---------------------------------------------------------------- Milvus

/// The Milvus server URL, or None (skip) when not configured.
fn milvus_url() -> Option<String> {
    match std::env::var("FANONE_TEST_MILVUS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("FANONE_TEST_REQUIRE_MILVUS").is_ok_and(|v| v == "1") {
                panic!("FANONE_TEST_REQUIRE_MILVUS=1 but FANONE_TEST_MILVUS_URL is not set");
            }
            eprintln!("skipped: FANONE_TEST_MILVUS_URL is not set (scripts/test.sh sets it)");
            None
        }
    }
}

fn unique_collection(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn milvus_store_behaves() {
    let Some(url) = milvus_url() else { return };
    let name = unique_collection("fanone_test");
    let s = MilvusStore::connect(&url, &name, DIM).await.unwrap();
    exercise(&s).await;
    let before = search_axes(&s).await;
    let len = s.len().await.unwrap();

    // connecting again finds the collection and its data
    let again = MilvusStore::connect(&url, &name, DIM).await.unwrap();
    assert_eq!(again.len().await.unwrap(), len);
    assert_eq!(search_axes(&again).await, before);
    // a collection of another dimension is refused
    assert!(matches!(
        MilvusStore::connect(&url, &name, 512).await,
        Err(VectorError::Schema(_))
    ));
    s.drop_collection().await.unwrap();
}

#[tokio::test]
async fn milvus_store_refuses_a_foreign_collection() {
    use milvus::v2::prelude::*;
    let Some(url) = milvus_url() else { return };
    let client = ClientV2::new(&ConnectConfig::new().uri(url.as_str()))
        .await
        .unwrap();
    let create = |name: &str, vector_field: &str| {
        CreateCollectionRequest::builder()
            .collection_name(name)
            .schema(
                CollectionSchema::new()
                    .add_field(
                        FieldSchema::new()
                            .name("id")
                            .data_type(DataType::Int64)
                            .primary_key(true),
                    )
                    .add_field(
                        FieldSchema::new()
                            .name(vector_field)
                            .data_type(DataType::FloatVector)
                            .dimension(DIM as u32),
                    ),
            )
            .build()
            .unwrap()
    };
    // an L2 index: searching it by inner product would fail on every query
    let l2 = unique_collection("fanone_test_l2");
    client
        .create_collection(create(&l2, "vector"))
        .await
        .unwrap();
    client
        .create_index(
            CreateIndexRequest::builder()
                .collection_name(&l2)
                .index_param(
                    IndexParam::new()
                        .field_name("vector")
                        .index_type(IndexType::Flat)
                        .metric_type(MetricType::L2),
                )
                .sync(false)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let err = MilvusStore::connect(&url, &l2, DIM).await.err();
    assert!(
        matches!(err, Some(VectorError::Schema(ref m)) if m.contains("L2")),
        "{err:?}"
    );
    // another schema
    let other = unique_collection("fanone_test_other");
    client
        .create_collection(create(&other, "embedding"))
        .await
        .unwrap();
    let err = MilvusStore::connect(&url, &other, DIM).await.err();
    assert!(matches!(err, Some(VectorError::Schema(_))), "{err:?}");
    for name in [l2, other] {
        client
            .drop_collection(
                DropCollectionRequest::builder()
                    .collection_name(name)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
}
