//! The WebSocket hub: which users have live chat connections on this gateway, and a
//! queue to each connection. Several connections per user are allowed (tabs,
//! devices); a push reaches all of them.
//!
//! The hub knows the connections of this gateway. With Redis configured (cluster
//! mode), [`Hub::deliver`] also publishes the push on one pub/sub channel that every
//! gateway's relay job subscribes to ([`start_relay`]): the gateway holding the
//! receiver's connection pushes it. The message is stored before any of this, so a
//! Redis blip only delays it to the receiver's next unread query (docs/chat.md).
//!
//! Delivery: a push is queued to each connection; the connection's task writes it
//! to the socket and only then reports the message as received (read), so a
//! connection that dies with pushes still queued leaves them unread for type 3.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::mpsc;
use volo_http::server::utils::ws::Message;

/// Frames queued to one connection before pushes to it are dropped (a stuck
/// client must not grow the gateway's memory).
pub const QUEUE_DEPTH: usize = 64;

/// A frame queued to a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    pub frame: Message,
    /// The chat message the frame carries, to be marked read once written.
    pub message_id: Option<i64>,
}

#[derive(Default)]
pub struct Hub {
    conns: Mutex<HashMap<i64, Vec<Peer>>>,
    next_id: AtomicU64,
    /// The other gateways, once [`start_relay`] ran.
    relay: std::sync::OnceLock<Relay>,
}

/// The pub/sub channel between gateways.
pub const RELAY_CHANNEL: &str = "gateway:chat:push";

struct Relay {
    redis: fanone_redis::Redis,
    /// This gateway's random id: it skips its own publications.
    origin: u64,
}

/// A push as it travels between gateways.
#[derive(serde::Serialize, serde::Deserialize)]
struct Relayed {
    origin: u64,
    to: i64,
    message_id: Option<i64>,
    text: String,
}

/// Subscribe this gateway's hub to the pushes of the others (a job of `jobs`), and
/// make [`Hub::deliver`] publish to them.
pub async fn start_relay(
    hub: &Arc<Hub>,
    redis: fanone_redis::Redis,
    jobs: &fanone_jobs::Jobs,
) -> Result<(), fanone_redis::RedisError> {
    let origin = rand::random::<u64>();
    let weak = Arc::downgrade(hub);
    redis
        .subscribe(jobs, "chat-relay", RELAY_CHANNEL, move |bytes| {
            let Some(hub) = weak.upgrade() else { return };
            let Ok(r) = serde_json::from_slice::<Relayed>(&bytes) else {
                tracing::warn!("unreadable chat relay message ignored");
                return;
            };
            if r.origin == origin {
                return;
            }
            let push = Push {
                frame: Message::text(r.text),
                message_id: r.message_id,
            };
            let n = hub.push(r.to, &push);
            metrics::counter!("fanone_ws_relay_total", "direction" => "in", "result" => if n > 0 { "pushed" } else { "offline" })
                .increment(1);
        })
        .await?;
    let _ = hub.relay.set(Relay { redis, origin });
    Ok(())
}

struct Peer {
    id: u64,
    tx: mpsc::Sender<Push>,
}

/// A registered connection; dropping it removes the connection from the hub.
pub struct Registration {
    hub: Arc<Hub>,
    user: i64,
    id: u64,
}

impl Hub {
    /// Register a live connection of `user`; frames pushed to the user arrive on the
    /// returned receiver until the registration is dropped.
    pub fn register(self: &Arc<Self>, user: i64) -> (Registration, mpsc::Receiver<Push>) {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(user).or_default().push(Peer { id, tx });
        tracing::debug!(user_id = user, conn = id, "ws connection registered");
        let reg = Registration {
            hub: self.clone(),
            user,
            id,
        };
        (reg, rx)
    }

