//! FanOne configuration.
//!
//! Layers, later wins: built-in defaults (enough to run standalone with no file) →
//! an optional TOML file → environment variables `FANONE__SECTION__KEY`
//! (e.g. `FANONE__GATEWAY__ADDR=0.0.0.0:10001`, `FANONE__SERVICES__USER__DATABASE_URL=mysql://...`).

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The development signing key used when none is configured (standalone only).
pub const DEV_JWT_SECRET: &str = "fanone-standalone-dev-secret-change-me";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Rule(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// Directory for SQLite files and local objects in standalone mode.
    pub data_dir: PathBuf,
    pub gateway: GatewayConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub services: Services,
    pub tuning: Tuning,
    pub events: EventsConfig,
    pub image: ImageConfig,
    pub limits: LimitsConfig,
    pub upload: UploadConfig,
    pub telemetry: TelemetryConfig,
    pub registry: RegistryConfig,
    pub rpc: RpcConfig,
    pub features: Features,
    pub redis: RedisConfig,
    pub cache: CacheConfig,
}

/// Switches an operator can flip at run time (config center).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Features {
    /// New accounts can be created (`/user/register`).
    pub registration: bool,
    /// Reverse image search (`/user/image/search`) is served.
    pub image_search: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            registration: true,
            image_search: true,
        }
    }
}

/// The settings the config center may change while the process runs; everything
/// else needs a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// `telemetry.log`
    pub log: String,
    /// `rpc.breaker`
    pub breaker: BreakerConfig,
    /// `features`
    pub features: Features,
    /// `gateway.max_body_bytes`, `gateway.max_avatar_bytes`, `gateway.max_video_bytes`,
    /// `image.max_bytes`
    pub max_body_bytes: u64,
    pub max_avatar_bytes: u64,
    pub max_video_bytes: u64,
    pub max_search_image_bytes: u64,
}

/// Every Thrift service of the system, as named in config sections, subcommands,
/// the registry and the Thrift clients. The one list of services.
pub const SERVICES: [&str; 6] = ["user", "video", "interaction", "social", "chat", "image"];

/// Where components find each other (DESIGN.md rule 7).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum RegistryBackend {
    /// The addresses in `services.<name>.addr` (standalone, or a fixed deployment).
    #[default]
    Static,
    /// etcd v3: leased keys under `<namespace>/services/`, watched by prefix.
    Etcd,
    /// Nacos naming: ephemeral instances, pushed to subscribers.
    Nacos,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RegistryConfig {
    pub backend: RegistryBackend,
    /// Comma-separated servers: etcd client URLs (`http://127.0.0.1:2379`) or Nacos
    /// addresses (`127.0.0.1:8848`, the HTTP port; the SDK speaks gRPC on port + 1000).
    pub endpoints: String,
    /// etcd key prefix / Nacos namespace id (empty = Nacos' public namespace).
    pub namespace: String,
    /// Nacos group of services and config.
    pub group: String,
    /// Lease of a registration (etcd), in seconds: a crashed instance disappears
    /// within this time. Nacos' own heartbeat decides there (see docs/operations.md).
    pub ttl_secs: u64,
    /// Host other components use to reach this one; empty = the bound IP (which then
    /// must not be a wildcard address).
    pub advertise_host: String,
    /// Registration weight of this instance (1..=100).
    pub weight: u32,
    /// Watch the registry's config (etcd key `<namespace>/config`, Nacos data id
    /// `fanone.toml`) and apply run-time changes (see [`Live`]).
    pub config_center: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            backend: RegistryBackend::Static,
            endpoints: String::new(),
            namespace: "fanone".to_owned(),
            group: "DEFAULT_GROUP".to_owned(),
            ttl_secs: 10,
            advertise_host: String::new(),
            weight: 10,
            config_center: false,
        }
    }
}

