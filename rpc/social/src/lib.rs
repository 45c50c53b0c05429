//! FanOne social service: follows, followers and friends (mutual follows).
//!
//! Same shape as every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations). Follow and
//! follower counts are hot counters (`fanone_counter`), appended in the transaction
//! of the follow row and settled in the background.

pub mod handler;
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use fanone_config::{ShardSpec, Tuning};
use fanone_shard::Shards;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::SocialService;
pub use store::{Migrator, SHARDED, SeaSocialStore};

/// Connect to the service's databases (`spec`: its sharded tables' layout), migrate
/// them, start the counter settler, and build the handler.
pub async fn open(
    spec: &ShardSpec,
    _node_id: u16,
    tuning: &Tuning,
    jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaSocialStore>, DbErr> {
    let shards = Shards::connect_and_migrate::<Migrator>(&spec.urls, spec.tables, SHARDED).await?;
    let store = SeaSocialStore::new(shards);
    fanone_counter::settle_every(
        store.counters().to_vec(),
        jobs,
        "social-settle",
        Duration::from_millis(tuning.settle_interval_ms),
    );
    let svc = SocialService::new(store);
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations (and create the shards' tables).
pub async fn migrate(spec: &ShardSpec) -> Result<(), DbErr> {
    Shards::connect_and_migrate::<Migrator>(&spec.urls, spec.tables, SHARDED)
        .await
        .map(drop)
}
