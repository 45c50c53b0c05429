//! Nacos backend (naming service, official gRPC protocol through `nacos-sdk`).
//!
//! Instances are ephemeral: the SDK keeps them alive over its long gRPC connection and
//! registers them again after a reconnect (a restarted Nacos gets every instance
//! back); a crashed process's instances go when the server notices the connection is
//! gone. Discovery subscribes, so changes are pushed, not polled.
//!
//! Worker ids: Nacos has no compare-and-set on naming data, so every instance carries
//! its worker id in its metadata. A new instance picks an id no live instance of any
//! component announces, registers, waits for the registry to settle, and looks again:
//! if another instance announces the same id, the one with the lower address keeps it
//! and the other picks again. Ids are final before the instance serves.

use std::{collections::HashSet, sync::Arc, time::Duration};

use fanone_config::{RegistryConfig, SERVICES};
use nacos_sdk::api::{
    config::{ConfigChangeListener, ConfigResponse, ConfigService, ConfigServiceBuilder},
    naming::{
        NamingChangeEvent, NamingEventListener, NamingService, NamingServiceBuilder,
        ServiceInstance,
    },
    props::ClientProps,
};
use rand::Rng;
use tokio::sync::OnceCell;
use tokio::sync::watch;

use crate::{Instance, Registry, RegistryError, WORKER_IDS, sorted};

/// Components that hold worker ids (every service and the gateway).
fn components() -> impl Iterator<Item = &'static str> {
    SERVICES.into_iter().chain(["gateway"])
}

pub struct NacosRegistry {
    naming: NamingService,
    props: ClientProps,
    /// Built on first use (only the config center needs it).
    config: OnceCell<ConfigService>,
    /// A second config client for publishing. It never listens, so the SDK keeps no
    /// cache for it and its read-back after a publish asks the server.
    publisher: OnceCell<ConfigService>,
    group: String,
    settle: Duration,
    jobs: fanone_jobs::Jobs,
}

impl NacosRegistry {
    pub async fn connect(cfg: &RegistryConfig) -> Result<Self, RegistryError> {
        let props = ClientProps::new()
            .server_addr(cfg.endpoint_list().join(","))
            .namespace(if cfg.namespace == "public" {
                ""
            } else {
                cfg.namespace.as_str()
            })
            .app_name("fanone")
            // configuration comes from our config file and env, not NACOS_* variables
            .env_first(false);
        let naming = NamingServiceBuilder::new(props.clone()).build().await?;
        Ok(Self {
            naming,
            props,
            config: OnceCell::new(),
            publisher: OnceCell::new(),
            group: cfg.group.clone(),
            settle: Duration::from_millis(500),
            jobs: fanone_jobs::Jobs::new(),
        })
    }

    async fn config_service(&self) -> Result<&ConfigService, RegistryError> {
        self.build_config(&self.config).await
    }

    async fn build_config<'a>(
        &self,
        cell: &'a OnceCell<ConfigService>,
    ) -> Result<&'a ConfigService, RegistryError> {
        cell.get_or_try_init(|| async {
            ConfigServiceBuilder::new(self.props.clone())
                .build()
                .await
                .map_err(RegistryError::from)
        })
        .await
    }

    fn group(&self) -> Option<String> {
        Some(self.group.clone())
    }

    async fn live(&self, service: &str) -> Result<Vec<ServiceInstance>, RegistryError> {
        let all = self
            .naming
            .get_all_instances(service.to_owned(), self.group(), Vec::new(), false)
            .await?;
        Ok(all.into_iter().filter(|i| i.healthy && i.enabled).collect())
    }

    /// Worker ids announced by live instances other than `me`, with their holders.
    async fn held_ids(&self, me: &Instance) -> Result<Vec<(u16, String)>, RegistryError> {
        let mut held = Vec::new();
        for c in components() {
            for i in self.live(c).await? {
                let addr = format!("{}:{}", i.ip, i.port);
                if c == me.service && addr == me.addr.to_string() {
                    continue;
                }
                if let Some(id) = i.metadata.get("worker_id").and_then(|v| v.parse().ok()) {
                    held.push((id, addr));
                }
            }
        }
        Ok(held)
    }

    async fn put(&self, inst: &Instance) -> Result<(), RegistryError> {
        self.naming
            .register_instance(inst.service.clone(), self.group(), to_nacos(inst))
            .await?;
        Ok(())
    }
}

