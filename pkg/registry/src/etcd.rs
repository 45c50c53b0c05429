//! etcd v3 backend.
//!
//! Layout under the namespace prefix `p`:
//! - `p/services/<service>/<ip:port>` → the [`Instance`] as JSON, attached to this
//!   process's lease;
//! - `p/workers/<id>` → the holder of snowflake worker id `id`, on the same lease,
//!   created only if absent (one transaction), so two live instances never share one.
//!
//! One lease per process with TTL `registry.ttl_secs`, renewed every third of it. If
//! renewing fails (etcd down, lease expired, etcd restarted without its data), the
//! keep-alive job grants a new lease and puts every key again, so a restarted registry
//! gets every instance back. A crashed process disappears when its lease runs out.

use std::{sync::Arc, time::Duration};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, WatchOptions,
};
use fanone_config::RegistryConfig;
use fanone_jobs::Jobs;
use rand::Rng;
use tokio::sync::{Mutex, watch};

use crate::{Instance, Registry, RegistryError, WORKER_IDS, sorted};

pub struct EtcdRegistry {
    client: Client,
    prefix: String,
    ttl: i64,
    state: Arc<Mutex<LeaseState>>,
    jobs: Jobs,
}

#[derive(Default)]
struct LeaseState {
    lease: Option<i64>,
    /// What this process announced, to put again under a new lease.
    registered: Vec<Instance>,
    workers: Vec<(u16, String)>,
    keeper_started: bool,
}

impl EtcdRegistry {
    pub async fn connect(cfg: &RegistryConfig) -> Result<Self, RegistryError> {
        let endpoints = cfg.endpoint_list();
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(3))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3));
        let client = Client::connect(&endpoints, Some(opts)).await?;
        let ns = cfg.namespace.trim_matches('/');
        Ok(Self {
            client,
            prefix: format!("/{ns}"),
            ttl: cfg.ttl_secs.clamp(2, 3600) as i64,
            state: Arc::new(Mutex::new(LeaseState::default())),
            jobs: Jobs::new(),
        })
    }

    fn service_prefix(&self, service: &str) -> String {
        format!("{}/services/{service}/", self.prefix)
    }

    fn instance_key(&self, inst: &Instance) -> String {
        format!("{}{}", self.service_prefix(&inst.service), inst.addr)
    }

    fn worker_key(&self, id: u16) -> String {
        format!("{}/workers/{id}", self.prefix)
    }

    /// The process's lease, granted on first use; starts the keep-alive job.
    async fn lease(&self, st: &mut LeaseState) -> Result<i64, RegistryError> {
        if let Some(l) = st.lease {
            return Ok(l);
        }
        let l = self.client.clone().lease_grant(self.ttl, None).await?.id();
        st.lease = Some(l);
        if !st.keeper_started {
            st.keeper_started = true;
            let keeper = Keeper {
                client: self.client.clone(),
                state: self.state.clone(),
                ttl: self.ttl,
                prefix: self.prefix.clone(),
            };
            self.jobs
                .spawn("etcd-keepalive", move |_| async move { keeper.run().await });
        }
        Ok(l)
    }
}

/// Try to take worker id `id` on `lease`: true when it was free.
async fn take_worker(
    client: &mut Client,
    key: String,
    holder: &str,
    lease: i64,
) -> Result<bool, RegistryError> {
    let txn = Txn::new()
        .when(vec![Compare::create_revision(
            key.clone(),
            CompareOp::Equal,
            0,
        )])
        .and_then(vec![TxnOp::put(
            key,
            holder,
            Some(PutOptions::new().with_lease(lease)),
        )]);
    Ok(client.txn(txn).await?.succeeded())
}

async fn put_instance(
    client: &mut Client,
    key: String,
    inst: &Instance,
    lease: i64,
) -> Result<(), RegistryError> {
    let value = serde_json::to_vec(inst).map_err(|e| RegistryError::Data(e.to_string()))?;
    client
        .put(key, value, Some(PutOptions::new().with_lease(lease)))
        .await?;
    Ok(())
}

