//! `fanone`: one binary for every way to run FanOne.
//!
//! - `fanone standalone`: the gateway and every service as real Thrift/HTTP servers
//!   on loopback in one process, SQLite files and objects under the data dir, the
//!   static registry in memory.
//! - `fanone gateway` / `fanone user` / ...: one component each, for cluster
//!   deployments (config file + `FANONE__*` env: MySQL-protocol databases, a
//!   registry — etcd or Nacos — and the shared internal secret).
//! - `fanone migrate`: bring every configured database schema up to date and exit.
//!
//! Every component starts the same way (`fanone_rpc`): bind, register (getting its
//! snowflake worker id), open its stores and background jobs, serve; on SIGTERM it
//! deregisters, stops its jobs and drains.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fanone_cache::Caches;
use fanone_config::{Config, DEV_JWT_SECRET, ModelRuntime, SERVICES};
use fanone_gateway::{AppState, Limits};
use fanone_rpc::{Registered, Rpc};
use futures::future::BoxFuture;

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
    /// Rebuild the index from the image table (with a progress bar): exactly the
    /// pictures of live images; then exit.
    Reindex,
}

type Serving = BoxFuture<'static, Result<(), motore::BoxError>>;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    private_umask();
    let file = cli.config.clone();
    let mut cfg = Config::load(file.as_deref())?;
    let mut telemetry = fanone_telemetry::init(&cfg.telemetry, cli.command.component());
    cfg.validate()?;
    let result = run(cli.command, &mut cfg, file).await;
    telemetry.shutdown();
    result
}

impl Command {
    /// The name this process has in traces (`fanone-<name>`).
    fn component(&self) -> &'static str {
        match self {
            Command::Standalone => "standalone",
            Command::Gateway => "gateway",
            Command::User => "user",
            Command::Video => "video",
            Command::Interaction => "interaction",
            Command::Social => "social",
            Command::Chat => "chat",
            Command::Image { .. } => "image",
            Command::Migrate => "migrate",
        }
    }
}

async fn run(command: Command, cfg: &mut Config, file: Option<PathBuf>) -> Result<()> {
    let cfg = &mut *cfg;
    match command {
        Command::Standalone => standalone(cfg, file).await,
        Command::Gateway => {
            cfg.check_cluster()?;
            let rpc = connect(cfg, file, "gateway").await?;
            let (addr, serving) = gateway(cfg, &rpc).await?;
            announce(&rpc, &[("gateway", addr)]);
            serving.await.map_err(anyhow::Error::from_boxed)
        }
        Command::User => component(cfg, file, "user").await,
        Command::Video => component(cfg, file, "video").await,
        Command::Interaction => component(cfg, file, "interaction").await,
        Command::Social => component(cfg, file, "social").await,
        Command::Chat => component(cfg, file, "chat").await,
        Command::Image { action: None } => component(cfg, file, "image").await,
        Command::Image {
            action: Some(ImageAction::Reindex),
        } => reindex(cfg).await,
        Command::Migrate => {
            for name in SERVICES {
                migrate(cfg, name).await?;
            }
            println!("migrations applied");
            Ok(())
        }
    }
}

/// The process's RPC kit, following the config center when configured, with its
/// admin listener (metrics, health, profiles) started.
async fn connect(cfg: &Config, file: Option<PathBuf>, caller: &str) -> Result<Arc<Rpc>> {
    let rpc = Arc::new(Rpc::connect(cfg, caller).await?);
    rpc.follow_config(file, cfg).await?;
    rpc.start_admin(&cfg.telemetry).await?;
    Ok(rpc)
}

/// One service in its own process (cluster mode).
async fn component(cfg: &Config, file: Option<PathBuf>, name: &str) -> Result<()> {
    cfg.check_cluster()?;
    let rpc = connect(cfg, file, name).await?;
    let shared = Shared::cluster(cfg).await?;
    let (addr, serving) = service(cfg, &rpc, name, &shared).await?;
    announce(&rpc, &[(name, addr)]);
    serving.await.map_err(anyhow::Error::from_boxed)
}

