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

use fanone_config::Tuning;
use fanone_counter::Counters;
use sea_orm::DbErr;

pub use handler::Handler;
pub use service::SocialService;
pub use store::{Migrator, SeaSocialStore};

/// Connect to the service's own database, migrate it, start the counter settler,
/// and build the handler.
pub async fn open(
    database_url: &str,
    _node_id: u16,
    tuning: &Tuning,
    jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaSocialStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    Arc::new(Counters::new(db.clone())).settle_every(
        jobs,
        "social-settle",
        Duration::from_millis(tuning.settle_interval_ms),
    );
    let svc = SocialService::new(SeaSocialStore::new(db));
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
