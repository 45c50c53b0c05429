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
    /// The image (reverse image search) service alone; `image reindex` rebuilds its vectors.
    Image {
        #[command(subcommand)]
        action: Option<ImageAction>,
    },
    /// Apply database migrations of every service and exit.
    Migrate,
}

#[derive(Subcommand)]
enum ImageAction {
    /// Rebuild every vector from the image table (with a progress bar), then exit.
    Reindex,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    private_umask();
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
                s.image.addr,
            ];
            let state = gateway_state(&cfg, &listener, upstreams).await?;
            announce(&[("gateway", format!("http://{}", listener.local_addr()?))]);
            fanone_gateway::serve(state, listener, deadlines(&cfg))
                .await
                .map_err(anyhow::Error::from_boxed)
        }
        Command::User => run_service!(cfg, user, fanone_user, &fanone_user::Options::from(&cfg)),
        Command::Video => run_service!(cfg, video, fanone_video, &cfg.tuning),
        Command::Interaction => {
            run_service!(cfg, interaction, fanone_interaction, &cfg.tuning)
        }
        Command::Social => run_service!(cfg, social, fanone_social, &cfg.tuning),
        Command::Chat => run_service!(cfg, chat, fanone_chat, &cfg.tuning),
        Command::Image { action: None } => {
            let handler = fanone_image::open(&image_options(&cfg)).await?;
            let listener = bind(cfg.services.image.addr).await?;
            announce(&[("image", listener.local_addr()?.to_string())]);
            fanone_image::serve(handler, listener)
                .await
                .map_err(anyhow::Error::from_boxed)
        }
        Command::Image {
            action: Some(ImageAction::Reindex),
        } => reindex(&cfg).await,
        Command::Migrate => {
            let s = &cfg.services;
            fanone_user::migrate(&cfg.database_url("user", &s.user)).await?;
            fanone_video::migrate(&cfg.database_url("video", &s.video)).await?;
            fanone_interaction::migrate(&cfg.database_url("interaction", &s.interaction)).await?;
            fanone_social::migrate(&cfg.database_url("social", &s.social)).await?;
            fanone_chat::migrate(&cfg.database_url("chat", &s.chat)).await?;
            fanone_image::migrate(&cfg.database_url("image", &s.image)).await?;
            println!("migrations applied");
            Ok(())
        }
    }
}

