//! Where components find each other, behind one small trait (DESIGN.md rule 7).
//!
//! - [`StaticRegistry`]: the addresses in the configuration, plus whatever registers in
//!   this process (standalone: every service registers its bound port here and the
//!   gateway finds it). No server.
//! - [`EtcdRegistry`]: leased keys `<namespace>/services/<service>/<addr>`, kept alive
//!   by a background job and re-put when the lease is lost (a restarted etcd gets
//!   every instance back); discovery reads the prefix and watches it.
//! - [`NacosRegistry`]: ephemeral instances of the Nacos naming service (the SDK keeps
//!   them alive over its gRPC connection and re-registers after a reconnect);
//!   discovery subscribes to pushes.
//! - [`AnyRegistry`]: one of them, chosen by `registry.backend`.
//!
//! [`Discovery`] turns any of them into Volo's [`volo::discovery::Discover`]: the
//! instance list of a service is read once, then kept current by the backend's watch
//! and pushed to the load balancer as a `Change` (no polling on the call path).
//!
//! Every registration also gets a snowflake worker id that no other live instance
//! holds (see [`Registry::register`]).

mod discovery;
mod etcd;
mod nacos;
mod static_registry;

use std::{collections::BTreeMap, future::Future, net::SocketAddr};

pub use discovery::Discovery;
pub use etcd::EtcdRegistry;
use fanone_config::{RegistryBackend, RegistryConfig};
pub use nacos::NacosRegistry;
use serde::{Deserialize, Serialize};
pub use static_registry::StaticRegistry;
use tokio::sync::watch;

/// Snowflake worker ids are 10 bits.
pub const WORKER_IDS: u16 = 1024;

/// One running instance of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Component name: one of `fanone_config::SERVICES`, or `gateway`.
    pub service: String,
    /// Where other components reach it.
    pub addr: SocketAddr,
    /// Share of traffic relative to the other instances (0 = drained).
    pub weight: u32,
    /// Free-form labels (the binary's version, the worker id, ...).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

impl Instance {
    pub fn new(service: &str, addr: SocketAddr, weight: u32) -> Self {
        let mut meta = BTreeMap::new();
        meta.insert("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned());
        Self {
            service: service.to_owned(),
            addr,
            weight,
            meta,
        }
    }

    /// The worker id this instance announced, if any.
    pub fn worker_id(&self) -> Option<u16> {
        self.meta.get("worker_id")?.parse().ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("nacos: {0}")]
    Nacos(String),
    #[error("registry data: {0}")]
    Data(String),
    #[error("no free snowflake worker id (all {WORKER_IDS} are held)")]
    NoWorkerId,
    #[error("registry: {0}")]
    Config(String),
}

impl From<nacos_sdk::api::error::Error> for RegistryError {
    fn from(e: nacos_sdk::api::error::Error) -> Self {
        RegistryError::Nacos(e.to_string())
    }
}

/// A registry backend.
pub trait Registry: Send + Sync + 'static {
    /// Announce `inst` until [`Registry::deregister`] (or until this process dies and
    /// its lease or heartbeat runs out). Returns the snowflake worker id the instance
    /// must use: `configured` with the static registry, else one that no other live
    /// instance holds.
    fn register(
        &self,
        inst: &Instance,
        configured: u16,
    ) -> impl Future<Output = Result<u16, RegistryError>> + Send;

