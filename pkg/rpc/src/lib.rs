//! The RPC plumbing every FanOne component shares, written once (DESIGN.md, `pkg/rpc`).
//!
//! - [`Rpc`]: a process's kit — the registry (static, etcd or Nacos), discovery,
//!   the internal credential, per-service timeouts, retries and breakers.
//! - [`Rpc::client`]: the one client builder for all six services: discovery with
//!   watch → round robin ([`balance::RoundRobin`]) → retry on the next instance after a
//!   transport error only → per-instance circuit breaker ([`breaker`]), inside the
//!   service's deadline, with the credential ([`credential`]) on every call.
//! - [`Rpc::register`] + [`Rpc::serve`]: bind, register (getting a unique snowflake
//!   worker id), serve with the credential check in front of every handler; on a
//!   shutdown signal: deregister, stop background jobs, drain connections (Volo waits
//!   up to 30 s).

pub mod admin;
pub mod balance;
pub mod breaker;
pub mod credential;
pub mod live;
pub mod observe;
pub mod served_by;

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use arc_swap::ArcSwap;
use fanone_config::{
    BreakerConfig, Config, Live, RegistryBackend, SERVICES, ServiceConfig, TelemetryConfig,
};
use fanone_jobs::Jobs;
pub use fanone_registry::{AnyRegistry, Discovery, Instance, Registry, RegistryError};
use motore::layer::Identity;
use tokio::net::TcpListener;
use volo::{
    discovery::{Discover, DummyDiscover},
    loadbalance::{LbConfig, random::WeightedRandomBalance},
    net::{dial::DefaultMakeTransport, incoming::DefaultIncoming},
};
use volo_thrift::{
    ClientError, EntryMessage, ServerError,
    client::ClientBuilder,
    codec::{
        DefaultMakeCodec,
        default::{framed::MakeFramedCodec, thrift::MakeThriftCodec, ttheader::MakeTTHeaderCodec},
    },
    context::{ClientContext, ServerContext},
    server::Server,
    tracing::DefaultProvider,
};

use crate::{
    balance::RoundRobin,
    breaker::{BreakerLayer, BreakerState, Breakers, Observer},
    credential::{Credential, CredentialLayer, RequireCredentialLayer},
    observe::{ClientObserveLayer, ServerObserveLayer},
};

/// Volo's default codec: TTHeader around framed binary Thrift (what Kitex speaks).
pub type DefaultCodec = DefaultMakeCodec<MakeTTHeaderCodec<MakeFramedCodec<MakeThriftCodec>>>;

/// A generated `XxxServiceClientBuilder::new(name)`, before any setting.
pub type NewClient<C, Req, Resp> = ClientBuilder<
    Identity,
    Identity,
    C,
    Req,
    Resp,
    DefaultMakeTransport,
    DefaultCodec,
    LbConfig<WeightedRandomBalance<<DummyDiscover as Discover>::Key>, DummyDiscover>,
>;

/// A generated `XxxServiceServer::new(handler)`, before any setting.
pub type NewServer<S, Req> = Server<S, Identity, Req, DefaultCodec, DefaultProvider>;

/// The boxed transport every built client wraps.
type BoxedTransport<Req, Resp> =
    motore::service::BoxCloneService<ClientContext, Req, Option<Resp>, ClientError>;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Config(String),
    #[error("bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// One process's RPC kit. Cheap to share behind an `Arc`.
pub struct Rpc {
    /// Component name of this process's callers (`gateway`, or `standalone`).
    caller: String,
    registry: Arc<AnyRegistry>,
    discovery: Discovery<AnyRegistry>,
    credential: Credential,
    breaker: Arc<ArcSwap<BreakerConfig>>,
    /// The run-time settings (the config center replaces them).
    live: Arc<ArcSwap<Live>>,
    observer: Option<Observer>,
    retries: usize,
    direct: bool,
    services: fanone_config::Services,
    advertise_host: String,
    weight: u32,
    /// Background jobs of the process (settlers, refreshers, consumers).
    jobs: Arc<Jobs>,
    /// Where this process's admin listener is reached (announced with every instance).
    admin: OnceLock<SocketAddr>,
}

