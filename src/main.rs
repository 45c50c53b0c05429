//! `fanone`: one binary for every way to run FanOne.
//!
//! - `fanone standalone`: the gateway and every service as real Thrift/HTTP servers
//!   on loopback in one process, SQLite files and objects under the data dir.
//! - `fanone gateway` / `fanone user`: one component each, for cluster deployments
//!   (config file + `FANONE__*` env pointing at MySQL-protocol databases).
//! - `fanone migrate`: bring every configured database schema up to date and exit.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fanone_config::{Config, DEV_JWT_SECRET};
use fanone_gateway::{AppState, Limits, Upstreams};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "fanone", version, about = "FanOne video site")]
struct Cli {
    /// TOML configuration file (values there override defaults; FANONE__* env overrides both).
    #[arg(long, short, global = true, env = "FANONE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gateway and every service on loopback, embedded stores (the default way to run).
    Standalone,
    /// The HTTP gateway alone.
    Gateway,
    /// The user service alone.
    User,
    /// Apply database migrations of every service and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())?;
    fanone_telemetry::init(&cfg.telemetry.log, cfg.telemetry.json);
    match cli.command {
        Command::Standalone => standalone(&mut cfg).await,
        Command::Gateway => {
            cfg.check_cluster()?;
            let listener = bind(cfg.gateway.addr).await?;
            let state = gateway_state(&cfg, &listener, cfg.services.user.addr).await?;
            announce(&[("gateway", format!("http://{}", listener.local_addr()?))]);
            fanone_gateway::serve(state, listener)
                .await
                .map_err(anyhow::Error::from_boxed)
        }
        Command::User => {
            let svc = &cfg.services.user;
            let handler = fanone_user::open(&cfg.database_url("user", svc), svc.node_id).await?;
            let listener = bind(svc.addr).await?;
            announce(&[("user", listener.local_addr()?.to_string())]);
            fanone_user::serve(handler, listener)
                .await
                .map_err(anyhow::Error::from_boxed)
        }
        Command::Migrate => {
            let svc = &cfg.services.user;
            fanone_db::connect_and_migrate::<fanone_user::Migrator>(&cfg.database_url("user", svc))
                .await?;
            println!("migrations applied");
            Ok(())
        }
    }
}

async fn standalone(cfg: &mut Config) -> Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create data dir {}", cfg.data_dir.display()))?;
    if cfg.auth.jwt_secret == DEV_JWT_SECRET {
        cfg.auth.jwt_secret = local_secret(&cfg.data_dir)?;
    }
    let user_svc = &cfg.services.user;
    let user = fanone_user::open(&cfg.database_url("user", user_svc), user_svc.node_id).await?;
    let user_listener = bind(user_svc.addr).await?;
    let user_addr = user_listener.local_addr()?;

    let gw_listener = bind(cfg.gateway.addr).await?;
    let state = gateway_state(cfg, &gw_listener, user_addr).await?;
    announce(&[
        ("gateway", format!("http://{}", gw_listener.local_addr()?)),
        ("user", user_addr.to_string()),
        ("data", cfg.data_dir.display().to_string()),
    ]);
    tokio::try_join!(
        fanone_user::serve(user, user_listener),
        fanone_gateway::serve(state, gw_listener),
    )
    .map_err(anyhow::Error::from_boxed)?;
    Ok(())
}

async fn gateway_state(
    cfg: &Config,
    listener: &TcpListener,
    user: SocketAddr,
) -> Result<Arc<AppState>> {
    let store = fanone_storage::LocalStore::open(cfg.storage_dir()).await?;
    let public_url = if cfg.gateway.public_url.is_empty() {
        format!("http://{}", listener.local_addr()?)
    } else {
        cfg.gateway.public_url.clone()
    };
    let jwt = fanone_auth::Jwt::new(
        cfg.auth.jwt_secret.as_bytes(),
        cfg.auth.access_ttl_secs,
        cfg.auth.refresh_ttl_secs,
    );
    let upstreams = Upstreams {
        user,
        rpc_timeout: Duration::from_millis(cfg.gateway.rpc_timeout_ms),
    };
    let limits = Limits {
        max_body_bytes: cfg.gateway.max_body_bytes,
        max_avatar_bytes: cfg.gateway.max_avatar_bytes,
    };
    Ok(Arc::new(AppState::new(
        &upstreams, jwt, store, limits, public_url,
    )))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))
}

/// Human line plus one machine-readable line (`FANONE_READY k=v ...`) on stdout.
fn announce(parts: &[(&str, String)]) {
    for (k, v) in parts {
        println!("fanone: {k:<8} {v}");
    }
    let kv: Vec<String> = parts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("FANONE_READY {}", kv.join(" "));
}

/// A signing key private to this data dir, created on first start, so standalone
/// sessions survive restarts without a shared default secret.
fn local_secret(data_dir: &Path) -> Result<String> {
    let path = data_dir.join("jwt.secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            return Ok(s);
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &secret).with_context(|| format!("write {}", path.display()))?;
    Ok(secret)
}