impl RegistryConfig {
    /// The configured servers, trimmed, without empty entries.
    pub fn endpoint_list(&self) -> Vec<String> {
        self.endpoints
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// How components call each other over Thrift.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RpcConfig {
    /// Shared secret that proves a Thrift caller is inside the system (an HMAC in
    /// TTHeader metainfo, see docs/security.md). Required (32+ bytes) in cluster
    /// mode; standalone makes a random one per process.
    pub internal_secret: String,
    /// How long one credential is accepted, in seconds (allows for clock skew).
    pub credential_ttl_secs: u64,
    /// Further instances tried after a transport failure (never after an answer).
    pub retries: usize,
    /// Dial `services.<name>.addr` with Volo's plain client: no discovery, balancing,
    /// retries or breaker (for deployments where something else balances, e.g. a
    /// Kubernetes Service address; also the baseline of `bench/http/rpc_overhead.sh`).
    pub direct: bool,
    pub breaker: BreakerConfig,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            internal_secret: String::new(),
            credential_ttl_secs: 60,
            retries: 2,
            direct: false,
            breaker: BreakerConfig::default(),
        }
    }
}

/// The circuit breaker kept per service instance by every client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Length of the sliding window of outcomes, in milliseconds.
    pub window_ms: u64,
    /// Fewest calls in the window before the failure ratio can open the breaker.
    pub min_requests: u32,
    /// Failure ratio (0..=1) in the window that opens the breaker.
    pub failure_ratio: f64,
    /// Consecutive failures that open the breaker whatever the window says.
    pub consecutive_failures: u32,
    /// How long an open breaker refuses calls before letting probes through.
    pub open_ms: u64,
    /// Successful probes in half-open state that close the breaker.
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_ms: 10_000,
            min_requests: 20,
            failure_ratio: 0.5,
            consecutive_failures: 5,
            open_ms: 5_000,
            half_open_probes: 3,
        }
    }
}

impl BreakerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Rule(format!("rpc.breaker: {m}")));
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return bad("failure_ratio must be in (0, 1]");
        }
        if self.window_ms < 100 || self.open_ms == 0 {
            return bad("window_ms must be >= 100 and open_ms > 0");
        }
        if self.consecutive_failures == 0 || self.half_open_probes == 0 {
            return bad("consecutive_failures and half_open_probes must be > 0");
        }
        Ok(())
    }
}

/// Abuse limits (docs/security.md). Login and MFA failures are counted by the user
/// service per account; the gateway counts failures per client address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LimitsConfig {
    /// Failed logins (or MFA codes) of one account answered at full speed.
    pub login_free_failures: u32,
    /// Wait after the first failure past the free ones; doubles per failure.
    pub login_backoff_base_ms: u64,
    /// Longest wait, so an attacker cannot lock a victim out for good.
    pub login_backoff_max_secs: u64,
    /// Failures are forgotten this long after the last one (a success forgets at once).
    pub login_forget_after_secs: u64,
    /// Failed logins from one client address answered at full speed (gateway).
    pub client_free_failures: u32,
    /// A viewer (user id, else client address) counts one visit of a video per interval.
    pub visit_interval_secs: u64,
    /// Live WebSocket connections of one user on one gateway.
    pub ws_max_per_user: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            login_free_failures: 5,
            login_backoff_base_ms: 1000,
            login_backoff_max_secs: 15 * 60,
            login_forget_after_secs: 3600,
            client_free_failures: 20,
            visit_interval_secs: 3600,
            ws_max_per_user: 8,
        }
    }
}

/// Chunked, resumable video uploads (`/video/publish/start` ...): the video service
/// keeps their state, the gateway stores their parts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UploadConfig {
    /// Largest whole file of a chunked upload, in bytes.
    pub max_bytes: u64,
    /// Largest chunk, in bytes (one `/video/publish/uploading` request).
    pub max_chunk_bytes: u64,
    /// Most chunks of one upload.
    pub max_chunks: u32,
    /// Unfinished uploads one user may have at once.
    pub max_open_per_user: u32,
    /// An upload with no new chunk for this long expires; its parts are removed.
    pub ttl_secs: u64,
    /// How often the gateway removes expired uploads (0 = never).
    pub expiry_interval_secs: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_chunk_bytes: 16 << 20,
            max_chunks: 10_000,
            max_open_per_user: 3,
            ttl_secs: 24 * 3600,
            expiry_interval_secs: 60,
        }
    }
}