/// Register service `name`, open its stores and jobs, and return its announced
/// address and the future that serves it.
async fn service(
    cfg: &Config,
    rpc: &Arc<Rpc>,
    name: &str,
    shared: &Shared,
) -> Result<(String, Serving)> {
    let caches = &shared.caches;
    let svc = cfg
        .services
        .get(name)
        .with_context(|| format!("unknown service {name}"))?;
    let reg = rpc.register(name, svc.addr, svc.node_id).await?;
    let addr = reg.instance.addr.to_string();
    let (url, worker, tuning, jobs) = (
        cfg.database_url(name, svc),
        reg.worker_id,
        &cfg.tuning,
        rpc.jobs().as_ref(),
    );
    let rpc = rpc.clone();
    let serving: Serving = match name {
        "user" => {
            let opts = fanone_user::Options::from(cfg);
            let h = fanone_user::open(
                &url,
                worker,
                &opts,
                caches,
                shared.limit_store("user:limit"),
                jobs,
            )
            .await?;
            let server = volo_gen::user::UserServiceServer::new(h);
            Box::pin(async move { rpc.serve(server, reg).await })
        }
        "video" => {
            let h = fanone_video::open(
                &url,
                worker,
                tuning,
                (&cfg.upload).into(),
                caches,
                shared.redis.clone(),
                jobs,
            )
            .await?;
            let server = volo_gen::video::VideoServiceServer::new(h);
            Box::pin(async move { rpc.serve(server, reg).await })
        }
        "interaction" => {
            let spec = cfg.shards(name, svc);
            let h = fanone_interaction::open(&spec, worker, tuning, caches, jobs).await?;
            let server = volo_gen::interaction::InteractionServiceServer::new(h);
            Box::pin(async move { rpc.serve(server, reg).await })
        }
        "social" => {
            let h = fanone_social::open(&cfg.shards(name, svc), worker, tuning, jobs).await?;
            let server = volo_gen::social::SocialServiceServer::new(h);
            Box::pin(async move { rpc.serve(server, reg).await })
        }
        "chat" => {
            let h = fanone_chat::open(&cfg.shards(name, svc), worker, tuning, jobs).await?;
            let server = volo_gen::chat::ChatServiceServer::new(h);
            Box::pin(async move { rpc.serve(server, reg).await })
        }
        "image" => {
            let h = fanone_image::open(&image_options(cfg, worker)?, jobs).await?;
            let server = volo_gen::image::ImageServiceServer::new(h);
            Box::pin(async move { rpc.serve(server, reg).await })
        }
        other => anyhow::bail!("unknown service {other}"),
    };
    Ok((addr, serving))
}

/// What the services of one process share: the read cache and, in a cluster with
/// Redis, the Redis connection (attempt limits shared by every replica).
struct Shared {
    caches: Caches,
    redis: Option<fanone_redis::Redis>,
}

impl Shared {
    /// One process holds every service: one in-memory cache serves them all.
    fn standalone(cfg: &Config) -> Self {
        Self {
            caches: Caches::local(&cfg.cache),
            redis: None,
        }
    }

    /// A service process in cluster mode: Redis when `redis.url` is set; without it
    /// no cache (a per-replica memory cache could not see the other replicas' writes).
    async fn cluster(cfg: &Config) -> Result<Self> {
        let redis = connect_redis(cfg).await?;
        let caches = match &redis {
            Some(r) if cfg.cache.enabled => Caches::redis(r.clone(), &cfg.cache),
            _ => {
                tracing::info!(
                    redis = redis.is_some(),
                    enabled = cfg.cache.enabled,
                    "the read cache is off"
                );
                Caches::off()
            }
        };
        Ok(Self { caches, redis })
    }

    /// Attempt limits under `prefix`: in Redis when there is one, else in memory.
    fn limit_store(&self, prefix: &'static str) -> fanone_limit::AnyStore {
        limit_store(self.redis.as_ref(), prefix)
    }
}

/// Redis when `redis.url` is set.
async fn connect_redis(cfg: &Config) -> Result<Option<fanone_redis::Redis>> {
    if cfg.redis.url.is_empty() {
        return Ok(None);
    }
    Ok(Some(fanone_redis::Redis::connect(&cfg.redis).await?))
}

fn limit_store(
    redis: Option<&fanone_redis::Redis>,
    prefix: &'static str,
) -> fanone_limit::AnyStore {
    match redis {
        Some(r) => fanone_limit::AnyStore::Redis(fanone_limit::RedisStore::new(r.clone(), prefix)),
        None => fanone_limit::AnyStore::default(),
    }
}

