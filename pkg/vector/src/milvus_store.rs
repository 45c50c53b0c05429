//! The cluster store: one Milvus collection `(id int64 primary key, vector float_vector)`
//! with a FLAT index and the inner-product metric, through `milvus-sdk-rust` (`ClientV2`).
//!
//! Written against Milvus Lite 2.5.1 (the real engine as one binary), avoiding what the SDK
//! does that it lacks (see `docs/vector-store.md`):
//! - `create_index` is sent with `sync(false)` and `describe_index` is polled instead;
//! - search results are read per column (`get_ids`, `get_scores`), never with `rows()`;
//! - lookups by id use a literal `id in [...]` filter, never `get`;
//! - inserts go in batches of at most `MAX_BATCH` rows and `MAX_BATCH_BYTES` of vectors;
//!   deletes by a literal `id in [...]` filter of at most `MAX_DELETE_IDS` ids.

use std::time::{Duration, Instant};

use milvus::v2::prelude::{
    ClientV2, CollectionSchema, ConnectConfig, ConsistencyLevel, CreateCollectionRequest,
    CreateIndexRequest, DataType, DeleteRequest, DescribeCollectionRequest, DescribeIndexRequest,
    DropCollectionRequest, FieldData, FieldSchema, HasCollectionRequest, Ids, IndexDesc,
    IndexParam, IndexStateCode, IndexType, InsertRequest, LoadCollectionRequest, MetricType,
    QueryRequest, SearchRequest, SearchVectors, UpsertRequest,
};

use crate::{Hit, VectorError, VectorStore, check_vector};

/// Rows per insert/upsert RPC at most.
const MAX_BATCH: usize = 2000;
/// Vector bytes per insert/upsert RPC at most: on Milvus Lite 2.5.1 a message of ~7 MB or
/// more takes seconds (10 MB: ~12 s) where two of 5 MB take 0.7 s.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Ids per delete RPC at most (the `id in [...]` filter grows with them).
const MAX_DELETE_IDS: usize = 1000;
const ID_FIELD: &str = "id";
const VECTOR_FIELD: &str = "vector";
const INDEX_WAIT: Duration = Duration::from_secs(60);

/// A Milvus collection used as a [`VectorStore`]. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct MilvusStore {
    client: ClientV2,
    collection: String,
    dim: usize,
    consistency: ConsistencyLevel,
}

impl MilvusStore {
    /// Connect to `url` (e.g. `http://127.0.0.1:19530`), create `collection` with an index
    /// if it does not exist, and load it. An existing collection must have the same
    /// vector dimension.
    pub async fn connect(url: &str, collection: &str, dim: usize) -> Result<Self, VectorError> {
        Self::connect_with(ConnectConfig::new().uri(url), collection, dim).await
    }