/// The event queue between services (DESIGN.md rule 2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct EventsConfig {
    /// `sql` (a queue table; standalone default) or `redis` (Redis Streams on
    /// `redis.url`; cluster mode).
    pub backend: EventsBackend,
    /// Database of the SQL queue. Empty = `sqlite://<data_dir>/events.db?mode=rwc`.
    pub database_url: String,
}

/// Which queue carries events between services (docs/data.md).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventsBackend {
    #[default]
    Sql,
    Redis,
}

/// The Redis server of cluster mode (cache, chat fan-out between gateways).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`; empty = no Redis (the in-process
    /// implementations: standalone mode, or a cluster without Redis).
    pub url: String,
    /// Connections in the pool (commands are pipelined on each).
    pub pool_size: usize,
    /// How long connecting may take.
    pub connect_timeout_ms: u64,
    /// How long one command may take before the caller falls back (to the database).
    pub command_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            pool_size: 4,
            connect_timeout_ms: 1000,
            command_timeout_ms: 250,
        }
    }
}

/// The read-through cache of hot reads (profiles, videos, counts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CacheConfig {
    /// Off = every read goes to the database.
    pub enabled: bool,
    /// Longest lifetime of a cached value (each entry lives up to `ttl_jitter_pct` %
    /// less, so entries loaded together do not expire together). Counts are cached
    /// for at most `tuning.settle_interval_ms` instead.
    pub ttl_secs: u64,
    pub ttl_jitter_pct: u64,
    /// Lifetime of "this id does not exist".
    pub absent_ttl_secs: u64,
    /// After a write, how long the key refuses a refill (a read that started
    /// before the write cannot put its older value back).
    pub hold_ms: u64,
    /// Entries the in-process cache keeps (standalone).
    pub local_max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_secs: 300,
            ttl_jitter_pct: 20,
            absent_ttl_secs: 10,
            hold_ms: 2000,
            local_max_entries: 100_000,
        }
    }
}

/// The engine that runs the image model.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ModelRuntime {
    /// tract, pure Rust, built in.
    #[default]
    Tract,
    /// ONNX Runtime's C library at `image.onnxruntime_lib` (about four times faster).
    Onnxruntime,
}

/// Reverse image search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageConfig {
    /// The ONNX model (EfficientNet-Lite0 embedding). Relative paths are tried from
    /// the working directory, then next to the executable's `../../` (a cargo build).
    pub model_path: PathBuf,
    /// Which engine runs the model: `tract` or `onnxruntime`.
    pub runtime: ModelRuntime,
    /// With `runtime = "onnxruntime"`: the `libonnxruntime.so` to open
    /// (`scripts/onnxruntime.sh install` installs 1.23.2 and prints its path).
    pub onnxruntime_lib: PathBuf,
    /// Milvus server (e.g. `http://127.0.0.1:19530`); empty = the built-in index
    /// persisted at `<data_dir>/image.vectors`.
    pub milvus_url: String,
    pub milvus_collection: String,
    /// Largest image accepted for search or indexing, in bytes.
    pub max_bytes: u64,
    /// Largest image accepted, in pixels (width × height), checked before decoding.
    pub max_pixels: u64,
    /// Memory one image decode may use for pixels; larger images are refused.
    pub max_decode_bytes: u64,
    /// Images decoded and embedded at once; 0 = one per CPU core. Others queue.
    pub max_concurrent_decodes: u32,
    /// How long a search waits in that queue before answering "busy" (10012).
    pub decode_wait_ms: u64,
    /// A search whose whole picture's best match scores below this also embeds the
    /// query's other views (the picture found in a frame, centre crops); 0 = the
    /// whole picture only, 1.01 = always every view.
    pub multi_view_below: f32,
    /// When a search embeds those views, it embeds the first (the picture found in a
    /// frame, or the larger centre crop) alone, and the rest only when that one
    /// matches no stored picture at least this well; 1.01 = always every view.
    pub multi_view_enough: f32,
    /// The object of a removed image (a replaced avatar, a deleted video's cover) is
    /// deleted this long after the removal; until then its URL still serves it.
    pub removed_grace_secs: u64,
    /// How often the image service deletes the objects past that grace (0 = never).
    pub reap_interval_secs: u64,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            model_path: PathBuf::from("models/effnet_lite0_emb.onnx"),
            runtime: ModelRuntime::Tract,
            onnxruntime_lib: PathBuf::new(),
            milvus_url: String::new(),
            milvus_collection: "fanone_images".to_owned(),
            max_bytes: 10 << 20,
            max_pixels: 40_000_000,
            max_decode_bytes: 128 << 20,
            max_concurrent_decodes: 0,
            decode_wait_ms: 10_000,
            multi_view_below: 0.7,
            multi_view_enough: 0.75,
            removed_grace_secs: 86_400,
            reap_interval_secs: 600,
        }
    }
}

