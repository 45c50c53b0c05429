//! FanOne user service: accounts, passwords (argon2id), avatars and TOTP MFA.
//!
//! Layout shared by every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations).

pub mod handler;
pub mod service;
pub mod store;

use std::sync::Arc;

use sea_orm::DbErr;

pub use handler::Handler;
pub use service::UserService;
pub use store::{Migrator, SeaUserStore};

/// Connect to the service's own database, migrate it, and build the handler.
pub async fn open(
    database_url: &str,
    node_id: u16,
    _tuning: &fanone_config::Tuning,
    _jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaUserStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    let svc = UserService::new(SeaUserStore::new(db), node_id);
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
