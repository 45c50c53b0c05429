//! FanOne user service: accounts, passwords (argon2id), avatars and TOTP MFA.
//!
//! Layout shared by every service: `handler` (Thrift in/out) → `service` (rules) →
//! `store` (repository trait + sea-orm implementation + migrations).

pub mod handler;
pub mod service;
pub mod store;

use std::{sync::Arc, time::Duration};

use sea_orm::DbErr;

pub use handler::Handler;
pub use service::UserService;
pub use store::{Migrator, SeaUserStore};

/// Limits of the user service.
#[derive(Debug, Clone)]
pub struct Options {
    /// Back-off of failed passwords (per account) and MFA codes (per user).
    pub backoff: fanone_limit::Backoff,
    /// How long a rotated-out refresh token is still taken.
    pub refresh_reuse_grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self::from(&fanone_config::Config::default())
    }
}

impl From<&fanone_config::Config> for Options {
    fn from(cfg: &fanone_config::Config) -> Self {
        let l = &cfg.limits;
        Self {
            backoff: fanone_limit::Backoff {
                free_failures: l.login_free_failures,
                base: Duration::from_millis(l.login_backoff_base_ms),
                max: Duration::from_secs(l.login_backoff_max_secs),
                forget_after: Duration::from_secs(l.login_forget_after_secs),
            },
            refresh_reuse_grace: Duration::from_secs(cfg.auth.refresh_reuse_grace_secs),
        }
    }
}

/// Connect to the service's own database, migrate it, and build the handler.
pub async fn open(
    database_url: &str,
    node_id: u16,
    opts: &Options,
    caches: &fanone_cache::Caches,
    limit_store: fanone_limit::AnyStore,
    _jobs: &fanone_jobs::Jobs,
) -> Result<Handler<SeaUserStore>, DbErr> {
    let db = fanone_db::connect_and_migrate::<Migrator>(database_url).await?;
    let svc = UserService::with_limits(
        SeaUserStore::new(db),
        node_id,
        opts.backoff,
        opts.refresh_reuse_grace,
    )
    .with_cache(caches)
    .with_limit_store(limit_store);
    Ok(Handler::new(Arc::new(svc)))
}

/// Apply the service's migrations.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    fanone_db::connect_and_migrate::<Migrator>(database_url)
        .await
        .map(drop)
}