/// One service in its own process: open its database, bind, announce, serve.
macro_rules! run_service {
    ($cfg:ident, $name:ident, $krate:ident, $opts:expr) => {{
        let svc = &$cfg.services.$name;
        let url = $cfg.database_url(stringify!($name), svc);
        let handler = $krate::open(&url, svc.node_id, $opts).await?;
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
    ($cfg:ident, $name:ident, $krate:ident, $opts:expr) => {{
        let svc = &$cfg.services.$name;
        let url = $cfg.database_url(stringify!($name), svc);
        let handler = $krate::open(&url, svc.node_id, $opts).await?;
        let listener = bind(svc.addr).await?;
        let addr = listener.local_addr()?;
        (handler, listener, addr)
    }};
}

async fn standalone(cfg: &mut Config) -> Result<()> {
    secure_data_dir(&cfg.data_dir)?;
    if cfg.auth.jwt_secret == DEV_JWT_SECRET {
        cfg.auth.jwt_secret = local_secret(&cfg.data_dir)?;
    }
    let user_opts = fanone_user::Options::from(&*cfg);
    let (user, user_l, user_a) = prepare!(cfg, user, fanone_user, &user_opts);
    let (video, video_l, video_a) = prepare!(cfg, video, fanone_video, &cfg.tuning);
    let (inter, inter_l, inter_a) = prepare!(cfg, interaction, fanone_interaction, &cfg.tuning);
    let (social, social_l, social_a) = prepare!(cfg, social, fanone_social, &cfg.tuning);
    let (chat, chat_l, chat_a) = prepare!(cfg, chat, fanone_chat, &cfg.tuning);
    let image = fanone_image::open(&image_options(cfg)).await?;
    let image_l = bind(cfg.services.image.addr).await?;
    let image_a = image_l.local_addr()?;

    let gw_listener = bind(cfg.gateway.addr).await?;
    let upstreams = [user_a, video_a, inter_a, social_a, chat_a, image_a];
    let state = gateway_state(cfg, &gw_listener, upstreams).await?;
    announce(&[
        ("gateway", format!("http://{}", gw_listener.local_addr()?)),
        ("user", user_a.to_string()),
        ("video", video_a.to_string()),
        ("interaction", inter_a.to_string()),
        ("social", social_a.to_string()),
        ("chat", chat_a.to_string()),
        ("image", image_a.to_string()),
        ("data", cfg.data_dir.display().to_string()),
    ]);
    tokio::try_join!(
        fanone_user::serve(user, user_l),
        fanone_video::serve(video, video_l),
        fanone_interaction::serve(inter, inter_l),
        fanone_social::serve(social, social_l),
        fanone_chat::serve(chat, chat_l),
        fanone_image::serve(image, image_l),
        fanone_gateway::serve(state, gw_listener, deadlines(cfg)),
    )
    .map_err(anyhow::Error::from_boxed)?;
    Ok(())
}

/// Addresses in order: user, video, interaction, social, chat, image.
async fn gateway_state(
    cfg: &Config,
    listener: &TcpListener,
    [user, video, interaction, social, chat, image]: [SocketAddr; 6],
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
        image,
        rpc_timeout: Duration::from_millis(cfg.gateway.rpc_timeout_ms),
    };
    let limits = Limits {
        max_body_bytes: cfg.gateway.max_body_bytes,
        max_avatar_bytes: cfg.gateway.max_avatar_bytes,
        max_video_bytes: cfg.gateway.max_video_bytes,
        max_search_image_bytes: cfg.image.max_bytes,
        body_idle_timeout: Duration::from_secs(cfg.gateway.body_idle_timeout_secs.max(1)),
        visit_interval: Duration::from_secs(cfg.limits.visit_interval_secs),
        ws_max_per_user: cfg.limits.ws_max_per_user as usize,
    };
    let l = &cfg.limits;
    let client_backoff = fanone_limit::Backoff {
        free_failures: l.client_free_failures,
        base: Duration::from_millis(l.login_backoff_base_ms),
        max: Duration::from_secs(l.login_backoff_max_secs),
        forget_after: Duration::from_secs(l.login_forget_after_secs),
    };
    let events = fanone_events::EventBus::open(&cfg.events_url()).await?;
    let state = Arc::new(AppState::new(
        &upstreams,
        jwt,
        store,
        limits,
        public_url,
        events,
        client_backoff,
    ));
    sweep_uploads(
        state.clone(),
        Duration::from_secs(cfg.storage.tmp_max_age_secs),
        Duration::from_secs(cfg.storage.tmp_sweep_interval_secs.max(1)),
    );
    Ok(state)
}

/// Remove upload temp files left by a crash: once now, then every `every`. Only
/// files untouched for `max_age` go, so uploads in progress (here or on another
/// gateway sharing the store) are kept.
fn sweep_uploads(state: Arc<AppState>, max_age: Duration, every: Duration) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = state.store.sweep_tmp(max_age).await {
                tracing::warn!(error = %e, "upload temp sweep failed");
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// When the gateway closes slow or idle connections.
fn deadlines(cfg: &Config) -> fanone_gateway::conn::Deadlines {
    fanone_gateway::conn::Deadlines {
        header_read: Duration::from_secs(cfg.gateway.header_read_timeout_secs.max(1)),
        idle: Duration::from_secs(cfg.gateway.idle_timeout_secs.max(1)),
    }
}

/// Options of the image service from the configuration.
fn image_options(cfg: &Config) -> fanone_image::Options {
    let svc = &cfg.services.image;
    fanone_image::Options {
        database_url: cfg.database_url("image", svc),
        node_id: svc.node_id,
        events_url: cfg.events_url(),
        model_path: model_path(&cfg.image.model_path),
        milvus_url: cfg.image.milvus_url.clone(),
        milvus_collection: cfg.image.milvus_collection.clone(),
        vectors_path: cfg.data_dir.join("image.vectors"),
        storage_dir: cfg.storage_dir(),
        limits: fanone_embed::Limits {
            max_bytes: cfg.image.max_bytes,
            max_pixels: cfg.image.max_pixels,
            max_decode_bytes: cfg.image.max_decode_bytes,
            ..Default::default()
        },
        max_concurrent_decodes: cfg.image.max_concurrent_decodes as usize,
        decode_wait: Duration::from_millis(cfg.image.decode_wait_ms),
    }
}

/// A relative model path is looked up from the working directory, then from the
/// source tree of a cargo build (`target/<profile>/fanone` → `../../`).
fn model_path(configured: &Path) -> PathBuf {
    if configured.is_absolute() || configured.exists() {
        return configured.to_path_buf();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join(configured)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| configured.to_path_buf())
}

/// `fanone image reindex`: rebuild every vector from the image table.
async fn reindex(cfg: &Config) -> Result<()> {
    let svc = fanone_image::open_service(&image_options(cfg)).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reindex [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let (ok, failed) = svc
        .reindex(|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish();
    println!("reindexed {ok} images, {failed} failed (see the log)");
    Ok(())
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

/// A signing key private to this data dir, created on first start (mode 0600), so
/// standalone sessions survive restarts without a shared default secret.
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
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let _ = std::fs::remove_file(&path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(secret.as_bytes()))
        .with_context(|| format!("write {}", path.display()))?;
    Ok(secret)
}

/// Files this process creates are private to its user (databases, secrets,
/// objects): mode 0600 files, 0700 directories.
fn private_umask() {
    // SAFETY: umask only swaps the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Create the data directory 0700 and make what is already in it private: the
/// directory 0700, the files directly in it (databases, `jwt.secret`, vectors)
/// 0600 — also those written by an older version.
fn secure_data_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("create data dir {}", dir.display()))?;
    let private = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {mode:o} {}", path.display()))
    };
    private(dir, 0o700)?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() {
            private(&entry.path(), 0o600)?;
        } else if kind.is_dir() {
            private(&entry.path(), 0o700)?;
        }
    }
    Ok(())
}