/// Apply the migrations of service `name`.
async fn migrate(cfg: &Config, name: &str) -> Result<()> {
    let svc = cfg
        .services
        .get(name)
        .with_context(|| format!("unknown service {name}"))?;
    let url = cfg.database_url(name, svc);
    match name {
        "user" => fanone_user::migrate(&url).await?,
        "video" => fanone_video::migrate(&url).await?,
        "interaction" => fanone_interaction::migrate(&cfg.shards(name, svc)).await?,
        "social" => fanone_social::migrate(&cfg.shards(name, svc)).await?,
        "chat" => fanone_chat::migrate(&cfg.shards(name, svc)).await?,
        "image" => fanone_image::migrate(&url).await?,
        other => anyhow::bail!("unknown service {other}"),
    }
    Ok(())
}

/// Register the gateway and build its state; returns its URL and the serving future.
async fn gateway(cfg: &Config, rpc: &Arc<Rpc>) -> Result<(String, Serving)> {
    let reg = rpc
        .register("gateway", cfg.gateway.addr, cfg.gateway.node_id)
        .await?;
    let state = gateway_state(cfg, rpc, &reg).await?;
    let url = format!("http://{}", reg.listener.local_addr()?);
    let deadlines = deadlines(cfg);
    let rpc = rpc.clone();
    Ok((
        url,
        Box::pin(async move { fanone_gateway::serve(state, rpc, reg, deadlines).await }),
    ))
}

async fn standalone(cfg: &mut Config, file: Option<PathBuf>) -> Result<()> {
    secure_data_dir(&cfg.data_dir)?;
    if cfg.auth.jwt_secret == DEV_JWT_SECRET {
        cfg.auth.jwt_secret = local_secret(&cfg.data_dir)?;
    }
    let rpc = connect(cfg, file, "standalone").await?;
    let shared = Shared::standalone(cfg);
    let mut parts = Vec::new();
    let mut serving = Vec::new();
    for name in SERVICES {
        let (addr, fut) = service(cfg, &rpc, name, &shared).await?;
        parts.push((name, addr));
        serving.push(fut);
    }
    let (gw, fut) = gateway(cfg, &rpc).await?;
    serving.push(fut);
    parts.insert(0, ("gateway", gw));
    parts.push(("data", cfg.data_dir.display().to_string()));
    announce(&rpc, &parts);
    futures::future::try_join_all(serving)
        .await
        .map_err(anyhow::Error::from_boxed)?;
    Ok(())
}

async fn gateway_state(cfg: &Config, rpc: &Rpc, reg: &Registered) -> Result<Arc<AppState>> {
    let store = fanone_storage::LocalStore::open(cfg.storage_dir()).await?;
    let public_url = if cfg.gateway.public_url.is_empty() {
        format!("http://{}", reg.instance.addr)
    } else {
        cfg.gateway.public_url.clone()
    };
    let jwt = fanone_auth::Jwt::new(
        cfg.auth.jwt_secret.as_bytes(),
        cfg.auth.access_ttl_secs,
        cfg.auth.refresh_ttl_secs,
    );
    let limits = Limits {
        max_body_bytes: cfg.gateway.max_body_bytes,
        max_avatar_bytes: cfg.gateway.max_avatar_bytes,
        max_video_bytes: cfg.gateway.max_video_bytes,
        max_search_image_bytes: cfg.image.max_bytes,
        max_chunk_bytes: cfg.upload.max_chunk_bytes,
        body_idle_timeout: Duration::from_secs(cfg.gateway.body_idle_timeout_secs.max(1)),
        visit_interval: Duration::from_secs(cfg.limits.visit_interval_secs),
        ws_max_per_user: cfg.limits.ws_max_per_user as usize,
        client_backoff: fanone_limit::Backoff {
            free_failures: cfg.limits.client_free_failures,
            ..fanone_user::Options::from(cfg).backoff
        },
    };
    let events = fanone_events::EventBus::connect(&events_source(cfg)?).await?;
    let redis = connect_redis(cfg).await?;
    let state = Arc::new(
        AppState::new(rpc, reg.worker_id, jwt, store, limits, public_url, events)
            .with_limit_store(limit_store(redis.as_ref(), "gateway:limit")),
    );
    if let Some(redis) = redis {
        // chat pushes reach receivers connected to the other gateways
        fanone_gateway::ws::start_relay(&state.hub, redis, rpc.jobs()).await?;
    }
    sweep_uploads(
        rpc.jobs(),
        &state,
        Duration::from_secs(cfg.storage.tmp_max_age_secs),
        Duration::from_secs(cfg.storage.tmp_sweep_interval_secs),
    )
    .await;
    fanone_gateway::routes::upload::expire_every(
        rpc.jobs(),
        &state,
        Duration::from_secs(cfg.upload.expiry_interval_secs),
    );
    Ok(state)
}