    /// Register like [`Hub::register`] unless `user` already has `max` live
    /// connections here (checked and added under one lock).
    pub fn try_register(
        self: &Arc<Self>,
        user: i64,
        max: usize,
    ) -> Option<(Registration, mpsc::Receiver<Push>)> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut conns = self.lock();
            let peers = conns.entry(user).or_default();
            if peers.len() >= max {
                return None;
            }
            peers.push(Peer { id, tx });
        }
        let reg = Registration {
            hub: self.clone(),
            user,
            id,
        };
        Some((reg, rx))
    }

    /// Queue `push` to every live connection of `user`. Returns how many
    /// connections took it (0 = the user is offline here).
    pub fn push(&self, user: i64, push: &Push) -> usize {
        let conns = self.lock();
        let Some(peers) = conns.get(&user) else {
            return 0;
        };
        peers
            .iter()
            .filter(|p| match p.tx.try_send(push.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(user_id = user, conn = p.id, "ws queue full; push dropped");
                    false
                }
                // the connection is closing; its registration goes away with it
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            })
            .count()
    }

    /// Push to `user` wherever they are connected: this gateway's connections, and
    /// the other gateways through the relay when there is one (best effort: the
    /// message is already stored). Returns the connections reached here.
    pub async fn deliver(&self, user: i64, push: &Push) -> usize {
        let here = self.push(user, push);
        if let (Some(relay), Message::Text(text)) = (self.relay.get(), &push.frame) {
            let body = Relayed {
                origin: relay.origin,
                to: user,
                message_id: push.message_id,
                text: text.as_str().to_owned(),
            };
            let result = match serde_json::to_vec(&body) {
                Ok(bytes) => match relay.redis.publish(RELAY_CHANNEL, bytes).await {
                    Ok(_) => "published",
                    Err(e) => {
                        tracing::warn!(user_id = user, error = %e,
                            "chat relay unavailable: other gateways get this message at the next unread query");
                        "failed"
                    }
                },
                Err(_) => "failed",
            };
            metrics::counter!("fanone_ws_relay_total", "direction" => "out", "result" => result)
                .increment(1);
        }
        here
    }

    /// Live connections of `user` on this gateway.
    pub fn connections(&self, user: i64) -> usize {
        self.lock().get(&user).map_or(0, Vec::len)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Peer>>> {
        // a panic while holding the lock cannot leave the map inconsistent
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remove(&self, user: i64, id: u64) {
        let mut conns = self.lock();
        if let Some(peers) = conns.get_mut(&user) {
            peers.retain(|p| p.id != id);
            if peers.is_empty() {
                conns.remove(&user);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.remove(self.user, self.id);
        tracing::debug!(user_id = self.user, conn = self.id, "ws connection removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Push {
        Push {
            frame: Message::text(s),
            message_id: None,
        }
    }

    #[tokio::test]
    async fn push_reaches_every_connection_until_dropped() {
        let hub = Arc::new(Hub::default());
        let (r1, mut rx1) = hub.register(7);
        let (r2, mut rx2) = hub.register(7);
        let (_r3, mut rx3) = hub.register(8);
        assert_eq!(hub.connections(7), 2);
        assert_eq!(hub.push(7, &text("hi")), 2);
        assert_eq!(rx1.recv().await.unwrap(), text("hi"));
        assert_eq!(rx2.recv().await.unwrap(), text("hi"));
        assert!(rx3.try_recv().is_err(), "other users get nothing");
        drop(r1);
        assert_eq!(hub.connections(7), 1);
        assert_eq!(hub.push(7, &text("again")), 1);
        drop(r2);
        assert_eq!(hub.connections(7), 0);
        assert_eq!(hub.push(7, &text("gone")), 0, "offline");
        assert_eq!(hub.push(9, &text("never")), 0);
    }

    #[tokio::test]
    async fn connections_per_user_are_capped() {
        let hub = Arc::new(Hub::default());
        let a = hub.try_register(5, 2).expect("first");
        let _b = hub.try_register(5, 2).expect("second");
        assert!(hub.try_register(5, 2).is_none(), "third is refused");
        assert!(hub.try_register(6, 2).is_some(), "others are not affected");
        drop(a);
        assert!(hub.try_register(5, 2).is_some(), "room again after a close");
    }

    #[tokio::test]
    async fn a_full_queue_drops_pushes_instead_of_blocking() {
        let hub = Arc::new(Hub::default());
        let (_r, mut rx) = hub.register(1);
        for _ in 0..QUEUE_DEPTH {
            assert_eq!(hub.push(1, &text("x")), 1);
        }
        assert_eq!(hub.push(1, &text("overflow")), 0);
        assert_eq!(rx.recv().await.unwrap(), text("x"));
        assert_eq!(hub.push(1, &text("room again")), 1);
    }
}
