//! FanOne chat service: stores private messages, answers history, and hands out
//! unread (offline) messages exactly once. The WebSocket hub lives in the gateway.
//!
//! Same shape as every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations).

pub mod handler;
pub mod service;
pub mod store;

use std::sync::Arc;

use fanone_config::{ShardSpec, Tuning};
use fanone_shard::Shards;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::ChatService;
pub use store::{Migrator, SHARDED, SeaChatStore};

/// Connect to the service's databases (`spec`: its sharded table's layout), migrate
/// them, and build the handler.
pub async fn open(
    spec: &ShardSpec,
    node_id: u16,
    _tuning: &Tuning,
    _jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaChatStore>, DbErr> {
    let shards = Shards::connect_and_migrate::<Migrator>(&spec.urls, spec.tables, SHARDED).await?;
    let svc = ChatService::new(SeaChatStore::new(shards), node_id);
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations (and create the shards' tables).
pub async fn migrate(spec: &ShardSpec) -> Result<(), DbErr> {
    Shards::connect_and_migrate::<Migrator>(&spec.urls, spec.tables, SHARDED)
        .await
        .map(drop)
}