    /// [`connect`](Self::connect) with full connection settings (token, TLS, timeouts).
    pub async fn connect_with(
        config: ConnectConfig,
        collection: &str,
        dim: usize,
    ) -> Result<Self, VectorError> {
        if config.is_secure() || config.get_uri().starts_with("https://") {
            // TLS through tonic/rustls needs a process-wide provider when several are
            // compiled in; we ship only ring. Plain http (loopback, in-cluster) needs none.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = ClientV2::new(&config).await?;
        let store = MilvusStore {
            client,
            collection: collection.to_owned(),
            dim,
            consistency: ConsistencyLevel::Session,
        };
        store.ensure_collection().await?;
        store.ensure_index().await?;
        store
            .client
            .load_collection(
                LoadCollectionRequest::builder()
                    .collection_name(collection)
                    .build()?,
            )
            .await?;
        Ok(store)
    }

    /// Read consistency for `search` and `len`. The default, `Session`, lets this process
    /// read its own writes; `Bounded` or `Eventually` skip waiting for recent writes of
    /// other processes.
    pub fn with_consistency(mut self, level: ConsistencyLevel) -> Self {
        self.consistency = level;
        self
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The underlying client, for what the trait does not cover.
    pub fn client(&self) -> &ClientV2 {
        &self.client
    }

    /// Drop the collection and everything in it (tests, re-indexing from scratch).
    pub async fn drop_collection(&self) -> Result<(), VectorError> {
        self.client
            .drop_collection(
                DropCollectionRequest::builder()
                    .collection_name(&self.collection)
                    .build()?,
            )
            .await?;
        Ok(())
    }

    async fn ensure_collection(&self) -> Result<(), VectorError> {
        let exists = self
            .client
            .has_collection(
                HasCollectionRequest::builder()
                    .collection_name(&self.collection)
                    .build()?,
            )
            .await?
            .exists();
        if !exists {
            let schema = CollectionSchema::new()
                .add_field(
                    FieldSchema::new()
                        .name(ID_FIELD)
                        .data_type(DataType::Int64)
                        .primary_key(true)
                        .auto_id(false),
                )
                .add_field(
                    FieldSchema::new()
                        .name(VECTOR_FIELD)
                        .data_type(DataType::FloatVector)
                        .dimension(self.dim as u32),
                );
            self.client
                .create_collection(
                    CreateCollectionRequest::builder()
                        .collection_name(&self.collection)
                        .schema(schema)
                        .build()?,
                )
                .await?;
            return Ok(());
        }
        let described = self
            .client
            .describe_collection(
                DescribeCollectionRequest::builder()
                    .collection_name(&self.collection)
                    .build()?,
            )
            .await?;
        let fields = described.description().get_schema().get_fields();
        let field = |name: &str| fields.iter().find(|f| f.get_name() == name);
        match (field(ID_FIELD), field(VECTOR_FIELD)) {
            (Some(id), Some(v))
                if id.get_data_type() == DataType::Int64
                    && v.get_data_type() == DataType::FloatVector =>
            {
                let got = v.get_dimension() as usize;
                if got != self.dim {
                    return Err(VectorError::Schema(format!(
                        "collection {} has vectors of {got} dimensions, not {}",
                        self.collection, self.dim
                    )));
                }
                Ok(())
            }
            _ => Err(VectorError::Schema(format!(
                "collection {} lacks an int64 `{ID_FIELD}` or a float vector `{VECTOR_FIELD}`",
                self.collection
            ))),
        }
    }

    /// Create the vector index unless it exists, and wait until it is usable.
    async fn ensure_index(&self) -> Result<(), VectorError> {
        if self.vector_index().await?.is_none() {
            // FLAT: exact search, the same results as the built-in FlatIndex (see the docs)
            self.client
                .create_index(
                    CreateIndexRequest::builder()
                        .collection_name(&self.collection)
                        .index_param(
                            IndexParam::new()
                                .field_name(VECTOR_FIELD)
                                .index_type(IndexType::Flat)
                                .metric_type(MetricType::Ip),
                        )
                        // the waiting variant calls an RPC that some servers lack
                        .sync(false)
                        .build()?,
                )
                .await?;
        }
        let start = Instant::now();
        loop {
            let state = match self.vector_index().await? {
                Some(index) => {
                    let metric = index.get_metric_type();
                    if !matches!(metric, MetricType::Ip | MetricType::Default) {
                        return Err(VectorError::Schema(format!(
                            "the vector index of {} uses metric {metric:?}, not IP",
                            self.collection
                        )));
                    }
                    match index.get_state() {
                        IndexStateCode::Finished => return Ok(()),
                        IndexStateCode::Failed => {
                            return Err(VectorError::Schema(format!(
                                "index build failed: {}",
                                index.get_failure_reason()
                            )));
                        }
                        state => format!("{state:?}"),
                    }
                }
                None => "missing".to_owned(),
            };
            if start.elapsed() > INDEX_WAIT {
                return Err(VectorError::Schema(format!(
                    "index not ready after {INDEX_WAIT:?}: {state}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index on the vector field, or None when there is none.
    async fn vector_index(&self) -> Result<Option<IndexDesc>, VectorError> {
        let request = DescribeIndexRequest::builder()
            .collection_name(&self.collection)
            .field_name(VECTOR_FIELD)
            .build()?;
        match self.client.describe_index(request).await {
            Ok(described) => Ok(described
                .indexes()
                .iter()
                .find(|i| i.get_field_name() == VECTOR_FIELD)
                .cloned()),
            // "index not found" comes back as a server status
            Err(milvus::v2::error::Error::Server(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete the rows of `ids` (absent ones are fine) in one RPC.
    async fn delete_ids(&self, ids: &[i64]) -> Result<(), VectorError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        self.client
            .delete(
                DeleteRequest::builder()
                    .collection_name(&self.collection)
                    .filter(format!("{ID_FIELD} in [{}]", list.join(",")))
                    .build()?,
            )
            .await?;
        Ok(())
    }

    /// Insert-or-replace `items` (each id at most once) in one RPC.
    async fn upsert_batch(&self, items: &[(i64, &[f32])]) -> Result<(), VectorError> {
        let ids = items.iter().map(|(id, _)| *id).collect();
        let vectors = items.iter().map(|(_, v)| v.to_vec()).collect();
        let insert = InsertRequest::builder()
            .collection_name(&self.collection)
            .columns(vec![
                FieldData::int64(ID_FIELD, ids),
                FieldData::float_vector(VECTOR_FIELD, vectors),
            ])
            .build()?;
        self.client
            .upsert(UpsertRequest::builder().insert(insert).build()?)
            .await?;
        Ok(())
    }
}

impl VectorStore for MilvusStore {
    async fn upsert(&self, id: i64, vector: &[f32]) -> Result<(), VectorError> {
        check_vector(vector, self.dim)?;
        self.upsert_batch(&[(id, vector)]).await
    }

    async fn upsert_many(&self, items: &[(i64, Vec<f32>)]) -> Result<(), VectorError> {
        for (_, v) in items {
            check_vector(v, self.dim)?;
        }
        // one row per id (the last wins), as an upsert batch must not repeat a key
        let mut last = std::collections::HashMap::with_capacity(items.len());
        for (i, (id, _)) in items.iter().enumerate() {
            last.insert(*id, i);
        }
        let rows: Vec<(i64, &[f32])> = items
            .iter()
            .enumerate()
            .filter(|(i, (id, _))| last[id] == *i)
            .map(|(_, (id, v))| (*id, v.as_slice()))
            .collect();
        let per_batch = (MAX_BATCH_BYTES / (4 * self.dim)).clamp(1, MAX_BATCH);
        for chunk in rows.chunks(per_batch) {
            self.upsert_batch(chunk).await?;
        }
        Ok(())
    }

    async fn remove(&self, id: i64) -> Result<(), VectorError> {
        self.delete_ids(&[id]).await
    }

    async fn remove_many(&self, ids: &[i64]) -> Result<(), VectorError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(MAX_DELETE_IDS) {
            self.delete_ids(chunk).await?;
        }
        Ok(())
    }

    async fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, VectorError> {
        let mut lists = self
            .search_each(std::slice::from_ref(&query.to_vec()), k)
            .await?;
        Ok(lists.pop().unwrap_or_default())
    }

    /// One search request for all the queries (`nq` vectors), merged here.
    async fn search_best_of(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Hit>, VectorError> {
        let lists = self.search_each(queries, k).await?;
        Ok(crate::best_of(lists, k))
    }

    async fn len(&self) -> Result<u64, VectorError> {
        let response = self
            .client
            .query(
                QueryRequest::builder()
                    .collection_name(&self.collection)
                    .output_fields(["count(*)"])
                    .consistency_level(self.consistency)
                    .build()?,
            )
            .await?;
        Ok(response.results().get_row_count())
    }
}

impl MilvusStore {
    /// The top `k` of each query, from one search request.
    async fn search_each(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<Hit>>, VectorError> {
        for q in queries {
            check_vector(q, self.dim)?;
        }
        if k == 0 || queries.is_empty() {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let response = self
            .client
            .search(
                SearchRequest::builder()
                    .collection_name(&self.collection)
                    .vector_field(VECTOR_FIELD)
                    .vectors(SearchVectors::Float(queries.to_vec()))
                    .metric_type(MetricType::Ip)
                    .limit(k as i64)
                    .consistency_level(self.consistency)
                    .build()?,
            )
            .await?;
        let results = response.results().get_results();
        if results.len() > queries.len() {
            return Err(VectorError::Schema(format!(
                "search for {} vectors returned {} result lists",
                queries.len(),
                results.len()
            )));
        }
        results
            .iter()
            .map(|result| {
                let Ids::Int64(ids) = result.get_ids() else {
                    return Err(VectorError::Schema(
                        "search returned non-integer ids".into(),
                    ));
                };
                let scores = result.get_scores();
                if ids.len() != scores.len() {
                    return Err(VectorError::Schema(format!(
                        "search returned {} ids but {} scores",
                        ids.len(),
                        scores.len()
                    )));
                }
                Ok(ids
                    .iter()
                    .zip(scores)
                    .map(|(&id, &score)| Hit { id, score })
                    .collect())
            })
            .collect()
    }
}