impl Rpc {
    /// Connect to the configured registry. Standalone (no configured secret) gets a
    /// random internal secret, private to the process.
    pub async fn connect(cfg: &Config, caller: &str) -> Result<Self, RpcError> {
        let secret = if cfg.rpc.internal_secret.is_empty() {
            if cfg.registry.backend != RegistryBackend::Static {
                return Err(RpcError::Config(
                    "rpc.internal_secret must be set when a registry is used".into(),
                ));
            }
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| RpcError::Config(format!("random: {e}")))?;
            bytes.to_vec()
        } else {
            cfg.rpc.internal_secret.as_bytes().to_vec()
        };
        let seeds = SERVICES
            .iter()
            .filter_map(|name| Some((name.to_string(), cfg.services.get(name)?.addr)))
            .collect();
        let registry = Arc::new(AnyRegistry::connect(&cfg.registry, seeds).await?);
        tracing::info!(backend = registry.backend(), "registry connected");
        Ok(Self {
            caller: caller.to_owned(),
            discovery: Discovery::new(registry.clone()),
            registry,
            credential: Credential::new(&secret, cfg.rpc.credential_ttl_secs),
            breaker: Arc::new(ArcSwap::from_pointee(cfg.rpc.breaker.clone())),
            live: Arc::new(ArcSwap::from_pointee(cfg.live())),
            observer: Some(Arc::new(breaker_metrics)),
            retries: cfg.rpc.retries,
            direct: cfg.rpc.direct,
            services: cfg.services.clone(),
            advertise_host: cfg.registry.advertise_host.clone(),
            weight: cfg.registry.weight,
            jobs: Arc::new(Jobs::new()),
            admin: OnceLock::new(),
        })
    }

    /// Start the process's admin listener ([`admin`]: metrics, health, profiles,
    /// service discovery for Prometheus) and a readiness check of the registry. Call
    /// before [`Rpc::register`], so instances announce it.
    pub async fn start_admin(
        self: &Arc<Self>,
        cfg: &TelemetryConfig,
    ) -> Result<Option<SocketAddr>, RpcError> {
        let Some(bound) = admin::start(self.clone(), cfg).await? else {
            return Ok(None);
        };
        let advertised = self.advertised(bound)?;
        let _ = self.admin.set(advertised);
        let registry = self.registry.clone();
        fanone_telemetry::health::register(
            "registry",
            Arc::new(move || {
                let registry = registry.clone();
                Box::pin(async move {
                    registry
                        .instances("gateway")
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
            }),
        );
        Ok(Some(bound))
    }

    /// Called on every breaker state change (instead of the metrics gauge).
    pub fn with_breaker_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn registry(&self) -> &Arc<AnyRegistry> {
        &self.registry
    }

    pub fn discovery(&self) -> &Discovery<AnyRegistry> {
        &self.discovery
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The live breaker thresholds (the config center replaces them).
    pub fn breaker_config(&self) -> &Arc<ArcSwap<BreakerConfig>> {
        &self.breaker
    }

    /// The run-time settings: limits, feature switches, log filter, breaker.
    pub fn live(&self) -> &Arc<ArcSwap<Live>> {
        &self.live
    }

    /// Where this process's admin listener is reached, once started.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.get().copied()
    }

    /// The owner of the process's background jobs.
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    fn service(&self, name: &str) -> ServiceConfig {
        self.services.get(name).cloned().unwrap_or_default()
    }

    /// Configure a generated client builder the one way every client is built.
    pub fn client<C, Req, Resp>(&self, builder: NewClient<C, Req, Resp>) -> C::Target
    where
        C: volo::client::MkClient<volo_thrift::Client<BoxedTransport<Req, Resp>>>,
        Req: EntryMessage + Send + Sync + Clone + 'static,
        Resp: EntryMessage + Send + Sync + Clone + 'static,
    {
        let name = builder.get_callee_name().to_string();
        let svc = self.service(&name);
        let timeout = Some(Duration::from_millis(svc.timeout_ms.max(1)));
        let connect = Some(Duration::from_millis(svc.connect_timeout_ms.max(1)));
        if self.direct && svc.addr.port() != 0 {
            return builder
                .address(svc.addr)
                .caller_name(&self.caller)
                .rpc_timeout(timeout)
                .connect_timeout(connect)
                .layer_outer(CredentialLayer::new(self.credential.clone(), &self.caller))
                .layer_outer(ClientObserveLayer)
                .build();
        }
        let breakers = Arc::new(Breakers::new(
            &name,
            self.breaker.clone(),
            self.observer.clone(),
        ));
        builder
            .discover(self.discovery.clone())
            .load_balance(RoundRobin::new())
            .retry_count(self.retries)
            .caller_name(&self.caller)
            .rpc_timeout(timeout)
            .connect_timeout(connect)
            .layer_outer(CredentialLayer::new(self.credential.clone(), &self.caller))
            .layer_outer(ClientObserveLayer)
            .layer_inner(BreakerLayer::new(breakers))
            .build()
    }

    /// Bind `addr` and announce the bound address as an instance of `service`;
    /// returns the listener, the instance and its snowflake worker id.
    pub async fn register(
        &self,
        service: &str,
        addr: SocketAddr,
        configured_worker: u16,
    ) -> Result<Registered, RpcError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RpcError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| RpcError::Bind { addr, source })?;
        let advertised = self.advertised(bound)?;
        let mut instance = Instance::new(service, advertised, self.weight);
        if let Some(admin) = self.admin.get() {
            instance
                .meta
                .insert(admin::META_KEY.to_owned(), admin.to_string());
        }
        let worker_id = self.registry.register(&instance, configured_worker).await?;
        instance
            .meta
            .insert("worker_id".to_owned(), worker_id.to_string());
        Ok(Registered {
            listener,
            instance,
            worker_id,
        })
    }

    fn advertised(&self, bound: SocketAddr) -> Result<SocketAddr, RpcError> {
        if !self.advertise_host.is_empty() {
            let ip = self.advertise_host.parse().map_err(|_| {
                RpcError::Config(format!(
                    "registry.advertise_host {:?} is not an IP address",
                    self.advertise_host
                ))
            })?;
            return Ok(SocketAddr::new(ip, bound.port()));
        }
        if bound.ip().is_unspecified() && !matches!(*self.registry, AnyRegistry::Static(_)) {
            return Err(RpcError::Config(format!(
                "bound to {bound}: set registry.advertise_host to the address others reach this instance at"
            )));
        }
        Ok(bound)
    }

    /// What to run when the process is asked to stop: withdraw the instance, then
    /// stop the background jobs (Volo drains connections after the hook).
    pub fn shutdown_hook(
        self: &Arc<Self>,
        instance: Instance,
    ) -> impl FnOnce() -> futures::future::BoxFuture<'static, ()> + Send + 'static {
        let me = self.clone();
        move || {
            Box::pin(async move {
                fanone_telemetry::health::set_draining();
                if let Err(e) = me.registry.deregister(&instance).await {
                    tracing::warn!(service = %instance.service, error = %e, "deregistration failed; the lease will expire");
                }
                me.jobs.shutdown(Duration::from_secs(5)).await;
            })
        }
    }

    /// Serve a generated Thrift server on its registered listener until a shutdown
    /// signal: the credential check runs before any handler; then deregister, stop
    /// jobs, drain.
    pub async fn serve<S, Req>(
        self: &Arc<Self>,
        server: NewServer<S, Req>,
        registered: Registered,
    ) -> Result<(), motore::BoxError>
    where
        S: motore::Service<ServerContext, Req, Error = ServerError> + Send + Sync + 'static,
        S::Response: EntryMessage + Send + Sync + 'static,
        Req: EntryMessage + Send + 'static,
    {
        let Registered {
            listener,
            instance,
            worker_id,
        } = registered;
        tracing::info!(service = %instance.service, addr = %instance.addr, worker_id, "serving");
        let name = format!("{}@{}", instance.service, instance.addr);
        server
            .layer_front(RequireCredentialLayer::new(self.credential.clone()))
            .layer_front(served_by::ServedByLayer::new(name))
            .layer_front(ServerObserveLayer::new(&instance.service))
            .register_shutdown_hook(self.shutdown_hook(instance))
            .run(DefaultIncoming::from(listener))
            .await
    }
}

/// A bound listener announced in the registry.
pub struct Registered {
    pub listener: TcpListener,
    pub instance: Instance,
    pub worker_id: u16,
}

/// The default breaker observer: `fanone_rpc_breaker_state{callee,instance}` (0
/// closed, 1 half open, 2 open) and a transition counter.
fn breaker_metrics(callee: &str, instance: &volo::net::Address, state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    let instance = instance.to_string();
    metrics::gauge!("fanone_rpc_breaker_state", "callee" => callee.to_owned(), "instance" => instance.clone())
        .set(value);
    metrics::counter!(
        "fanone_rpc_breaker_transitions_total",
        "callee" => callee.to_owned(), "instance" => instance, "to" => state.as_str()
    )
    .increment(1);
}
