//! Addresses from the configuration plus in-process registrations.

use std::{collections::HashMap, net::SocketAddr, sync::Mutex};

use tokio::sync::watch;

use crate::{Instance, Registry, RegistryError, sorted};

/// The static backend: no server, one process's view.
pub struct StaticRegistry {
    services: Mutex<HashMap<String, watch::Sender<Vec<Instance>>>>,
    config: watch::Sender<Option<String>>,
}

impl StaticRegistry {
    /// Seed with configured `(service, address)` pairs; port 0 (bind anywhere) is
    /// skipped: such a service is found once it registers in this process.
    pub fn new(seeds: Vec<(String, SocketAddr)>) -> Self {
        let me = Self {
            services: Mutex::new(HashMap::new()),
            config: watch::channel(None).0,
        };
        for (service, addr) in seeds {
            if addr.port() != 0 {
                me.update(&service, |list| {
                    list.push(Instance::new(&service, addr, 10))
                });
            }
        }
        me
    }

    fn update(&self, service: &str, f: impl FnOnce(&mut Vec<Instance>)) {
        let mut map = self.services.lock().unwrap_or_else(|p| p.into_inner());
        let tx = map
            .entry(service.to_owned())
            .or_insert_with(|| watch::channel(Vec::new()).0);
        tx.send_modify(|list| {
            f(list);
            *list = sorted(std::mem::take(list));
        });
    }

    fn sender(&self, service: &str) -> watch::Sender<Vec<Instance>> {
        let mut map = self.services.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(service.to_owned())
            .or_insert_with(|| watch::channel(Vec::new()).0)
            .clone()
    }
}

impl Registry for StaticRegistry {
    async fn register(&self, inst: &Instance, configured: u16) -> Result<u16, RegistryError> {
        self.update(&inst.service, |list| {
            // a registration replaces the configured seed of the same address
            list.retain(|i| i.addr != inst.addr);
            list.push(inst.clone());
        });
        Ok(configured)
    }

    async fn deregister(&self, inst: &Instance) -> Result<(), RegistryError> {
        self.update(&inst.service, |list| list.retain(|i| i.addr != inst.addr));
        Ok(())
    }

    async fn instances(&self, service: &str) -> Result<Vec<Instance>, RegistryError> {
        Ok(self.sender(service).borrow().clone())
    }

    async fn watch(&self, service: &str) -> Result<watch::Receiver<Vec<Instance>>, RegistryError> {
        Ok(self.sender(service).subscribe())
    }

    /// In-process only: what [`StaticRegistry::publish_config`] set in this process.
    async fn watch_config(&self) -> Result<watch::Receiver<Option<String>>, RegistryError> {
        Ok(self.config.subscribe())
    }

    async fn publish_config(&self, toml: &str) -> Result<(), RegistryError> {
        self.config.send_replace(Some(toml.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeds_registrations_and_watch() {
        let r = StaticRegistry::new(vec![
            ("user".into(), "127.0.0.1:10011".parse().unwrap()),
            ("video".into(), "127.0.0.1:0".parse().unwrap()),
        ]);
        assert_eq!(r.instances("user").await.unwrap().len(), 1);
        assert!(
            r.instances("video").await.unwrap().is_empty(),
            "port 0 is not an address"
        );
        let mut rx = r.watch("video").await.unwrap();
        let inst = Instance::new("video", "127.0.0.1:4567".parse().unwrap(), 10);
        assert_eq!(
            r.register(&inst, 7).await.unwrap(),
            7,
            "configured worker id"
        );
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow().clone(), vec![inst.clone()]);
        r.deregister(&inst).await.unwrap();
        rx.changed().await.unwrap();
        assert!(rx.borrow().is_empty());
    }
}
