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
use tokio::{net::TcpListener, task::JoinHandle};
use volo::net::incoming::DefaultIncoming;

pub use handler::Handler;
pub use service::InteractionService;
pub use store::{Migrator, SeaInteractionStore};

/// The background task folding counter increments; aborted when dropped.
pub struct Settler(JoinHandle<()>);

impl Drop for Settler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connect to the service's own database, migrate it, start the counter settler
/// (every `tuning.settle_interval_ms`; 0 = never) and build the handler.
pub async fn open(
    database_url: &str,
    node_id: u16,
    tuning: &Tuning,
) -> Result<Handler<SeaInteractionStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    let counters = Counters::new(db.clone());
    let settler = (tuning.settle_interval_ms > 0).then(|| {
        Settler(
            Arc::new(counters.clone())
                .spawn_settler(Duration::from_millis(tuning.settle_interval_ms)),
        )
    });
    let svc = InteractionService::new(SeaInteractionStore::new(db, counters), node_id);
    Ok(Handler::with_settler(Arc::new(svc), settler))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}

/// Serve Thrift on an already bound listener until a shutdown signal.
pub async fn serve(
    handler: Handler<SeaInteractionStore>,
    listener: TcpListener,
) -> Result<(), motore::BoxError> {
    tracing::info!(addr = ?listener.local_addr().ok(), "interaction service listening");
    volo_gen::interaction::InteractionServiceServer::new(handler)
        .run(DefaultIncoming::from(listener))
        .await
}