/// Background jobs of the services.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Tuning {
    /// How often pending counter increments are folded into their counters.
    pub settle_interval_ms: u64,
    /// How often the popular-video ranking cache is rebuilt.
    pub popular_refresh_ms: u64,
    /// How many videos the popular ranking keeps.
    pub popular_size: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            settle_interval_ms: 1000,
            popular_refresh_ms: 2000,
            popular_size: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GatewayConfig {
    pub addr: SocketAddr,
    /// Base URL clients use to reach the gateway; object URLs are built from it.
    /// Empty = `http://<bound address>`.
    pub public_url: String,
    /// Largest non-file request body (form, JSON), in bytes.
    pub max_body_bytes: u64,
    /// Largest avatar image, in bytes.
    pub max_avatar_bytes: u64,
    /// Largest video upload, in bytes.
    pub max_video_bytes: u64,
    /// Snowflake worker id with the static registry (a registry leases one instead).
    pub node_id: u16,
    /// A request body that sends nothing for this long is abandoned (slow uploads).
    pub body_idle_timeout_secs: u64,
    /// A connection must send a request's headers within this long of opening
    /// (or of its previous request); else it is closed.
    pub header_read_timeout_secs: u64,
    /// A connection with no bytes in either direction for this long is closed
    /// (keep-alive and WebSocket connections included; chat clients ping).
    pub idle_timeout_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuthConfig {
    /// HS256 signing key. Required (non-default) outside standalone mode.
    pub jwt_secret: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// After a refresh token is rotated, the previous one is still taken this long
    /// (concurrent requests of one client); used later, it revokes the session.
    pub refresh_reuse_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StorageConfig {
    /// Root of the local object store. Empty = `<data_dir>/objects`.
    pub dir: PathBuf,
    /// Upload temp files untouched this long are removed (left by a crash).
    pub tmp_max_age_secs: u64,
    /// How often the gateway sweeps old temp files (also once at start).
    pub tmp_sweep_interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Services {
    pub user: ServiceConfig,
    pub video: ServiceConfig,
    pub interaction: ServiceConfig,
    pub social: ServiceConfig,
    pub chat: ServiceConfig,
    pub image: ServiceConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceConfig {
    /// Where the service listens, and where the gateway reaches it.
    pub addr: SocketAddr,
    /// `sqlite://path?mode=rwc` or `mysql://user:pass@host:port/db`.
    /// Empty = `sqlite://<data_dir>/<service>.db?mode=rwc`.
    pub database_url: String,
    /// Worker id of this instance for snowflake ids (0..=1023) with the static
    /// registry; with etcd or Nacos every instance leases a unique one instead.
    pub node_id: u16,
    /// Deadline of one call to this service (all attempts), in milliseconds.
    pub timeout_ms: u64,
    /// Deadline of opening a connection to one instance, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Further databases of the service's growing tables (interaction, social, chat):
    /// they are split over `database_url` and these, `shard_tables` tables each
    /// (`docs/data.md`, "Sharding"). Empty = one database.
    pub shard_database_urls: Vec<String>,
    /// Tables per database of each sharded table (1 = not split within a database).
    pub shard_tables: u32,
}

/// Where a service's sharded tables live: `urls.len()` databases × `tables` tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    pub urls: Vec<String>,
    pub tables: usize,
}

impl ShardSpec {
    /// One database, tables not split.
    pub fn single(url: impl Into<String>) -> Self {
        Self {
            urls: vec![url.into()],
            tables: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `tracing` filter, e.g. `info,fanone_user=debug`.
    pub log: String,
    /// Log lines as JSON instead of text.
    pub json: bool,
    /// The admin HTTP listener of the process (`/metrics`, `/health/live`,
    /// `/health/ready`, `/debug/pprof/*`, `/sd/prometheus`); port 0 = any free port
    /// (announced in the registry), empty = no admin listener.
    pub admin_addr: String,
    /// Record Prometheus metrics (served on the admin listener).
    pub metrics: bool,
    /// CPU profiles on the admin listener (`/debug/pprof/profile`, `.../flamegraph`).
    pub profiling: bool,
    /// Longest CPU profile one request may ask for, in seconds.
    pub profile_max_secs: u64,
    /// OTLP/gRPC collector (Jaeger) for traces, e.g. `http://127.0.0.1:4317`;
    /// empty = no spans exported (trace ids still correlate logs).
    pub trace_endpoint: String,
    /// Share of new traces recorded (0..=1); a caller's decision is followed.
    pub trace_sample_ratio: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            gateway: GatewayConfig::default(),
            auth: AuthConfig::default(),
            storage: StorageConfig::default(),
            services: Services::default(),
            tuning: Tuning::default(),
            events: EventsConfig::default(),
            image: ImageConfig::default(),
            limits: LimitsConfig::default(),
            upload: UploadConfig::default(),
            telemetry: TelemetryConfig::default(),
            registry: RegistryConfig::default(),
            rpc: RpcConfig::default(),
            features: Features::default(),
            redis: RedisConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            addr: ([127, 0, 0, 1], 10001).into(),
            public_url: String::new(),
            max_body_bytes: 1 << 20,
            max_avatar_bytes: 5 << 20,
            max_video_bytes: 200 << 20,
            node_id: 0,
            body_idle_timeout_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 120,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: DEV_JWT_SECRET.to_owned(),
            access_ttl_secs: 2 * 3600,
            refresh_ttl_secs: 7 * 24 * 3600,
            refresh_reuse_grace_secs: 30,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            tmp_max_age_secs: 3600,
            tmp_sweep_interval_secs: 300,
        }
    }
}

impl Default for Services {
    fn default() -> Self {
        Self {
            user: ServiceConfig::on_port(10011),
            video: ServiceConfig::on_port(10012),
            interaction: ServiceConfig::on_port(10013),
            social: ServiceConfig::on_port(10014),
            chat: ServiceConfig::on_port(10015),
            // embedding an image is CPU work of tens of milliseconds per core: under
            // load a search may queue, so it gets a longer deadline
            image: ServiceConfig {
                timeout_ms: 30_000,
                ..ServiceConfig::on_port(10016)
            },
        }
    }
}

impl Services {
    /// The section of a service by its name in [`SERVICES`].
    pub fn get(&self, name: &str) -> Option<&ServiceConfig> {
        Some(match name {
            "user" => &self.user,
            "video" => &self.video,
            "interaction" => &self.interaction,
            "social" => &self.social,
            "chat" => &self.chat,
            "image" => &self.image,
            _ => return None,
        })
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut ServiceConfig> {
        Some(match name {
            "user" => &mut self.user,
            "video" => &mut self.video,
            "interaction" => &mut self.interaction,
            "social" => &mut self.social,
            "chat" => &mut self.chat,
            "image" => &mut self.image,
            _ => return None,
        })
    }
}

impl ServiceConfig {
    fn on_port(port: u16) -> Self {
        Self {
            addr: ([127, 0, 0, 1], port).into(),
            database_url: String::new(),
            node_id: 1,
            timeout_ms: 3000,
            connect_timeout_ms: 500,
            shard_database_urls: Vec::new(),
            shard_tables: 1,
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self::on_port(0)
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log: "info".to_owned(),
            json: false,
            admin_addr: "127.0.0.1:0".to_owned(),
            metrics: true,
            profiling: false,
            profile_max_secs: 60,
            trace_endpoint: String::new(),
            trace_sample_ratio: 1.0,
        }
    }
}

impl Config {
    /// Defaults, then `file` (if given), then `FANONE__*` environment variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, None)
    }

    /// [`Config::load`] with one more layer on top: a TOML document from the config
    /// center (etcd key / Nacos data id).
    pub fn load_with(
        file: Option<&std::path::Path>,
        overlay: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("FANONE__").split("__"));
        if let Some(overlay) = overlay {
            figment = figment.merge(Toml::string(overlay));
        }
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// The run-time changeable part.
    pub fn live(&self) -> Live {
        Live {
            log: self.telemetry.log.clone(),
            breaker: self.rpc.breaker.clone(),
            features: self.features.clone(),
            max_body_bytes: self.gateway.max_body_bytes,
            max_avatar_bytes: self.gateway.max_avatar_bytes,
            max_video_bytes: self.gateway.max_video_bytes,
            max_search_image_bytes: self.image.max_bytes,
        }
    }

    /// This configuration with the run-time changeable part replaced by `live`.
    pub fn with_live(&self, live: &Live) -> Config {
        let mut c = self.clone();
        c.telemetry.log = live.log.clone();
        c.rpc.breaker = live.breaker.clone();
        c.features = live.features.clone();
        c.gateway.max_body_bytes = live.max_body_bytes;
        c.gateway.max_avatar_bytes = live.max_avatar_bytes;
        c.gateway.max_video_bytes = live.max_video_bytes;
        c.image.max_bytes = live.max_search_image_bytes;
        c
    }

    /// Rules for deployments that talk to real infrastructure: no development secrets.
    pub fn check_cluster(&self) -> Result<(), ConfigError> {
        if self.auth.jwt_secret == DEV_JWT_SECRET || self.auth.jwt_secret.len() < 32 {
            return Err(ConfigError::Rule(
                "auth.jwt_secret must be set to a private value of 32+ bytes in cluster mode"
                    .into(),
            ));
        }
        if self.rpc.internal_secret.len() < 32 {
            return Err(ConfigError::Rule(
                "rpc.internal_secret must be set to a private value of 32+ bytes in cluster mode"
                    .into(),
            ));
        }
        self.validate()
    }

    /// Rules every mode obeys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rpc.breaker.validate()?;
        self.validate_shards()?;
        let g = &self.gateway;
        if g.max_body_bytes < 1024
            || g.max_avatar_bytes == 0
            || g.max_video_bytes == 0
            || self.image.max_bytes == 0
            || self.upload.max_bytes == 0
            || self.upload.max_chunk_bytes == 0
            || self.upload.max_chunks == 0
        {
            return Err(ConfigError::Rule(
                "size limits must be positive (max_body_bytes >= 1024)".into(),
            ));
        }
        if self.registry.backend != RegistryBackend::Static
            && self.registry.endpoint_list().is_empty()
        {
            return Err(ConfigError::Rule(
                "registry.endpoints must name the registry's servers".into(),
            ));
        }
        if !(1..=100).contains(&self.registry.weight) {
            return Err(ConfigError::Rule(
                "registry.weight must be in 1..=100".into(),
            ));
        }
        if self.image.runtime == ModelRuntime::Onnxruntime
            && self.image.onnxruntime_lib.as_os_str().is_empty()
        {
            return Err(ConfigError::Rule(
                "image.runtime = \"onnxruntime\" needs image.onnxruntime_lib \
                 (scripts/onnxruntime.sh install prints it)"
                    .into(),
            ));
        }
        if !(0.0..=1.01).contains(&self.image.multi_view_below) {
            return Err(ConfigError::Rule(
                "image.multi_view_below must be in 0..=1.01".into(),
            ));
        }
        if !(0.0..=1.01).contains(&self.image.multi_view_enough) {
            return Err(ConfigError::Rule(
                "image.multi_view_enough must be in 0..=1.01".into(),
            ));
        }
        let t = &self.telemetry;
        if !(0.0..=1.0).contains(&t.trace_sample_ratio) {
            return Err(ConfigError::Rule(
                "telemetry.trace_sample_ratio must be in 0..=1".into(),
            ));
        }
        if !t.admin_addr.is_empty() && t.admin_addr.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::Rule(format!(
                "telemetry.admin_addr {:?} is not ip:port",
                t.admin_addr
            )));
        }
        if t.profile_max_secs == 0 {
            return Err(ConfigError::Rule(
                "telemetry.profile_max_secs must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The database URL of a service, defaulting to a SQLite file under `data_dir`.
    pub fn database_url(&self, service: &str, svc: &ServiceConfig) -> String {
        if svc.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join(format!("{service}.db")).display()
            )
        } else {
            svc.database_url.clone()
        }
    }

    /// Shard settings only where a service shards, within bounds, on MySQL.
    fn validate_shards(&self) -> Result<(), ConfigError> {
        for name in SERVICES {
            let Some(svc) = self.services.get(name) else {
                continue;
            };
            let bad = |m: &str| Err(ConfigError::Rule(format!("services.{name}: {m}")));
            let sharded = !svc.shard_database_urls.is_empty() || svc.shard_tables != 1;
            if !(1..=1024).contains(&svc.shard_tables) {
                return bad("shard_tables must be 1..=1024");
            }
            if !sharded {
                continue;
            }
            if !["interaction", "social", "chat"].contains(&name) {
                return bad("only interaction, social and chat shard their tables");
            }
            let spec = self.shards(name, svc);
            if spec.urls.iter().any(|u| !u.starts_with("mysql:")) {
                return bad(
                    "sharded tables need MySQL-protocol databases (database_url and shard_database_urls)",
                );
            }
        }
        Ok(())
    }

    /// The databases and tables of a service's sharded tables.
    pub fn shards(&self, service: &str, svc: &ServiceConfig) -> ShardSpec {
        let mut urls = vec![self.database_url(service, svc)];
        urls.extend(svc.shard_database_urls.iter().cloned());
        ShardSpec {
            urls,
            tables: svc.shard_tables as usize,
        }
    }

    /// The event queue's database URL, defaulting to a SQLite file under `data_dir`.
    pub fn events_url(&self) -> String {
        if self.events.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("events.db").display()
            )
        } else {
            self.events.database_url.clone()
        }
    }

    /// The object store root, defaulting to `<data_dir>/objects`.
    pub fn storage_dir(&self) -> PathBuf {
        if self.storage.dir.as_os_str().is_empty() {
            self.data_dir.join("objects")
        } else {
            self.storage.dir.clone()
        }
    }
}