impl Registry for EtcdRegistry {
    async fn register(&self, inst: &Instance, _configured: u16) -> Result<u16, RegistryError> {
        let mut st = self.state.lock().await;
        let lease = self.lease(&mut st).await?;
        let mut client = self.client.clone();
        let holder = format!("{}@{}", inst.service, inst.addr);
        // start at a random id so instances starting together rarely race for one
        let start = rand::rng().random_range(0..WORKER_IDS);
        let mut worker = None;
        for i in 0..WORKER_IDS {
            let id = (start + i) % WORKER_IDS;
            if take_worker(&mut client, self.worker_key(id), &holder, lease).await? {
                worker = Some(id);
                break;
            }
        }
        let id = worker.ok_or(RegistryError::NoWorkerId)?;
        let mut inst = inst.clone();
        inst.meta.insert("worker_id".to_owned(), id.to_string());
        put_instance(&mut client, self.instance_key(&inst), &inst, lease).await?;
        tracing::info!(service = %inst.service, addr = %inst.addr, worker_id = id, lease, "registered in etcd");
        st.registered.push(inst);
        st.workers.push((id, holder));
        Ok(id)
    }

    async fn deregister(&self, inst: &Instance) -> Result<(), RegistryError> {
        let mut st = self.state.lock().await;
        let holder = format!("{}@{}", inst.service, inst.addr);
        let mut client = self.client.clone();
        client.delete(self.instance_key(inst), None).await?;
        for (id, _) in st.workers.iter().filter(|(_, h)| *h == holder) {
            client.delete(self.worker_key(*id), None).await?;
        }
        st.registered
            .retain(|i| i.addr != inst.addr || i.service != inst.service);
        st.workers.retain(|(_, h)| *h != holder);
        if st.registered.is_empty()
            && st.workers.is_empty()
            && let Some(l) = st.lease.take()
        {
            // nothing left to keep alive: let go of the lease at once
            let _ = client.lease_revoke(l).await;
        }
        tracing::info!(service = %inst.service, addr = %inst.addr, "deregistered from etcd");
        Ok(())
    }

    async fn instances(&self, service: &str) -> Result<Vec<Instance>, RegistryError> {
        let (list, _) =
            read_prefix(&mut self.client.clone(), &self.service_prefix(service)).await?;
        Ok(list)
    }

    async fn watch_config(&self) -> Result<watch::Receiver<Option<String>>, RegistryError> {
        let key = format!("{}/config", self.prefix);
        let mut client = self.client.clone();
        let (first, revision) = read_key(&mut client, &key).await?;
        let (tx, rx) = watch::channel(first);
        self.jobs.spawn("etcd-config-watch", move |_| async move {
            follow_key(client, key, revision, tx).await
        });
        Ok(rx)
    }

    async fn publish_config(&self, toml: &str) -> Result<(), RegistryError> {
        let key = format!("{}/config", self.prefix);
        self.client.clone().put(key, toml, None).await?;
        Ok(())
    }

    async fn watch(&self, service: &str) -> Result<watch::Receiver<Vec<Instance>>, RegistryError> {
        let prefix = self.service_prefix(service);
        let mut client = self.client.clone();
        let (first, revision) = read_prefix(&mut client, &prefix).await?;
        let (tx, rx) = watch::channel(first);
        self.jobs.spawn("etcd-watch", move |_| async move {
            follow(client, prefix, revision, tx).await
        });
        Ok(rx)
    }
}

/// Every instance under `prefix` and the store revision they were read at.
async fn read_prefix(
    client: &mut Client,
    prefix: &str,
) -> Result<(Vec<Instance>, i64), RegistryError> {
    let resp = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
    let mut list = Vec::with_capacity(resp.kvs().len());
    for kv in resp.kvs() {
        match serde_json::from_slice::<Instance>(kv.value()) {
            Ok(i) => list.push(i),
            Err(e) => {
                tracing::warn!(key = ?kv.key_str(), error = %e, "unreadable instance in etcd; skipped")
            }
        }
    }
    Ok((sorted(list), revision))
}

/// Keep `tx` equal to the instances under `prefix`: watch from `revision`, re-read on
/// every event, and start over (read, then watch) after any error.
async fn follow(
    mut client: Client,
    prefix: String,
    mut revision: i64,
    tx: watch::Sender<Vec<Instance>>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1);
        match client.watch(prefix.as_str(), Some(opts)).await {
            Ok(mut stream) => loop {
                match stream.message().await {
                    Ok(Some(resp)) if resp.canceled() => break,
                    Ok(Some(resp)) if resp.events().is_empty() => continue,
                    Ok(Some(_)) => match read_prefix(&mut client, &prefix).await {
                        Ok((list, rev)) => {
                            revision = rev;
                            backoff = Duration::from_millis(200);
                            tx.send_if_modified(|cur| {
                                let changed = *cur != list;
                                *cur = list;
                                changed
                            });
                        }
                        Err(e) => {
                            tracing::warn!(prefix, error = %e, "etcd read failed");
                            break;
                        }
                    },
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(prefix, error = %e, "etcd watch broke");
                        break;
                    }
                }
            },
            Err(e) => tracing::warn!(prefix, error = %e, "etcd watch failed"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        // re-read: events may have been missed while the watch was down
        match read_prefix(&mut client, &prefix).await {
            Ok((list, rev)) => {
                revision = rev;
                tx.send_if_modified(|cur| {
                    let changed = *cur != list;
                    *cur = list;
                    changed
                });
            }
            Err(e) => {
                tracing::warn!(prefix, error = %e, "etcd unreachable; keeping the last instances")
            }
        }
    }
}

