//! FanOne interaction service (placeholder until built).

pub mod handler;

use fanone_config::Tuning;
use sea_orm::DbErr;
use tokio::net::TcpListener;
use volo::net::incoming::DefaultIncoming;

pub use handler::Handler;

pub async fn open(_database_url: &str, _node_id: u16, _tuning: &Tuning) -> Result<Handler, DbErr> {
    Ok(Handler)
}

/// Apply the service's migrations.
pub async fn migrate(_database_url: &str) -> Result<(), DbErr> {
    Ok(())
}

pub async fn serve(handler: Handler, listener: TcpListener) -> Result<(), motore::BoxError> {
    tracing::info!(addr = ?listener.local_addr().ok(), "interaction service listening");
    volo_gen::interaction::InteractionServiceServer::new(handler)
        .run(DefaultIncoming::from(listener))
        .await
}
