//! Round robin over the instances a [`Discover`] reports (Volo ships only weighted
//! random and consistent hashing).
//!
//! Each call takes the next instance in turn; if it fails with a transport error the
//! load-balance layer retries on the instances after it, in ring order, so a dead
//! instance costs one failed attempt, never a failed call while others live.
//! Instance lists are replaced on every change pushed by the discovery's watch.

use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use dashmap::DashMap;
use volo::{
    context::Endpoint,
    discovery::{Change, Discover, Instance},
    loadbalance::{LoadBalance, error::LoadBalanceError},
    net::Address,
};

/// Round robin, one ring per discovery key (service). Clones share the rings.
#[derive(Debug)]
pub struct RoundRobin<K: Hash + Eq> {
    rings: Arc<DashMap<K, Arc<Ring>>>,
}

impl<K: Hash + Eq> Clone for RoundRobin<K> {
    fn clone(&self) -> Self {
        Self {
            rings: self.rings.clone(),
        }
    }
}

#[derive(Debug)]
struct Ring {
    instances: Vec<Arc<Instance>>,
    next: AtomicUsize,
}

impl Ring {
    fn new(mut instances: Vec<Arc<Instance>>) -> Self {
        // weight 0 means "registered but drained": never picked
        instances.retain(|i| i.weight > 0);
        Self {
            instances,
            next: AtomicUsize::new(0),
        }
    }
}

impl<K: Hash + Eq> Default for RoundRobin<K> {
    fn default() -> Self {
        Self {
            rings: Arc::new(DashMap::new()),
        }
    }
}

impl<K: Hash + Eq> RoundRobin<K> {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The instances of one call: the one whose turn it is, then the rest in ring order.
#[derive(Debug)]
pub struct Picker {
    ring: Arc<Ring>,
    start: usize,
    taken: usize,
}

impl Iterator for Picker {
    type Item = Address;

    fn next(&mut self) -> Option<Address> {
        let n = self.ring.instances.len();
        if self.taken >= n {
            return None;
        }
        let i = (self.start + self.taken) % n;
        self.taken += 1;
        Some(self.ring.instances[i].address.clone())
    }
}

impl<D> LoadBalance<D> for RoundRobin<D::Key>
where
    D: Discover,
{
    type InstanceIter = Picker;

    async fn get_picker<'f>(
        &'f self,
        endpoint: &'f Endpoint,
        discover: &'f D,
    ) -> Result<Picker, LoadBalanceError> {
        let key = discover.key(endpoint);
        let ring = match self.rings.get(&key) {
            Some(r) => r.clone(),
            None => {
                let instances = discover.discover(endpoint).await.map_err(Into::into)?;
                self.rings
                    .entry(key)
                    .or_insert_with(|| Arc::new(Ring::new(instances)))
                    .clone()
            }
        };
        let start = ring.next.fetch_add(1, Ordering::Relaxed);
        Ok(Picker {
            ring,
            start,
            taken: 0,
        })
    }

    fn rebalance(&self, change: Change<D::Key>) {
        tracing::info!(
            instances = change.all.len(),
            added = change.added.len(),
            removed = change.removed.len(),
            "instances changed"
        );
        self.rings
            .insert(change.key, Arc::new(Ring::new(change.all)));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use volo::discovery::StaticDiscover;

    use super::*;

    fn inst(port: u16, weight: u32) -> Arc<Instance> {
        Arc::new(Instance {
            address: Address::Ip(([127, 0, 0, 1], port).into()),
            weight,
            tags: Default::default(),
        })
    }

    #[tokio::test]
    async fn spreads_evenly_and_falls_over_in_ring_order() {
        let d = StaticDiscover::new(vec![inst(1, 1), inst(2, 1), inst(3, 1)]);
        let lb = RoundRobin::new();
        let ep = Endpoint::new("user".into());
        let mut firsts: HashMap<Address, u32> = HashMap::new();
        for _ in 0..300 {
            let mut p = lb.get_picker(&ep, &d).await.expect("picker");
            let all: Vec<Address> = p.by_ref().collect();
            assert_eq!(all.len(), 3, "every instance once per call");
            *firsts.entry(all[0].clone()).or_default() += 1;
        }
        assert_eq!(firsts.len(), 3);
        assert!(firsts.values().all(|&n| n == 100), "{firsts:?}");
    }

    #[tokio::test]
    async fn rebalance_replaces_the_ring_and_skips_drained() {
        let d = StaticDiscover::new(vec![inst(1, 1)]);
        let lb = RoundRobin::new();
        let ep = Endpoint::new("user".into());
        let _ = LoadBalance::<StaticDiscover>::get_picker(&lb, &ep, &d).await;
        LoadBalance::<StaticDiscover>::rebalance(
            &lb,
            Change {
                key: (),
                all: vec![inst(7, 1), inst(8, 0)],
                added: vec![],
                updated: vec![],
                removed: vec![],
            },
        );
        let picked: Vec<Address> = lb.get_picker(&ep, &d).await.expect("picker").collect();
        assert_eq!(picked, vec![inst(7, 1).address.clone()]);
    }
}
