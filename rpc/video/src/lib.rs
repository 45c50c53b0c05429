//! FanOne video service: publishing, feed, search, visit counts and the popular
//! ranking.
//!
//! Layout shared by every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations). Visit counts
//! are `fanone_counter` hot counters in the service's own database; the popular
//! ranking is an in-memory cache rebuilt by a background task.

pub mod handler;
pub mod service;
pub mod store;
pub mod upload;

use std::{sync::Arc, time::Duration};

use fanone_config::Tuning;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::VideoService;
pub use store::{Migrator, SeaVideoStore, StoreError};
pub use upload::UploadLimits;

/// Connect to the service's own database, migrate it, start the background jobs
/// (counter settling, popular ranking) and build the handler.
pub async fn open(
    database_url: &str,
    node_id: u16,
    tuning: &Tuning,
    uploads: UploadLimits,
    caches: &fanone_cache::Caches,
    ranking_store: Option<fanone_redis::Redis>,
    jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaVideoStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    let store = SeaVideoStore::new(db);
    fanone_counter::settle_every(
        vec![store.counters().as_ref().clone()],
        jobs,
        "video-settle",
        Duration::from_millis(tuning.settle_interval_ms),
    );
    let svc = Arc::new(
        VideoService::new(store, node_id, tuning.popular_size)
            .with_upload_limits(uploads)
            .with_cache(caches, Duration::from_millis(tuning.settle_interval_ms))
            .with_ranking_store(ranking_store),
    );
    // the first ranking is built before serving, so popular is never empty by accident
    svc.refresh_popular().await.map_err(|e| match e {
        service::VideoError::Store(StoreError::Db(e)) => e,
        other => DbErr::Custom(other.to_string()),
    })?;
    let weak = Arc::downgrade(&svc);
    jobs.every(
        "video-popular",
        Duration::from_millis(tuning.popular_refresh_ms),
        move || {
            let svc = weak.upgrade();
            async move {
                match svc {
                    Some(svc) => svc.refresh_popular().await.map(drop),
                    None => Ok(()),
                }
            }
        },
    );
    Ok(Handler::new(svc))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