fn to_nacos(inst: &Instance) -> ServiceInstance {
    ServiceInstance {
        instance_id: None,
        ip: inst.addr.ip().to_string(),
        port: i32::from(inst.addr.port()),
        weight: f64::from(inst.weight),
        healthy: true,
        enabled: true,
        ephemeral: true,
        cluster_name: None,
        service_name: Some(inst.service.clone()),
        metadata: inst.meta.clone().into_iter().collect(),
    }
}

fn from_nacos(service: &str, i: &ServiceInstance) -> Option<Instance> {
    let ip: std::net::IpAddr = i.ip.parse().ok()?;
    let port = u16::try_from(i.port).ok()?;
    Some(Instance {
        service: service.to_owned(),
        addr: (ip, port).into(),
        weight: i.weight.round().clamp(0.0, 10_000.0) as u32,
        meta: i.metadata.clone().into_iter().collect(),
    })
}

fn convert(service: &str, list: &[ServiceInstance]) -> Vec<Instance> {
    sorted(
        list.iter()
            .filter(|i| i.healthy && i.enabled)
            .filter_map(|i| from_nacos(service, i))
            .collect(),
    )
}

/// The config center's document, `None` when there is none. Bounded by
/// `CONFIG_READ_TIMEOUT`: a request that hangs on a broken connection (seen under load
/// on the CI machine: the poll below then never saw a published document) is an
/// error, and the caller tries again.
async fn read_config(cs: &ConfigService, group: &str) -> Result<Option<String>, RegistryError> {
    let read = cs.get_config(crate::CONFIG_DATA_ID.to_owned(), group.to_owned());
    match tokio::time::timeout(CONFIG_READ_TIMEOUT, read).await {
        Err(_) => Err(RegistryError::Nacos(format!(
            "config read: no answer within {CONFIG_READ_TIMEOUT:?}"
        ))),
        Ok(Ok(r)) => Ok(Some(r.content().clone()).filter(|c| !c.is_empty())),
        Ok(Err(nacos_sdk::api::error::Error::ConfigNotFound(_))) => Ok(None),
        Ok(Err(e)) => Err(e.into()),
    }
}

const CONFIG_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a publish is retried when the server does not serve it back, and how
/// long each read-back waits.
const PUBLISH_ATTEMPTS: u32 = 5;
const PUBLISH_VISIBLE_WITHIN: Duration = Duration::from_secs(2);

struct ConfigListener {
    tx: watch::Sender<Option<String>>,
}

impl ConfigChangeListener for ConfigListener {
    fn notify(&self, resp: ConfigResponse) {
        let next = Some(resp.content().clone()).filter(|c| !c.is_empty());
        self.tx.send_if_modified(|cur| {
            let changed = *cur != next;
            *cur = next;
            changed
        });
    }
}

struct Listener {
    service: String,
    tx: watch::Sender<Vec<Instance>>,
}

impl NamingEventListener for Listener {
    fn event(&self, event: Arc<NamingChangeEvent>) {
        let next = convert(
            &self.service,
            event.instances.as_deref().unwrap_or_default(),
        );
        self.tx.send_if_modified(|cur| {
            let changed = *cur != next;
            *cur = next;
            changed
        });
    }
}

impl Registry for NacosRegistry {
    async fn register(&self, inst: &Instance, _configured: u16) -> Result<u16, RegistryError> {
        let mut inst = inst.clone();
        let mut avoid: HashSet<u16> = HashSet::new();
        for round in 0..16 {
            let held = self.held_ids(&inst).await?;
            avoid.extend(held.iter().map(|(id, _)| *id));
            let free: Vec<u16> = (0..WORKER_IDS).filter(|id| !avoid.contains(id)).collect();
            if free.is_empty() {
                return Err(RegistryError::NoWorkerId);
            }
            let id = free[rand::rng().random_range(0..free.len())];
            inst.meta.insert("worker_id".to_owned(), id.to_string());
            self.put(&inst).await?;
            tokio::time::sleep(self.settle).await;
            // someone else announcing the same id: the lower address keeps it
            let me = inst.addr.to_string();
            let contested = self
                .held_ids(&inst)
                .await?
                .into_iter()
                .any(|(other, addr)| other == id && addr < me);
            if !contested {
                tracing::info!(service = %inst.service, addr = %inst.addr, worker_id = id, "registered in nacos");
                return Ok(id);
            }
            tracing::info!(
                worker_id = id,
                round,
                "worker id contested; picking another"
            );
            avoid.insert(id);
        }
        Err(RegistryError::NoWorkerId)
    }