/// Remove upload temp files left by a crash: once now, then every `every` (a job of
/// the process). Only files untouched for `max_age` go, so uploads in progress (here
/// or on another gateway sharing the store) are kept.
async fn sweep_uploads(
    jobs: &fanone_jobs::Jobs,
    state: &Arc<AppState>,
    max_age: Duration,
    every: Duration,
) {
    if let Err(e) = state.store.sweep_tmp(max_age).await {
        tracing::warn!(error = %e, "upload temp sweep failed");
    }
    let state = state.clone();
    jobs.every("upload-sweep", every, move || {
        let state = state.clone();
        async move { state.store.sweep_tmp(max_age).await }
    });
}

/// When the gateway closes slow or idle connections.
fn deadlines(cfg: &Config) -> fanone_gateway::conn::Deadlines {
    fanone_gateway::conn::Deadlines {
        header_read: Duration::from_secs(cfg.gateway.header_read_timeout_secs.max(1)),
        idle: Duration::from_secs(cfg.gateway.idle_timeout_secs.max(1)),
    }
}

/// The event queue the configuration names.
fn events_source(cfg: &Config) -> Result<fanone_events::Source> {
    Ok(match cfg.events.backend {
        fanone_config::EventsBackend::Sql => fanone_events::Source::Sql(cfg.events_url()),
        fanone_config::EventsBackend::Redis => {
            anyhow::ensure!(
                !cfg.redis.url.is_empty(),
                "events.backend = \"redis\" needs redis.url"
            );
            fanone_events::Source::Redis(cfg.redis.clone())
        }
    })
}

/// Options of the image service from the configuration.
fn image_options(cfg: &Config, node_id: u16) -> Result<fanone_image::Options> {
    let svc = &cfg.services.image;
    Ok(fanone_image::Options {
        database_url: cfg.database_url("image", svc),
        node_id,
        events: events_source(cfg)?,
        model_path: model_path(&cfg.image.model_path),
        runtime: match cfg.image.runtime {
            ModelRuntime::Tract => fanone_embed::Runtime::Tract,
            ModelRuntime::Onnxruntime => fanone_embed::Runtime::OnnxRuntime {
                lib: cfg.image.onnxruntime_lib.clone(),
            },
        },
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
        multi_view_below: cfg.image.multi_view_below,
        multi_view_enough: cfg.image.multi_view_enough,
        removed_grace: Duration::from_secs(cfg.image.removed_grace_secs),
        reap_interval: Duration::from_secs(cfg.image.reap_interval_secs),
    })
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

/// `fanone image reindex`: rebuild the index from the image table, to hold exactly
/// the pictures of live images.
async fn reindex(cfg: &Config) -> Result<()> {
    let svc = fanone_image::open_service(&image_options(cfg, cfg.services.image.node_id)?).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reindex [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let r = svc
        .reindex(|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish();
    println!(
        "reindexed {} images ({} distinct pictures), {} failed (see the log); \
         {} keys of removed images dropped; the index holds {} vectors",
        r.images,
        r.pictures,
        r.failed,
        r.stale,
        svc.indexed_count().await?
    );
    Ok(())
}

/// Human line plus one machine-readable line (`FANONE_READY k=v ...`) on stdout;
/// the admin listener's URL last.
fn announce(rpc: &Rpc, parts: &[(&str, String)]) {
    let admin = rpc.admin_addr().map(|a| ("admin", format!("http://{a}")));
    let parts: Vec<(&str, String)> = parts.iter().cloned().chain(admin).collect();
    for (k, v) in &parts {
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