#[cfg(test)]
// figment's Jail API returns its large error type by design
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "fanone.toml",
                r#"
                data_dir = "/srv/fanone"
                [gateway]
                addr = "0.0.0.0:8080"
                [services.user]
                database_url = "mysql://u:p@db/user"
                "#,
            )?;
            jail.set_env("FANONE__GATEWAY__ADDR", "127.0.0.1:9999");
            jail.set_env("FANONE__AUTH__ACCESS_TTL_SECS", "60");
            let cfg = Config::load(Some("fanone.toml".as_ref())).expect("load");
            assert_eq!(cfg.gateway.addr, "127.0.0.1:9999".parse().unwrap());
            assert_eq!(cfg.auth.access_ttl_secs, 60);
            assert_eq!(cfg.data_dir, PathBuf::from("/srv/fanone"));
            assert_eq!(
                cfg.database_url("user", &cfg.services.user),
                "mysql://u:p@db/user"
            );
            assert_eq!(cfg.storage_dir(), PathBuf::from("/srv/fanone/objects"));
            // untouched values keep their defaults
            assert_eq!(cfg.gateway.max_avatar_bytes, 5 << 20);
            Ok(())
        });
    }

    #[test]
    fn sqlite_default_and_cluster_rule() {
        let cfg = Config::default();
        assert_eq!(
            cfg.database_url("user", &cfg.services.user),
            "sqlite://data/user.db?mode=rwc"
        );
        assert!(cfg.check_cluster().is_err());
        let mut ok = cfg.clone();
        ok.auth.jwt_secret = "x".repeat(40);
        assert!(
            ok.check_cluster().is_err(),
            "internal secret is required too"
        );
        ok.rpc.internal_secret = "y".repeat(32);
        assert!(ok.check_cluster().is_ok());
        ok.rpc.breaker.failure_ratio = 1.5;
        assert!(ok.check_cluster().is_err());
        ok.rpc.breaker.failure_ratio = 0.5;
        ok.registry.backend = RegistryBackend::Etcd;
        assert!(ok.validate().is_err(), "a registry needs endpoints");
        ok.registry.endpoints = " http://a:2379, ,http://b:2379".into();
        assert_eq!(
            ok.registry.endpoint_list(),
            ["http://a:2379", "http://b:2379"]
        );
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn config_center_overlay_wins_and_live_part_is_separable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FANONE__RPC__BREAKER__OPEN_MS", "7000");
            let overlay = "[rpc.breaker]\nopen_ms = 9000\n[features]\nregistration = false\n";
            let base = Config::load(None).expect("base");
            let cfg = Config::load_with(None, Some(overlay)).expect("overlay");
            assert_eq!(base.rpc.breaker.open_ms, 7000, "env over defaults");
            assert_eq!(cfg.rpc.breaker.open_ms, 9000, "overlay over env");
            assert!(!cfg.features.registration);
            let live = cfg.live();
            assert_eq!(base.with_live(&live), cfg, "only live keys changed");
            assert!(Config::load_with(None, Some("[rpc.breaker]\nopen_ms = \"x\"")).is_err());
            Ok(())
        });
    }

    #[test]
    fn every_default_listener_is_loopback() {
        let cfg = Config::default();
        let s = &cfg.services;
        let addrs = [
            ("gateway", cfg.gateway.addr),
            ("user", s.user.addr),
            ("video", s.video.addr),
            ("interaction", s.interaction.addr),
            ("social", s.social.addr),
            ("chat", s.chat.addr),
            ("image", s.image.addr),
            ("default service", ServiceConfig::default().addr),
        ];
        for (name, addr) in addrs {
            assert!(
                addr.ip().is_loopback(),
                "{name} listens on {addr} by default"
            );
        }
    }

    #[test]
    fn limits_have_safe_defaults() {
        let cfg = Config::default();
        assert!(cfg.limits.login_free_failures <= 10);
        assert!(
            cfg.limits.login_backoff_max_secs <= 3600,
            "no permanent lockout"
        );
        assert!(cfg.limits.ws_max_per_user > 0);
        assert!(cfg.gateway.header_read_timeout_secs > 0 && cfg.gateway.idle_timeout_secs > 0);
    }

    #[test]
    fn shards_from_env_and_their_rules() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "FANONE__SERVICES__SOCIAL__DATABASE_URL",
                "mysql://u:p@db/social_0",
            );
            jail.set_env(
                "FANONE__SERVICES__SOCIAL__SHARD_DATABASE_URLS",
                r#"["mysql://u:p@db2/social_1"]"#,
            );
            jail.set_env("FANONE__SERVICES__SOCIAL__SHARD_TABLES", "4");
            let cfg = Config::load(None).expect("load");
            cfg.validate().expect("a valid sharded layout");
            let spec = cfg.shards("social", &cfg.services.social);
            assert_eq!(
                spec.urls,
                ["mysql://u:p@db/social_0", "mysql://u:p@db2/social_1"]
            );
            assert_eq!(spec.tables, 4);
            // unsharded services keep one database, one table
            assert_eq!(cfg.shards("chat", &cfg.services.chat).urls.len(), 1);

            // a sharded SQLite database, a sharded user service, 0 tables: refused
            jail.set_env("FANONE__SERVICES__SOCIAL__DATABASE_URL", "");
            let check = || Config::load(None).expect("load").validate();
            assert!(check().is_err(), "SQLite cannot be sharded");
            jail.set_env(
                "FANONE__SERVICES__SOCIAL__DATABASE_URL",
                "mysql://u:p@db/social_0",
            );
            jail.set_env("FANONE__SERVICES__USER__SHARD_TABLES", "2");
            assert!(check().is_err(), "the user service does not shard");
            jail.set_env("FANONE__SERVICES__USER__SHARD_TABLES", "1");
            jail.set_env("FANONE__SERVICES__SOCIAL__SHARD_TABLES", "0");
            assert!(check().is_err(), "0 tables");
            Ok(())
        });
    }

    #[test]
    fn bad_value_is_an_error_not_a_panic() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FANONE__GATEWAY__ADDR", "not-an-address");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }
}
