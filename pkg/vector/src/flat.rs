//! The built-in store: exact search over an in-memory matrix, persisted to an append-only
//! log so a restart keeps it.
//!
//! File layout (little-endian):
//! ```text
//! header  : magic "FOVECIDX" (8) | version u32 = 1 | dim u32
//! record  : op u8 (1 upsert, 2 remove) | id i64 | dim × f32 (upsert only) | crc32 u32
//! ```
//! The crc covers the record's bytes before it. Every write is fsynced before it is
//! acknowledged and applied in memory. At open the log is replayed; the first record that
//! is short, has an unknown op or a bad crc ends it (a write torn by a crash): the file is
//! truncated there (and the dropped bytes, when more than one record, are kept beside it
//! as `<file>.dropped-<unix-ms>`). When dead records (overwritten or removed) outnumber
//! live ones, the log is rewritten with one record per live vector and atomically renamed
//! over the old one.
//!
//! Concurrency: searches share a read lock on the matrix; writers are serialised by the
//! log mutex, append and fsync without blocking searches, then apply under a short write
//! lock. The file is locked (`flock`) so a second process cannot open it.

use std::{
    cmp::Ordering,
    collections::{BinaryHeap, HashMap, hash_map::Entry},
    fs::{File, OpenOptions},
    io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicUsize, Ordering as AtomicOrdering},
    },
};

use crate::{Hit, VectorError, VectorStore, check_vector};

const MAGIC: &[u8; 8] = b"FOVECIDX";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
const OP_UPSERT: u8 = 1;
const OP_REMOVE: u8 = 2;
/// Compact only when at least this many records are dead (and they outnumber live ones).
const COMPACT_MIN_DEAD: u64 = 1024;

/// Exact inner-product index over unit vectors, persisted to one file. Cheap to clone
/// (clones share the index).
#[derive(Clone)]
pub struct FlatIndex {
    shared: Arc<Shared>,
}

/// Sizes of a [`FlatIndex`], for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlatStats {
    /// Vectors stored.
    pub live: u64,
    /// Records in the log (live + dead).
    pub records: u64,
    /// Size of the log file in bytes.
    pub file_bytes: u64,
}

struct Shared {
    dim: usize,
    path: PathBuf,
    data: RwLock<Data>,
    log: Mutex<Log>,
}

/// The matrix: row `i` of `vectors` (`dim` floats) belongs to `ids[i]`.
#[derive(Default)]
struct Data {
    ids: Vec<i64>,
    vectors: Vec<f32>,
    pos: HashMap<i64, usize>,
}

struct Log {
    file: File,
    len: u64,
    records: u64,
}

enum Op<'a> {
    Upsert(i64, &'a [f32]),
    Remove(i64),
}

impl FlatIndex {
    /// Open (or create) the index file at `path` for vectors of `dim` dimensions,
    /// replaying its log. Blocking: call it at startup or inside `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>, dim: usize) -> Result<FlatIndex, VectorError> {
        assert!(
            dim > 0 && dim <= u32::MAX as usize,
            "dimension out of range"
        );
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        lock(&file)?;
        // a compaction that crashed before its rename leaves this behind
        let _ = std::fs::remove_file(compact_path(&path));

