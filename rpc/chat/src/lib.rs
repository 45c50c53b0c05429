//! FanOne chat service: stores private messages, answers history, and hands out
//! unread (offline) messages exactly once. The WebSocket hub lives in the gateway.
//!
//! Same shape as every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations).

pub mod handler;
pub mod service;
pub mod store;

use std::sync::Arc;

use fanone_config::Tuning;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::ChatService;
pub use store::{Migrator, SeaChatStore};

/// Connect to the service's own database, migrate it, and build the handler.
pub async fn open(
    database_url: &str,
    node_id: u16,
    _tuning: &Tuning,
    _jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaChatStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    let svc = ChatService::new(SeaChatStore::new(db), node_id);
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
