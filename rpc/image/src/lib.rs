//! FanOne image service: the image table, feature vectors (EfficientNet-Lite0 via
//! tract), a vector store (built-in flat index standalone, Milvus in cluster mode),
//! indexing driven by `image.stored` events, removal by `image.removed` events (the
//! objects of removed images deleted after a grace period by the reaper job), and
//! search by example.
//!
//! Layout as every service: `handler` → `service` → `store`; plus `fetch` (image
//! bytes from our own object store, by key; never an outbound request).

pub mod fetch;
pub mod handler;
pub mod service;
pub mod store;

use std::{path::PathBuf, sync::Arc, time::Duration};

use fanone_embed::{Limits, Runtime};
use fanone_events::{
    EventBus, ImageRemoved, ImageStored, REMOVED_AVATAR_REPLACED, REMOVED_VIDEO_DELETED,
    TOPIC_IMAGE_REMOVED, TOPIC_IMAGE_STORED,
};
use fanone_storage::LocalStore;
use fanone_vector::{AnyStore, FlatIndex, MilvusStore};

pub use handler::Handler;
pub use service::{ImageService, Reindexed};
pub use store::{Migrator, SeaImageStore};

pub type Service = ImageService<SeaImageStore, AnyStore>;

/// Consumer group of the indexer on the event queue.
pub const INDEXER_GROUP: &str = "image-indexer";
/// Consumer group of removals on the event queue.
pub const REMOVER_GROUP: &str = "image-remover";

/// Everything the image service needs to start.
#[derive(Debug, Clone)]
pub struct Options {
    pub database_url: String,
    pub node_id: u16,
    pub events: fanone_events::Source,
    pub model_path: PathBuf,
    /// The engine that runs the model.
    pub runtime: Runtime,
    /// Empty = built-in index at `vectors_path`.
    pub milvus_url: String,
    pub milvus_collection: String,
    pub vectors_path: PathBuf,
    /// The object store the images are read from (shared storage in a cluster).
    pub storage_dir: PathBuf,
    pub limits: Limits,
    /// Images decoded at once (0 = one per core); others wait up to `decode_wait`.
    pub max_concurrent_decodes: usize,
    pub decode_wait: Duration,
    /// Searches whose whole picture scores below this embed the other views too.
    pub multi_view_below: f32,
    /// ... and stop after the first of them when it matches at least this well.
    pub multi_view_enough: f32,
    /// The object of a removed image is deleted this long after its removal.
    pub removed_grace: Duration,
    /// How often the reaper looks for such objects (0 = never).
    pub reap_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("image database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Model(#[from] fanone_embed::EmbedError),
    #[error("vector store: {0}")]
    Vector(#[from] fanone_vector::VectorError),
    #[error("event queue: {0}")]
    Events(#[from] fanone_events::EventError),
    #[error("object store: {0}")]
    Storage(#[from] fanone_storage::StorageError),
}

/// Open the database, the vector store and the model (once), without serving.
pub async fn open_service(opts: &Options) -> Result<Arc<Service>, OpenError> {
    let db = fanone_db::connect_and_migrate::<Migrator>(&opts.database_url).await?;
    let vectors = if opts.milvus_url.is_empty() {
        AnyStore::Flat(FlatIndex::open(&opts.vectors_path, fanone_embed::DIM)?)
    } else {
        AnyStore::Milvus(
            MilvusStore::connect(&opts.milvus_url, &opts.milvus_collection, fanone_embed::DIM)
                .await?,
        )
    };
    let started = std::time::Instant::now();
    let (runtime, model_path) = (opts.runtime.clone(), opts.model_path.clone());
    let slots = service::cpu_slots(opts.max_concurrent_decodes);
    let embedder =
        tokio::task::spawn_blocking(move || fanone_embed::load(&runtime, &model_path, slots))
            .await
            .map_err(|e| fanone_embed::EmbedError::Model(e.to_string()))??;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        runtime = ?opts.runtime,
        "image model loaded"
    );
    let local = LocalStore::open(&opts.storage_dir).await?;
    let fetcher = fetch::Fetcher::new(local, opts.limits.max_bytes);
    Ok(Arc::new(
        ImageService::new(
            SeaImageStore::new(db),
            vectors,
            embedder,
            opts.limits,
            fetcher,
            opts.node_id,
        )
        .with_decode_slots(opts.max_concurrent_decodes, opts.decode_wait)
        .with_multi_view_below(opts.multi_view_below)
        .with_multi_view_enough(opts.multi_view_enough),
    ))
}

/// Open everything, start consuming `image.stored` and `image.removed` events and
/// the reaper of removed images' objects.
pub async fn open(
    opts: &Options,
    jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaImageStore, AnyStore>, OpenError> {
    let svc = open_service(opts).await?;
    let bus = EventBus::connect(&opts.events).await?;
    let indexer = svc.clone();
    bus.consume(jobs, INDEXER_GROUP, TOPIC_IMAGE_STORED, Duration::from_secs(2), move |ev| {
        let svc = indexer.clone();
        async move {
            let e: ImageStored = match ev.decode() {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(id = ev.id, error = %err, "malformed image event skipped");
                    return Ok(());
                }
            };
            let kind = match e.kind.as_str() {
                "avatar" => 1,
                "cover" => 2,
                _ => 3,
            };
            let stored_at = (e.stored_at > 0).then_some(e.stored_at);
            match svc.index(&e.url, kind, e.owner_id, stored_at).await {
                Ok(_) => Ok(()),
                Err(service::ImageError::Removed(_)) => {
                    tracing::debug!(url = e.url, "image removed before it was indexed; skipped");
                    Ok(())
                }
                Err(err) if err.is_permanent() => {
                    tracing::warn!(url = e.url, error = %err, "image cannot be indexed; skipped");
                    Ok(())
                }
                Err(err) => Err(err.to_string()),
            }
        }
    });
    let remover = svc.clone();
    bus.consume(
        jobs,
        REMOVER_GROUP,
        TOPIC_IMAGE_REMOVED,
        Duration::from_secs(2),
        move |ev| {
            let svc = remover.clone();
            async move {
                let e: ImageRemoved = match ev.decode() {
                    Ok(e) => e,
                    Err(err) => {
                        tracing::warn!(id = ev.id, error = %err, "malformed image event skipped");
                        return Ok(());
                    }
                };
                // the kind of a tombstone whose image was never seen stored
                let kind = match e.reason.as_str() {
                    REMOVED_AVATAR_REPLACED => 1,
                    REMOVED_VIDEO_DELETED => 2,
                    _ => 3,
                };
                match svc.remove(&e.url, kind).await {
                    Ok(_) => {
                        tracing::debug!(url = e.url, reason = e.reason, "image removal handled");
                        Ok(())
                    }
                    Err(err) if err.is_permanent() => {
                        tracing::warn!(url = e.url, error = %err, "image removal skipped");
                        Ok(())
                    }
                    Err(err) => Err(err.to_string()),
                }
            }
        },
    );
    let reaper = Arc::downgrade(&svc);
    let grace = opts.removed_grace;
    jobs.every("image-reaper", opts.reap_interval, move || {
        let svc = reaper.upgrade();
        async move {
            match svc {
                Some(svc) => svc.reap(grace).await.map(drop),
                None => Ok(()),
            }
        }
    });
    Ok(Handler::new(svc))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), sea_orm::DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