        let mut data = Data::default();
        let (len, records) = if file.metadata()?.len() < HEADER_LEN {
            // new, or created by a crash before its header was synced: nothing was committed
            file.set_len(0)?;
            (&file).write_all(&header(dim))?;
            file.sync_all()?;
            sync_dir(&path)?;
            (HEADER_LEN, 0)
        } else {
            replay(&file, &path, dim, &mut data)?
        };
        Ok(FlatIndex {
            shared: Arc::new(Shared {
                dim,
                path,
                data: RwLock::new(data),
                log: Mutex::new(Log { file, len, records }),
            }),
        })
    }

    pub fn dim(&self) -> usize {
        self.shared.dim
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    pub fn stats(&self) -> FlatStats {
        let log = self.shared.log();
        FlatStats {
            live: self.shared.read().ids.len() as u64,
            records: log.records,
            file_bytes: log.len,
        }
    }

    /// Rewrite the log with one record per live vector now (it also happens by itself
    /// when dead records dominate).
    pub async fn compact(&self) -> Result<(), VectorError> {
        let shared = self.shared.clone();
        blocking(move || {
            let mut log = shared.log();
            shared.compact(&mut log)
        })
        .await
    }

    async fn write(&self, ops: Vec<(i64, Option<Vec<f32>>)>) -> Result<(), VectorError> {
        let shared = self.shared.clone();
        blocking(move || {
            let ops: Vec<Op> = ops
                .iter()
                .map(|(id, v)| match v {
                    Some(v) => Op::Upsert(*id, v),
                    None => Op::Remove(*id),
                })
                .collect();
            shared.write(&ops)
        })
        .await
    }
}

impl VectorStore for FlatIndex {
    async fn upsert(&self, id: i64, vector: &[f32]) -> Result<(), VectorError> {
        check_vector(vector, self.shared.dim)?;
        self.write(vec![(id, Some(vector.to_vec()))]).await
    }

    async fn upsert_many(&self, items: &[(i64, Vec<f32>)]) -> Result<(), VectorError> {
        for (_, v) in items {
            check_vector(v, self.shared.dim)?;
        }
        if items.is_empty() {
            return Ok(());
        }
        self.write(items.iter().map(|(id, v)| (*id, Some(v.clone()))).collect())
            .await
    }

    async fn remove(&self, id: i64) -> Result<(), VectorError> {
        if !self.shared.read().pos.contains_key(&id) {
            return Ok(()); // absent: nothing to log
        }
        self.write(vec![(id, None)]).await
    }

