//! Vector stores behind one small trait, for reverse image search.
//!
//! - [`FlatIndex`] (standalone mode): exact search over vectors held in memory, persisted
//!   to an append-only file so a restart keeps them.
//! - [`MilvusStore`] (cluster mode): a Milvus collection through `milvus-sdk-rust`.
//! - [`AnyStore`]: either of them, chosen by configuration at run time.
//!
//! Vectors are expected to be unit-norm, so the inner product that both stores rank by
//! is the cosine similarity. See `docs/vector-store.md`.

mod flat;
mod milvus_store;

use std::future::Future;

pub use flat::{FlatIndex, FlatStats};
/// Milvus SDK types in this crate's API (`MilvusStore::connect_with`, `with_consistency`).
pub use milvus::v2::prelude::{ConnectConfig as MilvusConnectConfig, ConsistencyLevel};
pub use milvus_store::MilvusStore;

/// One search result: an id and its inner product with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: i64,
    /// Inner product with the query (the cosine similarity for unit vectors).
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("vector has {got} dimensions, the store has {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("vector has a NaN or infinite component")]
    NonFinite,
    #[error("vector index file: {0}")]
    Io(#[from] std::io::Error),
    #[error("vector index file is corrupt: {0}")]
    Corrupt(String),
    #[error("vector index file is in use by another process")]
    Locked,
    #[error("milvus: {0}")]
    Milvus(#[source] Box<milvus::v2::error::Error>),
    #[error("milvus collection does not fit: {0}")]
    Schema(String),
}

impl From<milvus::v2::error::Error> for VectorError {
    fn from(e: milvus::v2::error::Error) -> Self {
        VectorError::Milvus(Box::new(e))
    }
}

/// A store of `(id, vector)` pairs of one fixed dimension, searched by inner product.
pub trait VectorStore: Send + Sync + 'static {
    /// Insert or replace the vector of `id`: the same id twice keeps one (the last) vector.
    fn upsert(
        &self,
        id: i64,
        vector: &[f32],
    ) -> impl Future<Output = Result<(), VectorError>> + Send;

    /// Upsert several vectors; faster than one call each (one fsync, or batched RPCs).
    /// When an id repeats, its last vector wins.
    fn upsert_many(
        &self,
        items: &[(i64, Vec<f32>)],
    ) -> impl Future<Output = Result<(), VectorError>> + Send {
        async move {
            for (id, v) in items {
                self.upsert(*id, v).await?;
            }
            Ok(())
        }
    }

    /// Remove the vector of `id`; removing an absent id is not an error.
    fn remove(&self, id: i64) -> impl Future<Output = Result<(), VectorError>> + Send;

    /// Remove the vectors of `ids` (absent or repeated ids are fine); faster than one
    /// call each (one appended batch and one fsync, or batched delete RPCs).
    fn remove_many(&self, ids: &[i64]) -> impl Future<Output = Result<(), VectorError>> + Send {
        async move {
            for id in ids {
                self.remove(*id).await?;
            }
            Ok(())
        }
    }

    /// The `k` stored vectors with the largest inner product with `query`, best first.
    fn search(
        &self,
        query: &[f32],
        k: usize,
    ) -> impl Future<Output = Result<Vec<Hit>, VectorError>> + Send;

    /// The `k` stored vectors whose best inner product with any of `queries` (the
    /// views of one query picture) is largest, each id once with its best score, best
    /// first. The same as merging the top `k` of each query: an id in the answer has
    /// its best score in its best query's top `k`.
    fn search_best_of(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> impl Future<Output = Result<Vec<Hit>, VectorError>> + Send {
        async move {
            let mut lists = Vec::with_capacity(queries.len());
            for q in queries {
                lists.push(self.search(q, k).await?);
            }
            Ok(best_of(lists, k))
        }
    }

    /// How many vectors are stored.
    fn len(&self) -> impl Future<Output = Result<u64, VectorError>> + Send;

    fn is_empty(&self) -> impl Future<Output = Result<bool, VectorError>> + Send {
        async move { Ok(self.len().await? == 0) }
    }
}

/// Either backend, so one binary can pick by configuration (the trait is not object-safe).
pub enum AnyStore {
    Flat(FlatIndex),
    Milvus(MilvusStore),
}

impl VectorStore for AnyStore {
    async fn upsert(&self, id: i64, vector: &[f32]) -> Result<(), VectorError> {
        match self {
            AnyStore::Flat(s) => s.upsert(id, vector).await,
            AnyStore::Milvus(s) => s.upsert(id, vector).await,
        }
    }

    async fn upsert_many(&self, items: &[(i64, Vec<f32>)]) -> Result<(), VectorError> {
        match self {
            AnyStore::Flat(s) => s.upsert_many(items).await,
            AnyStore::Milvus(s) => s.upsert_many(items).await,
        }
    }

    async fn remove(&self, id: i64) -> Result<(), VectorError> {
        match self {
            AnyStore::Flat(s) => s.remove(id).await,
            AnyStore::Milvus(s) => s.remove(id).await,
        }
    }

    async fn remove_many(&self, ids: &[i64]) -> Result<(), VectorError> {
        match self {
            AnyStore::Flat(s) => s.remove_many(ids).await,
            AnyStore::Milvus(s) => s.remove_many(ids).await,
        }
    }

    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, VectorError> {
        match self {
            AnyStore::Flat(s) => s.search(query, k).await,
            AnyStore::Milvus(s) => s.search(query, k).await,
        }
    }

    async fn search_best_of(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Hit>, VectorError> {
        match self {
            AnyStore::Flat(s) => s.search_best_of(queries, k).await,
            AnyStore::Milvus(s) => s.search_best_of(queries, k).await,
        }
    }

    async fn len(&self) -> Result<u64, VectorError> {
        match self {
            AnyStore::Flat(s) => s.len().await,
            AnyStore::Milvus(s) => s.len().await,
        }
    }
}

/// Merges ranked lists of hits: each id once with its best score, the best `k`,
/// best first (ties to the smaller id, as a single search orders them). Merging the
/// top `k` of each query gives exactly [`VectorStore::search_best_of`] of them all.
pub fn best_of(lists: impl IntoIterator<Item = Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut best: std::collections::HashMap<i64, f32> = std::collections::HashMap::new();
    for hit in lists.into_iter().flatten() {
        best.entry(hit.id)
            .and_modify(|s| *s = s.max(hit.score))
            .or_insert(hit.score);
    }
    let mut hits: Vec<Hit> = best
        .into_iter()
        .map(|(id, score)| Hit { id, score })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    hits.truncate(k);
    hits
}

/// Check that `v` has `dim` finite components.
pub(crate) fn check_vector(v: &[f32], dim: usize) -> Result<(), VectorError> {
    if v.len() != dim {
        return Err(VectorError::Dimension {
            expected: dim,
            got: v.len(),
        });
    }
    if !v.iter().all(|x| x.is_finite()) {
        return Err(VectorError::NonFinite);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_of_keeps_each_id_once_with_its_best_score() {
        let h = |id, score| Hit { id, score };
        let merged = best_of(
            [
                vec![h(1, 0.9), h(2, 0.5), h(3, 0.4)],
                vec![h(3, 0.95), h(4, 0.5), h(1, 0.1)],
            ],
            3,
        );
        assert_eq!(merged, vec![h(3, 0.95), h(1, 0.9), h(2, 0.5)]);
        assert!(best_of(Vec::<Vec<Hit>>::new(), 5).is_empty());
    }
}
