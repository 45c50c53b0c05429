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
    pub telemetry: TelemetryConfig,
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

/// The event queue between services (DESIGN.md rule 2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct EventsConfig {
    /// Database of the queue. Empty = `sqlite://<data_dir>/events.db?mode=rwc`.
    pub database_url: String,
}

/// Reverse image search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ImageConfig {
    /// The ONNX model (EfficientNet-Lite0 embedding). Relative paths are tried from
    /// the working directory, then next to the executable's `../../` (a cargo build).
    pub model_path: PathBuf,
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
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            model_path: PathBuf::from("models/effnet_lite0_emb.onnx"),
            milvus_url: String::new(),
            milvus_collection: "fanone_images".to_owned(),
            max_bytes: 10 << 20,
            max_pixels: 40_000_000,
            max_decode_bytes: 128 << 20,
            max_concurrent_decodes: 0,
            decode_wait_ms: 10_000,
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
    /// Deadline of one call to a service, in milliseconds.
    pub rpc_timeout_ms: u64,
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
    /// Worker id of this instance for snowflake ids (0..=1023).
    pub node_id: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `tracing` filter, e.g. `info,fanone_user=debug`.
    pub log: String,
    /// Log lines as JSON instead of text.
    pub json: bool,
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
            telemetry: TelemetryConfig::default(),
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
            rpc_timeout_ms: 3000,
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
            image: ServiceConfig::on_port(10016),
        }
    }
}

impl ServiceConfig {
    fn on_port(port: u16) -> Self {
        Self {
            addr: ([127, 0, 0, 1], port).into(),
            database_url: String::new(),
            node_id: 1,
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
        }
    }
}

impl Config {
    /// Defaults, then `file` (if given), then `FANONE__*` environment variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("FANONE__").split("__"));
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// Rules for deployments that talk to real infrastructure: no development secrets.
    pub fn check_cluster(&self) -> Result<(), ConfigError> {
        if self.auth.jwt_secret == DEV_JWT_SECRET || self.auth.jwt_secret.len() < 32 {
            return Err(ConfigError::Rule(
                "auth.jwt_secret must be set to a private value of 32+ bytes in cluster mode"
                    .into(),
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
        assert!(ok.check_cluster().is_ok());
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
    fn bad_value_is_an_error_not_a_panic() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FANONE__GATEWAY__ADDR", "not-an-address");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }
}