/// The value of `key` (as text) and the revision it was read at.
async fn read_key(client: &mut Client, key: &str) -> Result<(Option<String>, i64), RegistryError> {
    let resp = client.get(key, None).await?;
    let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
    let value = resp
        .kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned());
    Ok((value, revision))
}

/// Keep `tx` equal to the value of `key`, as [`follow`] does for a prefix.
async fn follow_key(
    mut client: Client,
    key: String,
    mut revision: i64,
    tx: watch::Sender<Option<String>>,
) {
    loop {
        let opts = WatchOptions::new().with_start_revision(revision + 1);
        if let Ok(mut stream) = client.watch(key.as_str(), Some(opts)).await {
            while let Ok(Some(resp)) = stream.message().await {
                if resp.canceled() {
                    break;
                }
                if resp.events().is_empty() {
                    continue;
                }
                match read_key(&mut client, &key).await {
                    Ok((v, rev)) => {
                        revision = rev;
                        tx.send_if_modified(|cur| {
                            let changed = *cur != v;
                            *cur = v;
                            changed
                        });
                    }
                    Err(_) => break,
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok((v, rev)) = read_key(&mut client, &key).await {
            revision = rev;
            tx.send_if_modified(|cur| {
                let changed = *cur != v;
                *cur = v;
                changed
            });
        }
    }
}

/// Renews the process's lease; re-grants it and re-puts every key when it is lost.
struct Keeper {
    client: Client,
    state: Arc<Mutex<LeaseState>>,
    ttl: i64,
    prefix: String,
}

impl Keeper {
    async fn run(mut self) {
        let every = Duration::from_millis((self.ttl as u64 * 1000 / 3).max(500));
        loop {
            let lease = self.state.lock().await.lease;
            if let Some(lease) = lease
                && let Err(e) = self.renew(lease, every).await
            {
                tracing::warn!(lease, error = %e, "etcd lease lost; registering again");
            }
            tokio::time::sleep(every).await;
            if let Err(e) = self.restore().await {
                tracing::warn!(error = %e, "etcd unreachable; will retry");
            }
        }
    }

    /// Renew `lease` every `every` until a renewal fails or finds it expired.
    async fn renew(&mut self, lease: i64, every: Duration) -> Result<(), RegistryError> {
        let (mut keeper, mut stream) = self.client.lease_keep_alive(lease).await?;
        loop {
            keeper.keep_alive().await?;
            let resp = tokio::time::timeout(Duration::from_secs(self.ttl as u64), stream.message())
                .await
                .map_err(|_| RegistryError::Data("keep-alive timed out".into()))??;
            match resp {
                Some(r) if r.ttl() > 0 => {}
                _ => return Err(RegistryError::Data("lease expired".into())),
            }
            if self.state.lock().await.lease != Some(lease) {
                return Ok(()); // revoked by deregistration
            }
            tokio::time::sleep(every).await;
        }
    }

    /// After a lost lease: a new one, and every key of this process put again.
    async fn restore(&mut self) -> Result<(), RegistryError> {
        let mut st = self.state.lock().await;
        if st.registered.is_empty() && st.workers.is_empty() {
            st.lease = None;
            return Ok(());
        }
        if let Some(l) = st.lease {
            // still alive? (renew returned because of a transient error)
            if let Ok(r) = self.client.lease_time_to_live(l, None).await
                && r.ttl() > 0
            {
                return Ok(());
            }
        }
        let lease = self.client.lease_grant(self.ttl, None).await?.id();
        for (id, holder) in &st.workers {
            let key = format!("{}/workers/{id}", self.prefix);
            if !take_worker(&mut self.client, key, holder, lease).await? {
                tracing::error!(
                    worker_id = id,
                    "snowflake worker id was taken while etcd was away; ids may collide until restart"
                );
            }
        }
        for inst in &st.registered {
            let key = format!("{}/services/{}/{}", self.prefix, inst.service, inst.addr);
            put_instance(&mut self.client, key, inst, lease).await?;
        }
        st.lease = Some(lease);
        tracing::info!(
            lease,
            instances = st.registered.len(),
            "registered in etcd again"
        );
        Ok(())
    }
}
