//! FanOne interaction service: likes on videos and comments, comments with replies,
//! and their counts (hot counters of `fanone_counter`, exact on every read).
//!
//! Layout shared by every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations).

pub mod handler;
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use fanone_config::Tuning;
use fanone_counter::Counters;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::InteractionService;
pub use store::{Migrator, SeaInteractionStore};

/// Connect to the service's own database, migrate it, start the counter settler
/// (every `tuning.settle_interval_ms`) and the like writer (group commit), both
/// owned by `jobs`, and build the handler.
pub async fn open(
    database_url: &str,
    node_id: u16,
    tuning: &Tuning,
    caches: &fanone_cache::Caches,
    jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaInteractionStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    let counters = Counters::new(db.clone());
    Arc::new(counters.clone()).settle_every(
        jobs,
        "interaction-settle",
        Duration::from_millis(tuning.settle_interval_ms),
    );
    let store = SeaInteractionStore::new(db, counters).with_group_commit(jobs);
    let svc = InteractionService::new(store, node_id)
        .with_cache(caches, Duration::from_millis(tuning.settle_interval_ms));
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