    /// One remove record per stored id among `ids`, appended and fsynced together;
    /// absent ids write nothing.
    async fn remove_many(&self, ids: &[i64]) -> Result<(), VectorError> {
        let present: Vec<(i64, Option<Vec<f32>>)> = {
            let data = self.shared.read();
            let mut seen = std::collections::HashSet::with_capacity(ids.len());
            ids.iter()
                .filter(|id| data.pos.contains_key(id) && seen.insert(**id))
                .map(|id| (*id, None))
                .collect()
        };
        if present.is_empty() {
            return Ok(());
        }
        self.write(present).await
    }

    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, VectorError> {
        check_vector(query, self.shared.dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let shared = self.shared.clone();
        let query = query.to_vec();
        blocking(move || Ok(shared.read().top_k(&query, shared.dim, k))).await
    }

    /// One pass over the matrix for all the queries (each row is read once).
    async fn search_best_of(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Hit>, VectorError> {
        for q in queries {
            check_vector(q, self.shared.dim)?;
        }
        if k == 0 || queries.is_empty() {
            return Ok(Vec::new());
        }
        let shared = self.shared.clone();
        let queries = queries.to_vec();
        blocking(move || Ok(shared.read().top_k_best_of(&queries, shared.dim, k))).await
    }

    async fn len(&self) -> Result<u64, VectorError> {
        Ok(self.shared.read().ids.len() as u64)
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_data(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Append `ops` durably, then apply them in memory; compact when due.
    fn write(&self, ops: &[Op]) -> Result<(), VectorError> {
        let mut log = self.log();
        let mut buf = Vec::with_capacity(ops.len() * record_len(OP_UPSERT, self.dim));
        for op in ops {
            encode(&mut buf, op);
        }
        let appended = (&log.file)
            .write_all(&buf)
            .and_then(|()| log.file.sync_data());
        if let Err(e) = appended {
            // leave no partial record behind for the next append to follow
            let _ = log.file.set_len(log.len);
            return Err(e.into());
        }
        log.len += buf.len() as u64;
        log.records += ops.len() as u64;
        let live = {
            let mut data = self.write_data();
            for op in ops {
                data.apply(op, self.dim);
            }
            data.ids.len() as u64
        };
        let dead = log.records - live;
        if dead >= COMPACT_MIN_DEAD && dead > live {
            // the write is committed; a failed compaction only leaves the old log in place
            if let Err(e) = self.compact(&mut log) {
                tracing::warn!(path = %self.path.display(), error = %e, "vector index compaction failed");
            }
        }
        Ok(())
    }

    /// Write a fresh log of the live vectors beside the old one and rename it over.
    /// Holding the log mutex keeps writers out; searches go on.
    fn compact(&self, log: &mut Log) -> Result<(), VectorError> {
        let tmp = compact_path(&self.path);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(&tmp)?;
        lock(&file)?;
        file.set_len(0)?;
        let (len, records) = {
            let data = self.read();
            let mut w = BufWriter::with_capacity(1 << 20, &file);
            w.write_all(&header(self.dim))?;
            let mut rec = Vec::with_capacity(record_len(OP_UPSERT, self.dim));
            for (i, &id) in data.ids.iter().enumerate() {
                rec.clear();
                encode(&mut rec, &Op::Upsert(id, data.row(i, self.dim)));
                w.write_all(&rec)?;
            }
            w.flush()?;
            let n = data.ids.len() as u64;
            (HEADER_LEN + n * record_len(OP_UPSERT, self.dim) as u64, n)
        };
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)?;
        tracing::debug!(path = %self.path.display(), before = log.len, after = len, "vector index compacted");
        *log = Log { file, len, records };
        Ok(())
    }
}

impl Data {
    fn row(&self, i: usize, dim: usize) -> &[f32] {
        &self.vectors[i * dim..(i + 1) * dim]
    }

    fn apply(&mut self, op: &Op, dim: usize) {
        match *op {
            Op::Upsert(id, v) => match self.pos.entry(id) {
                Entry::Occupied(e) => {
                    let i = *e.get();
                    self.vectors[i * dim..(i + 1) * dim].copy_from_slice(v);
                }
                Entry::Vacant(e) => {
                    e.insert(self.ids.len());
                    self.ids.push(id);
                    self.vectors.extend_from_slice(v);
                }
            },
            Op::Remove(id) => {
                if let Some(i) = self.pos.remove(&id) {
                    let last = self.ids.len() - 1;
                    self.ids.swap_remove(i);
                    if i != last {
                        self.vectors
                            .copy_within(last * dim..(last + 1) * dim, i * dim);
                        self.pos.insert(self.ids[i], i);
                    }
                    self.vectors.truncate(last * dim);
                }
            }
        }
    }

    /// Exact top-k by inner product; ties go to the smaller id.
    fn top_k(&self, query: &[f32], dim: usize, k: usize) -> Vec<Hit> {
        let dot = dot_kernel();
        self.top_k_by(k, dim, |i| dot(query, self.row(i, dim)))
    }

    /// Exact top-k by the best inner product with any of `queries`.
    fn top_k_best_of(&self, queries: &[Vec<f32>], dim: usize, k: usize) -> Vec<Hit> {
        let dot = dot_kernel();
        self.top_k_by(k, dim * queries.len(), |i| {
            let row = self.row(i, dim);
            queries
                .iter()
                .map(|q| dot(q, row))
                .fold(f32::NEG_INFINITY, f32::max)
        })
    }

    /// The best `k` rows by `score` (`work` multiply-adds per row). A large scan is
    /// split over the cores (`scan_parts`), each part keeping its own best `k`; the
    /// merge of those is exact, with the same order as one pass.
    fn top_k_by(&self, k: usize, work: usize, score: impl Fn(usize) -> f32 + Sync) -> Vec<Hit> {
        let n = self.ids.len();
        let _scan = Scanning::start();
        let parts = scan_parts(n.saturating_mul(work));
        if parts <= 1 {
            return self.top_k_of(0..n, k, &score);
        }
        let per = n.div_ceil(parts);
        let mut hits = std::thread::scope(|s| {
            let others: Vec<_> = (1..parts)
                .map(|p| {
                    let (rows, score) = (p * per..((p + 1) * per).min(n), &score);
                    s.spawn(move || self.top_k_of(rows, k, score))
                })
                .collect();
            let mut hits = self.top_k_of(0..per.min(n), k, &score);
            for part in others {
                match part.join() {
                    Ok(h) => hits.extend(h),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            hits
        });
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(k);
        hits
    }

    /// The best `k` of `rows` by `score`, best first (ties: the smaller id).
    fn top_k_of(
        &self,
        rows: std::ops::Range<usize>,
        k: usize,
        score: impl Fn(usize) -> f32,
    ) -> Vec<Hit> {
        let mut heap: BinaryHeap<Worse> = BinaryHeap::with_capacity(k + 1);
        for i in rows {
            let c = Worse(Hit {
                id: self.ids[i],
                score: score(i),
            });
            if heap.len() < k {
                heap.push(c);
            } else if let Some(mut worst) = heap.peek_mut()
                && c < *worst
            {
                *worst = c;
            }
        }
        heap.into_sorted_vec().into_iter().map(|w| w.0).collect()
    }
}

/// Multiply-adds below which a scan stays on one thread (~1 ms or less of work): a
/// thread costs tens of microseconds to start.
const PARALLEL_SCAN_MIN: usize = 4_000_000;

/// Scans running now (this one included), in all indexes of the process.
static SCANNING: AtomicUsize = AtomicUsize::new(0);

/// Counts a scan in [`SCANNING`] while it lives.
struct Scanning;

impl Scanning {
    fn start() -> Scanning {
        SCANNING.fetch_add(1, AtomicOrdering::Relaxed);
        Scanning
    }
}

impl Drop for Scanning {
    fn drop(&mut self) {
        SCANNING.fetch_sub(1, AtomicOrdering::Relaxed);
    }
}

/// How many threads a scan of `work` multiply-adds runs on: the cores that no other
/// scan is using (under concurrent searches each stays on its own thread, where
/// splitting would only add overhead), each part at least [`PARALLEL_SCAN_MIN`].
fn scan_parts(work: usize) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let free = cores.saturating_sub(SCANNING.load(AtomicOrdering::Relaxed) - 1);
    (work / PARALLEL_SCAN_MIN).clamp(1, free.max(1))
}

/// Ordered so that the *worst* hit is the greatest: a max-heap of these keeps the best k
/// with the worst on top, and an ascending sort lists the best first.
struct Worse(Hit);

impl Ord for Worse {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.id.cmp(&other.0.id))
    }
}
impl PartialOrd for Worse {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Worse {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worse {}

/// The inner product for this CPU: 8-wide fused multiply-adds where the CPU has AVX2
/// and FMA (checked once per scan; the build itself targets baseline x86-64), else the
/// portable loop (which the compiler vectorises with SSE2). Scores of the two may
/// differ in their last bits: a fused multiply-add rounds once.
fn dot_kernel() -> fn(&[f32], &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return |a, b| {
            // SAFETY: the CPU has AVX2 and FMA (checked just above)
            unsafe { dot_fma(a, b) }
        };
    }
    dot
}

/// Inner product with independent lane accumulators, so the compiler vectorises it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_with(a, b, |acc, x, y| acc + x * y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    dot_with(a, b, |acc, x, y| x.mul_add(y, acc))
}

/// `LANES` independent accumulators (four 8-wide registers), summed at the end.
#[inline(always)]
fn dot_with(a: &[f32], b: &[f32], madd: impl Fn(f32, f32, f32) -> f32) -> f32 {
    const LANES: usize = 32;
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] = madd(acc[l], x[l], y[l]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

fn header(dim: usize) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(dim as u32).to_le_bytes());
    h
}

fn record_len(op: u8, dim: usize) -> usize {
    1 + 8 + if op == OP_UPSERT { 4 * dim } else { 0 } + 4
}

fn encode(buf: &mut Vec<u8>, op: &Op) {
    let start = buf.len();
    match *op {
        Op::Upsert(id, v) => {
            buf.push(OP_UPSERT);
            buf.extend_from_slice(&id.to_le_bytes());
            for x in v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        Op::Remove(id) => {
            buf.push(OP_REMOVE);
            buf.extend_from_slice(&id.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&buf[start..]);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// Check the header and replay every record into `data`; cut a torn tail.
/// Returns the valid length and the record count.
fn replay(
    file: &File,
    path: &Path,
    dim: usize,
    data: &mut Data,
) -> Result<(u64, u64), VectorError> {
    let file_len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    r.seek(SeekFrom::Start(0))?;
    let mut h = [0u8; HEADER_LEN as usize];
    r.read_exact(&mut h)?;
    if &h[..8] != MAGIC {
        return Err(VectorError::Corrupt(format!(
            "{} is not a vector index file",
            path.display()
        )));
    }
    let version = u32::from_le_bytes(h[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(VectorError::Corrupt(format!(
            "unsupported vector index version {version}"
        )));
    }
    let file_dim = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
    if file_dim != dim {
        return Err(VectorError::Dimension {
            expected: file_dim,
            got: dim,
        });
    }

    let mut offset = HEADER_LEN;
    let mut records = 0u64;
    let mut rec = vec![0u8; record_len(OP_UPSERT, dim)];
    let mut floats = vec![0f32; dim];
    loop {
        if offset == file_len {
            break;
        }
        let ok = (|| -> std::io::Result<bool> {
            r.read_exact(&mut rec[..1])?;
            let n = match rec[0] {
                OP_UPSERT | OP_REMOVE => record_len(rec[0], dim),
                _ => return Ok(false),
            };
            if offset + n as u64 > file_len {
                return Ok(false);
            }
            r.read_exact(&mut rec[1..n])?;
            let crc = u32::from_le_bytes(rec[n - 4..n].try_into().unwrap());
            if crc32fast::hash(&rec[..n - 4]) != crc {
                return Ok(false);
            }
            let id = i64::from_le_bytes(rec[1..9].try_into().unwrap());
            if rec[0] == OP_UPSERT {
                for (f, b) in floats.iter_mut().zip(rec[9..n - 4].chunks_exact(4)) {
                    *f = f32::from_le_bytes(b.try_into().unwrap());
                }
                data.apply(&Op::Upsert(id, &floats), dim);
            } else {
                data.apply(&Op::Remove(id), dim);
            }
            offset += n as u64;
            Ok(true)
        })()?;
        if !ok {
            cut_tail(file, path, offset, file_len, dim)?;
            break;
        }
        records += 1;
    }
    Ok((offset, records))
}

/// Truncate the log at `offset`, the start of the first invalid record.
fn cut_tail(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
    dim: usize,
) -> Result<(), VectorError> {
    let dropped = file_len - offset;
    if dropped > record_len(OP_UPSERT, dim) as u64 {
        // more than one torn record: not a plain crash mid-append; keep the bytes
        let keep = path.with_file_name(format!(
            "{}.dropped-{}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        ));
        let mut src = file;
        src.seek(SeekFrom::Start(offset))?;
        let mut dst = File::create(&keep)?;
        std::io::copy(&mut src.take(dropped), &mut dst)?;
        dst.sync_all()?;
        tracing::warn!(path = %path.display(), offset, dropped, kept = %keep.display(),
            "vector index log has an invalid record before its end; truncated there");
    } else {
        tracing::warn!(path = %path.display(), offset, dropped, "vector index log had a torn last record; truncated");
    }
    file.set_len(offset)?;
    file.sync_all()?;
    Ok(())
}

fn compact_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".compact");
    path.with_file_name(name)
}

fn lock(file: &File) -> Result<(), VectorError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(VectorError::Locked),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// Make a create or rename in the file's directory durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// Run blocking work (file I/O, a scan of the matrix) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VectorError> + Send + 'static,
) -> Result<T, VectorError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        for n in [0, 1, 15, 16, 17, 1280] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            // the reference in f64: summed in f32, one order or another is off by ~1e-3
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            assert!((f64::from(dot(&a, &b)) - exact).abs() < 1e-4, "n={n}");
            assert!(
                (f64::from(dot_kernel()(&a, &b)) - exact).abs() < 1e-4,
                "n={n}"
            );
        }
    }

    /// A scan large enough to be split over the cores answers exactly as one pass
    /// over all rows: the same ids, scores and order, ties included.
    #[test]
    fn split_scan_matches_one_pass() {
        let (dim, n) = (1280, 4000);
        let mut d = Data::default();
        let mut x = 1u32;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let rows: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect();
        for (id, v) in rows.iter().enumerate() {
            d.apply(&Op::Upsert(id as i64, v), dim);
        }
        // duplicates of row 7 tie with it: order by id
        for id in [5000, 4000] {
            d.apply(&Op::Upsert(id, &rows[7]), dim);
        }
        let queries = vec![rows[7].clone(), rows[100].clone()];
        assert!(
            n * dim * queries.len() >= 2 * PARALLEL_SCAN_MIN,
            "large enough to split"
        );
        let dot = dot_kernel();
        let one_pass = d.top_k_of(0..d.ids.len(), 50, |i| {
            queries
                .iter()
                .map(|q| dot(q, d.row(i, dim)))
                .fold(f32::NEG_INFINITY, f32::max)
        });
        let split = d.top_k_best_of(&queries, dim, 50);
        assert_eq!(split, one_pass);
        let at = |id| {
            split
                .iter()
                .position(|h| h.id == id)
                .expect("in the top 50")
        };
        assert_eq!([at(4000), at(5000)], [at(7) + 1, at(7) + 2], "ties by id");
    }

    #[test]
    fn remove_keeps_rows_consistent() {
        let mut d = Data::default();
        for id in 0..5 {
            d.apply(&Op::Upsert(id, &[id as f32, 0.0]), 2);
        }
        d.apply(&Op::Remove(1), 2);
        d.apply(&Op::Remove(4), 2);
        d.apply(&Op::Remove(9), 2);
        for (i, &id) in d.ids.iter().enumerate() {
            assert_eq!(d.pos[&id], i);
            assert_eq!(d.row(i, 2), &[id as f32, 0.0]);
        }
        assert_eq!(d.ids.len(), 3);
        let hits = d.top_k(&[1.0, 0.0], 2, 10);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![3, 2, 0]);
    }

    #[test]
    fn best_of_scores_each_row_by_its_best_query() {
        let mut d = Data::default();
        for (id, v) in [(1, [1.0, 0.0]), (2, [0.0, 1.0]), (3, [0.6, 0.8])] {
            d.apply(&Op::Upsert(id, &v), 2);
        }
        let queries = [vec![1.0, 0.0], vec![0.0, 1.0]];
        let hits = d.top_k_best_of(&queries, 2, 3);
        // ids 1 and 2 score 1.0 (ties: smaller id first), id 3 scores 0.8
        assert_eq!(
            hits,
            vec![
                Hit { id: 1, score: 1.0 },
                Hit { id: 2, score: 1.0 },
                Hit { id: 3, score: 0.8 }
            ]
        );
        // the same as merging one search per query
        let merged = crate::best_of(queries.iter().map(|q| d.top_k(q, 2, 2)), 2);
        assert_eq!(merged, d.top_k_best_of(&queries, 2, 2));
    }
}