    /// Withdraw `inst`: callers stop picking it at their next change.
    fn deregister(&self, inst: &Instance)
    -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// The live instances of `service`, read from the registry now.
    fn instances(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Vec<Instance>, RegistryError>> + Send;

    /// The instances of `service`, kept current by the backend's watch until the
    /// registry is dropped.
    fn watch(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<watch::Receiver<Vec<Instance>>, RegistryError>> + Send;

    /// The config center's document (TOML) of this namespace, kept current; `None`
    /// while there is none. Static: always `None`.
    fn watch_config(
        &self,
    ) -> impl Future<Output = Result<watch::Receiver<Option<String>>, RegistryError>> + Send;

    /// Replace the config center's document (operators and tests).
    fn publish_config(&self, toml: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;
}

/// Where the config center's document lives: etcd key `<ns>/config`, Nacos data id
/// `fanone.toml` in the registry's group.
pub const CONFIG_DATA_ID: &str = "fanone.toml";

/// The backend chosen by configuration (the trait is not object-safe).
pub enum AnyRegistry {
    Static(StaticRegistry),
    Etcd(Box<EtcdRegistry>),
    Nacos(Box<NacosRegistry>),
}

impl AnyRegistry {
    /// Connect to the configured backend. `seeds` are the statically configured
    /// addresses per service (used by the static backend only).
    pub async fn connect(
        cfg: &RegistryConfig,
        seeds: Vec<(String, SocketAddr)>,
    ) -> Result<Self, RegistryError> {
        Ok(match cfg.backend {
            RegistryBackend::Static => AnyRegistry::Static(StaticRegistry::new(seeds)),
            RegistryBackend::Etcd => AnyRegistry::Etcd(Box::new(EtcdRegistry::connect(cfg).await?)),
            RegistryBackend::Nacos => {
                AnyRegistry::Nacos(Box::new(NacosRegistry::connect(cfg).await?))
            }
        })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            AnyRegistry::Static(_) => "static",
            AnyRegistry::Etcd(_) => "etcd",
            AnyRegistry::Nacos(_) => "nacos",
        }
    }
}

impl Registry for AnyRegistry {
    async fn register(&self, inst: &Instance, configured: u16) -> Result<u16, RegistryError> {
        match self {
            AnyRegistry::Static(r) => r.register(inst, configured).await,
            AnyRegistry::Etcd(r) => r.register(inst, configured).await,
            AnyRegistry::Nacos(r) => r.register(inst, configured).await,
        }
    }

    async fn deregister(&self, inst: &Instance) -> Result<(), RegistryError> {
        match self {
            AnyRegistry::Static(r) => r.deregister(inst).await,
            AnyRegistry::Etcd(r) => r.deregister(inst).await,
            AnyRegistry::Nacos(r) => r.deregister(inst).await,
        }
    }

    async fn instances(&self, service: &str) -> Result<Vec<Instance>, RegistryError> {
        match self {
            AnyRegistry::Static(r) => r.instances(service).await,
            AnyRegistry::Etcd(r) => r.instances(service).await,
            AnyRegistry::Nacos(r) => r.instances(service).await,
        }
    }

    async fn watch(&self, service: &str) -> Result<watch::Receiver<Vec<Instance>>, RegistryError> {
        match self {
            AnyRegistry::Static(r) => r.watch(service).await,
            AnyRegistry::Etcd(r) => r.watch(service).await,
            AnyRegistry::Nacos(r) => r.watch(service).await,
        }
    }

    async fn watch_config(&self) -> Result<watch::Receiver<Option<String>>, RegistryError> {
        match self {
            AnyRegistry::Static(r) => r.watch_config().await,
            AnyRegistry::Etcd(r) => r.watch_config().await,
            AnyRegistry::Nacos(r) => r.watch_config().await,
        }
    }

    async fn publish_config(&self, toml: &str) -> Result<(), RegistryError> {
        match self {
            AnyRegistry::Static(r) => r.publish_config(toml).await,
            AnyRegistry::Etcd(r) => r.publish_config(toml).await,
            AnyRegistry::Nacos(r) => r.publish_config(toml).await,
        }
    }
}

/// Instances in a stable order (by address), so watchers see changes, not reorders.
pub(crate) fn sorted(mut v: Vec<Instance>) -> Vec<Instance> {
    v.sort_by_key(|i| i.addr);
    v.dedup_by(|a, b| a.addr == b.addr);
    v
}
