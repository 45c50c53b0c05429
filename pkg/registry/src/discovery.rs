//! Volo's `Discover` over any [`Registry`].

use std::{borrow::Cow, collections::HashMap, net::SocketAddr, sync::Arc};

use async_broadcast::{InactiveReceiver, Receiver, Sender};
use dashmap::DashMap;
use fanone_jobs::Jobs;
use volo::{
    FastStr,
    context::Endpoint,
    discovery::{Change, Discover, Instance as VoloInstance, diff_address},
    loadbalance::error::LoadBalanceError,
    net::Address,
};

use crate::{Instance, Registry};

/// Instances of services by name, kept current by the registry's watch.
pub struct Discovery<R: Registry> {
    inner: Arc<Inner<R>>,
}

impl<R: Registry> Clone for Discovery<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<R> {
    registry: Arc<R>,
    cache: DashMap<FastStr, Vec<Arc<VoloInstance>>>,
    /// One subscription per service, made by the first discover.
    subscribe: tokio::sync::Mutex<()>,
    tx: Sender<Change<FastStr>>,
    rx: InactiveReceiver<Change<FastStr>>,
    jobs: Jobs,
}

fn to_volo(list: &[Instance]) -> Vec<Arc<VoloInstance>> {
    list.iter()
        .map(|i| {
            let tags: HashMap<Cow<'static, str>, Cow<'static, str>> = i
                .meta
                .iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(v.clone())))
                .collect();
            Arc::new(VoloInstance {
                address: Address::Ip(i.addr),
                weight: i.weight,
                tags,
            })
        })
        .collect()
}

impl<R: Registry> Discovery<R> {
    pub fn new(registry: Arc<R>) -> Self {
        let (mut tx, rx) = async_broadcast::broadcast(64);
        // a slow load balancer loses old changes, never blocks the watch
        tx.set_overflow(true);
        Self {
            inner: Arc::new(Inner {
                registry,
                cache: DashMap::new(),
                subscribe: tokio::sync::Mutex::new(()),
                tx,
                rx: rx.deactivate(),
                jobs: Jobs::new(),
            }),
        }
    }

    pub fn registry(&self) -> &Arc<R> {
        &self.inner.registry
    }

    /// The addresses currently known for `service` (subscribing on first use).
    pub async fn addresses(&self, service: &str) -> Result<Vec<SocketAddr>, LoadBalanceError> {
        let list = self.lookup(FastStr::new(service)).await?;
        Ok(list
            .iter()
            .filter_map(|i| match &i.address {
                Address::Ip(a) => Some(*a),
                _ => None,
            })
            .collect())
    }

    async fn lookup(&self, key: FastStr) -> Result<Vec<Arc<VoloInstance>>, LoadBalanceError> {
        if let Some(hit) = self.inner.cache.get(&key) {
            return Ok(hit.clone());
        }
        let _one = self.inner.subscribe.lock().await;
        if let Some(hit) = self.inner.cache.get(&key) {
            return Ok(hit.clone());
        }
        let mut rx = self
            .inner
            .registry
            .watch(&key)
            .await
            .map_err(|e| LoadBalanceError::Discover(Box::new(e)))?;
        let first = to_volo(&rx.borrow_and_update());
        self.inner.cache.insert(key.clone(), first.clone());
        let weak = Arc::downgrade(&self.inner);
        let service = key.clone();
        self.inner
            .jobs
            .spawn("discovery-watch", move |_| async move {
                while rx.changed().await.is_ok() {
                    let Some(inner) = weak.upgrade() else { return };
                    let next = to_volo(&rx.borrow_and_update());
                    let prev = inner
                        .cache
                        .get(&service)
                        .map(|e| e.clone())
                        .unwrap_or_default();
                    if next.is_empty() && !prev.is_empty() {
                        // empty protection (as Nacos clients do): a registry that lost
                        // its data, or a broken watch, must not cut every call; instances
                        // that are really gone fail fast through their breakers instead
                        tracing::warn!(
                            service = %service,
                            kept = prev.len(),
                            "registry lists no instance; keeping the last known ones"
                        );
                        continue;
                    }
                    inner.cache.insert(service.clone(), next.clone());
                    let (change, changed) = diff_address(service.clone(), prev, next);
                    if changed {
                        tracing::info!(
                            service = %service,
                            instances = change.all.len(),
                            added = change.added.len(),
                            removed = change.removed.len(),
                            "discovered instances changed"
                        );
                        let _ = inner.tx.try_broadcast(change);
                    }
                }
            });
        Ok(first)
    }
}

impl<R: Registry> Discover for Discovery<R> {
    type Key = FastStr;
    type Error = LoadBalanceError;

    async fn discover<'s>(
        &'s self,
        endpoint: &'s Endpoint,
    ) -> Result<Vec<Arc<VoloInstance>>, LoadBalanceError> {
        self.lookup(endpoint.service_name.clone()).await
    }

    fn key(&self, endpoint: &Endpoint) -> FastStr {
        endpoint.service_name.clone()
    }

    fn watch(&self, _keys: Option<&[FastStr]>) -> Option<Receiver<Change<FastStr>>> {
        Some(self.inner.rx.activate_cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticRegistry;

    #[tokio::test]
    async fn discovers_and_pushes_changes() {
        let reg = Arc::new(StaticRegistry::new(vec![]));
        let d = Discovery::new(reg.clone());
        let mut changes = d.watch(None).expect("watch");
        let ep = Endpoint::new("user".into());
        assert!(d.discover(&ep).await.unwrap().is_empty());
        let a = Instance::new("user", "127.0.0.1:9001".parse().unwrap(), 10);
        reg.register(&a, 1).await.unwrap();
        let c = tokio::time::timeout(std::time::Duration::from_secs(2), changes.recv())
            .await
            .expect("a change is pushed")
            .expect("open channel");
        assert_eq!(c.key.as_str(), "user");
        assert_eq!(c.added.len(), 1);
        assert_eq!(d.addresses("user").await.unwrap(), vec![a.addr]);
        let b = Instance::new("user", "127.0.0.1:9002".parse().unwrap(), 10);
        reg.register(&b, 1).await.unwrap();
        let c = tokio::time::timeout(std::time::Duration::from_secs(2), changes.recv())
            .await
            .expect("a change is pushed")
            .expect("open channel");
        assert_eq!(c.all.len(), 2);
        reg.deregister(&a).await.unwrap();
        let c = tokio::time::timeout(std::time::Duration::from_secs(2), changes.recv())
            .await
            .expect("a change is pushed")
            .expect("open channel");
        assert_eq!(c.removed.len(), 1);
        assert_eq!(d.addresses("user").await.unwrap(), vec![b.addr]);
        // the last instance going away is not believed (empty protection)
        reg.deregister(&b).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(d.discover(&ep).await.unwrap().len(), 1);
    }
}
