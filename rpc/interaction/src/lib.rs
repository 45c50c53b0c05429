//! FanOne interaction service: likes on videos and comments, comments with replies,
//! and their counts (hot counters of `fanone_counter`, exact on every read).
//!
//! Layout shared by every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations).

pub mod handler;
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use fanone_config::{ShardSpec, Tuning};
use fanone_shard::Shards;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::{InteractionService, LIKE_BATCH_MAX};
pub use store::{Migrator, SHARDED, SeaInteractionStore};

/// Connect to the service's databases (`spec`: its sharded tables' layout), migrate
/// them, start the counter settler (every `tuning.settle_interval_ms`) and the like
/// writers (group commit), all owned by `jobs`, and build the handler.
pub async fn open(
    spec: &ShardSpec,
    node_id: u16,
    tuning: &Tuning,
    caches: &fanone_cache::Caches,
    jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaInteractionStore>, DbErr> {
    let shards = Shards::connect_and_migrate::<Migrator>(&spec.urls, spec.tables, SHARDED).await?;
    let store = SeaInteractionStore::new(shards);
    fanone_counter::settle_every(
        store.counters().to_vec(),
        jobs,
        "interaction-settle",
        Duration::from_millis(tuning.settle_interval_ms),
    );
    let store = store.with_group_commit(jobs);
    let svc = InteractionService::new(store, node_id)
        .with_cache(caches, Duration::from_millis(tuning.settle_interval_ms));
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations (and create the shards' tables).
pub async fn migrate(spec: &ShardSpec) -> Result<(), DbErr> {
    Shards::connect_and_migrate::<Migrator>(&spec.urls, spec.tables, SHARDED)
        .await
        .map(drop)
}
