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
    /// The video service alone.
    Video,
    /// The interaction (likes, comments) service alone.
    Interaction,
    /// The social (follows) service alone.
    Social,
    /// The chat service alone.
    Chat,
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
            let s = &cfg.services;
            let upstreams = [
                s.user.addr,
                s.video.addr,
                s.interaction.addr,
                s.social.addr,
                s.chat.addr,
            ];
            let state = gateway_state(&cfg, &listener, upstreams).await?;
            announce(&[("gateway", format!("http://{}", listener.local_addr()?))]);
            fanone_gateway::serve(state, listener)
                .await
                .map_err(anyhow::Error::from_boxed)
        }
        Command::User => run_service!(cfg, user, fanone_user),
        Command::Video => run_service!(cfg, video, fanone_video),
        Command::Interaction => run_service!(cfg, interaction, fanone_interaction),
        Command::Social => run_service!(cfg, social, fanone_social),
        Command::Chat => run_service!(cfg, chat, fanone_chat),
        Command::Migrate => {
            let s = &cfg.services;
            fanone_user::migrate(&cfg.database_url("user", &s.user)).await?;
            fanone_video::migrate(&cfg.database_url("video", &s.video)).await?;
            fanone_interaction::migrate(&cfg.database_url("interaction", &s.interaction)).await?;
            fanone_social::migrate(&cfg.database_url("social", &s.social)).await?;
            fanone_chat::migrate(&cfg.database_url("chat", &s.chat)).await?;
            println!("migrations applied");
            Ok(())
        }
    }
}

/// One service in its own process: open its database, bind, announce, serve.
macro_rules! run_service {
    ($cfg:ident, $name:ident, $krate:ident) => {{
        let svc = &$cfg.services.$name;
        let url = $cfg.database_url(stringify!($name), svc);
        let handler = $krate::open(&url, svc.node_id, &$cfg.tuning).await?;
        let listener = bind(svc.addr).await?;
        announce(&[(stringify!($name), listener.local_addr()?.to_string())]);
        $krate::serve(handler, listener)
            .await
            .map_err(anyhow::Error::from_boxed)
    }};
}
use run_service;

/// Open a service's database and bind its listener (standalone).
macro_rules! prepare {
    ($cfg:ident, $name:ident, $krate:ident) => {{
        let svc = &$cfg.services.$name;
        let url = $cfg.database_url(stringify!($name), svc);
        let handler = $krate::open(&url, svc.node_id, &$cfg.tuning).await?;
        let listener = bind(svc.addr).await?;
        let addr = listener.local_addr()?;
        (handler, listener, addr)
    }};
}

async fn standalone(cfg: &mut Config) -> Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("create data dir {}", cfg.data_dir.display()))?;
    if cfg.auth.jwt_secret == DEV_JWT_SECRET {
        cfg.auth.jwt_secret = local_secret(&cfg.data_dir)?;
    }
    let (user, user_l, user_a) = prepare!(cfg, user, fanone_user);
    let (video, video_l, video_a) = prepare!(cfg, video, fanone_video);
    let (inter, inter_l, inter_a) = prepare!(cfg, interaction, fanone_interaction);
    let (social, social_l, social_a) = prepare!(cfg, social, fanone_social);
    let (chat, chat_l, chat_a) = prepare!(cfg, chat, fanone_chat);

    let gw_listener = bind(cfg.gateway.addr).await?;
    let upstreams = [user_a, video_a, inter_a, social_a, chat_a];
    let state = gateway_state(cfg, &gw_listener, upstreams).await?;
    announce(&[
        ("gateway", format!("http://{}", gw_listener.local_addr()?)),
        ("user", user_a.to_string()),
        ("video", video_a.to_string()),
        ("interaction", inter_a.to_string()),
        ("social", social_a.to_string()),
        ("chat", chat_a.to_string()),
        ("data", cfg.data_dir.display().to_string()),
    ]);
    tokio::try_join!(
        fanone_user::serve(user, user_l),
        fanone_video::serve(video, video_l),
        fanone_interaction::serve(inter, inter_l),
        fanone_social::serve(social, social_l),
        fanone_chat::serve(chat, chat_l),
        fanone_gateway::serve(state, gw_listener),
    )
    .map_err(anyhow::Error::from_boxed)?;
    Ok(())
}

/// Addresses in order: user, video, interaction, social, chat.
async fn gateway_state(
    cfg: &Config,
    listener: &TcpListener,
    [user, video, interaction, social, chat]: [SocketAddr; 5],
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
        video,
        interaction,
        social,
        chat,
        rpc_timeout: Duration::from_millis(cfg.gateway.rpc_timeout_ms),
    };
    let limits = Limits {
        max_body_bytes: cfg.gateway.max_body_bytes,
        max_avatar_bytes: cfg.gateway.max_avatar_bytes,
        max_video_bytes: cfg.gateway.max_video_bytes,
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