    async fn watch_config(&self) -> Result<watch::Receiver<Option<String>>, RegistryError> {
        let cs = self.config_service().await?.clone();
        let group = self.group.clone();
        let first = read_config(&cs, &group).await?;
        let (tx, rx) = watch::channel(first.clone());
        let listener = Arc::new(ConfigListener { tx });
        if first.is_some() {
            cs.add_listener(crate::CONFIG_DATA_ID.to_owned(), group, listener)
                .await?;
        } else {
            // a listener on a data id that does not exist yet is never told when it
            // appears (seen with rnacos): look every 2 s until it does, then listen
            self.jobs.spawn("nacos-config-wait", move |_| async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    match read_config(&cs, &group).await {
                        Ok(Some(doc)) => {
                            tracing::debug!("nacos config: published; listening from now on");
                            listener.tx.send_replace(Some(doc));
                            if let Err(e) = cs
                                .add_listener(crate::CONFIG_DATA_ID.to_owned(), group, listener)
                                .await
                            {
                                tracing::error!(error = %e, "nacos config listener not added");
                            }
                            return;
                        }
                        Ok(None) => tracing::debug!("nacos config: none published yet"),
                        Err(e) => tracing::warn!(error = %e, "nacos config unreadable; will retry"),
                    }
                }
            });
        }
        Ok(rx)
    }

    /// Publish, then read the document back from the server, publishing again if it is
    /// not there. rnacos answers a publish with success before its raft write, and drops
    /// the write's errors: in CI a publish was acknowledged and the server never held
    /// the document. A publish is done only when the server serves it.
    async fn publish_config(&self, toml: &str) -> Result<(), RegistryError> {
        let cs = self.build_config(&self.publisher).await?;
        for attempt in 1..=PUBLISH_ATTEMPTS {
            let ok = cs
                .publish_config(
                    crate::CONFIG_DATA_ID.to_owned(),
                    self.group.clone(),
                    toml.to_owned(),
                    Some("toml".to_owned()),
                )
                .await?;
            if !ok {
                return Err(RegistryError::Nacos("config not published".into()));
            }
            let deadline = tokio::time::Instant::now() + PUBLISH_VISIBLE_WITHIN;
            loop {
                match read_config(cs, &self.group).await {
                    Ok(Some(doc)) if doc == toml => return Ok(()),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "nacos config: read-back failed"),
                }
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tracing::warn!(
                attempt,
                "nacos acknowledged the config document but does not serve it; publishing again"
            );
        }
        Err(RegistryError::Nacos(format!(
            "config publish acknowledged {PUBLISH_ATTEMPTS} times but the server never served the document"
        )))
    }

    async fn deregister(&self, inst: &Instance) -> Result<(), RegistryError> {
        self.naming
            .deregister_instance(inst.service.clone(), self.group(), to_nacos(inst))
            .await?;
        tracing::info!(service = %inst.service, addr = %inst.addr, "deregistered from nacos");
        Ok(())
    }

    async fn instances(&self, service: &str) -> Result<Vec<Instance>, RegistryError> {
        Ok(convert(service, &self.live(service).await?))
    }

    async fn watch(&self, service: &str) -> Result<watch::Receiver<Vec<Instance>>, RegistryError> {
        let first = self
            .naming
            .get_all_instances(service.to_owned(), self.group(), Vec::new(), true)
            .await?;
        let (tx, rx) = watch::channel(convert(service, &first));
        let listener = Arc::new(Listener {
            service: service.to_owned(),
            tx,
        });
        self.naming
            .subscribe(service.to_owned(), self.group(), Vec::new(), listener)
            .await?;
        Ok(rx)
    }
}
