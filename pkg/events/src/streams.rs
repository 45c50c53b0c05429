//! The queue on Redis Streams (cluster mode, `events.backend = "redis"`).
//!
//! - a topic is the stream `events:<topic>`; `publish` is one `XADD` (capped at about
//!   `MAX_LEN` entries, oldest trimmed first), acknowledged by Redis before the caller
//!   answers — durable as far as Redis's AOF is (docs/data.md: run it with
//!   `appendonly yes`);
//! - a consumer group is a Redis consumer group; each consuming process is one
//!   consumer of it (`<group>-<random>`), reading new entries with a blocking
//!   `XREADGROUP` on a connection of its own and acknowledging (`XACK`) an entry only
//!   after its handler succeeded: **at least once**;
//! - entries delivered to a consumer that died (pending, idle for `claim_after`) are
//!   claimed (`XPENDING` + `XCLAIM`) by a live consumer of the group and handled again.
//!
//! Order: one consumer handles its entries in stream order; several consumers of one
//! group share the stream, so handlers must not depend on order across entries (the
//! image indexer does not: each event is one independent, idempotent index).

use std::{collections::HashMap, time::Duration};

use fanone_redis::{
    Redis,
    fred::{
        clients::Client,
        error::Error as FredError,
        interfaces::{ClientLike, StreamsInterface},
    },
};

use crate::{Delivery, EventError};

/// Entries kept per topic (approximate trimming); far above any consumer lag we
/// alert on (`fanone:events_lag`).
pub const MAX_LEN: u64 = 1_000_000;
/// Entries read or claimed per round trip.
const BATCH: u64 = 100;
/// How long one `XREADGROUP` waits for new entries.
const BLOCK: Duration = Duration::from_secs(1);

/// A stream entry: its id and its fields.
type Entry = (String, HashMap<String, String>);

#[derive(Clone)]
pub struct Streams {
    redis: Redis,
    claim_after: Duration,
}

fn key(topic: &str) -> String {
    format!("events:{topic}")
}

impl Streams {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            claim_after: Duration::from_secs(30),
        }
    }

    /// Entries pending longer than `d` on a consumer are taken over by another one.
    pub fn with_claim_after(mut self, d: Duration) -> Self {
        self.claim_after = d;
        self
    }

    pub async fn publish(&self, topic: &str, body: String) -> Result<String, EventError> {
        let client = self.redis.client().ok_or(EventError::Unavailable)?;
        let id: String = client
            .xadd(
                key(topic),
                false,
                ("MAXLEN", "~", MAX_LEN as i64),
                "*",
                vec![("payload", body)],
            )
            .await
            .map_err(redis_err)?;
        Ok(id)
    }

    /// Handle `topic` for `group` until the owner stops the job; see the module docs.
    pub fn consume<F, Fut>(
        &self,
        jobs: &fanone_jobs::Jobs,
        group: &'static str,
        topic: &'static str,
        retry: Duration,
        handler: F,
    ) where
        F: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let me = self.clone();
        jobs.spawn(group, move |mut stop| async move {
            let consumer = format!("{group}-{:016x}", rand::random::<u64>());
            let mut client: Option<Client> = None;
            let mut group_ready = false;
            loop {
                if stop.is_stopped() {
                    break;
                }
                // a connection of its own: XREADGROUP blocks it
                let c = match &client {
                    Some(c) => c.clone(),
                    None => match me.redis.dedicated(BLOCK + Duration::from_secs(2)).await {
                        Ok(c) => {
                            client = Some(c.clone());
                            c
                        }
                        Err(e) => {
                            tracing::warn!(group, topic, error = %e, "event consumer cannot reach redis");
                            sleep_or_stop(&mut stop, retry).await;
                            continue;
                        }
                    },
                };
                if !group_ready {
                    match c
                        .xgroup_create::<(), _, _, _>(key(topic), group, "0", true)
                        .await
                    {
                        Ok(()) => group_ready = true,
                        Err(e) if e.details().starts_with("BUSYGROUP") => group_ready = true,
                        Err(e) => {
                            tracing::warn!(group, topic, error = %e, "creating the consumer group failed");
                            sleep_or_stop(&mut stop, retry).await;
                            continue;
                        }
                    }
                }
                let batch = match me.next_batch(&c, group, topic, &consumer).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(group, topic, error = %e, "reading events failed");
                        sleep_or_stop(&mut stop, retry).await;
                        continue;
                    }
                };
                for (sid, fields) in batch {
                    let Some(payload) = fields.get("payload").cloned() else {
                        tracing::warn!(group, topic, id = sid, "stream entry without payload skipped");
                        let _ = c.xack::<i64, _, _, _>(key(topic), group, sid.as_str()).await;
                        continue;
                    };
                    let ev = Delivery {
                        id: numeric_id(&sid),
                        topic: topic.to_owned(),
                        payload,
                    };
                    // not acknowledged if the owner stops meanwhile: claimed later
                    crate::handle(&handler, &ev, group, retry).await;
                    if let Err(e) = c.xack::<i64, _, _, _>(key(topic), group, sid.as_str()).await {
                        // handled again after `claim_after`: handlers are idempotent
                        tracing::warn!(error = %e, id = sid, "acknowledging event failed");
                    }
                    crate::handled(group, topic, ev.id);
                }
            }
            if let Some(c) = client {
                let _ = c.quit().await;
            }
        });
    }

    /// Entries abandoned by dead consumers first, else new ones (waiting up to BLOCK).
    async fn next_batch(
        &self,
        c: &Client,
        group: &str,
        topic: &str,
        consumer: &str,
    ) -> Result<Vec<Entry>, FredError> {
        let idle = self.claim_after.as_millis() as u64;
        let stale: Vec<(String, String, u64, u64)> = c
            .xpending(key(topic), group, (idle, "-", "+", BATCH))
            .await?;
        let ids: Vec<String> = stale
            .into_iter()
            .filter(|(_, owner, _, _)| owner != consumer)
            .map(|(id, _, _, _)| id)
            .collect();
        if !ids.is_empty() {
            let claimed: Vec<Entry> = c
                .xclaim_values(
                    key(topic),
                    group,
                    consumer,
                    idle,
                    ids,
                    None,
                    None,
                    None,
                    false,
                    false,
                )
                .await?;
            if !claimed.is_empty() {
                tracing::info!(
                    group,
                    topic,
                    n = claimed.len(),
                    "claimed events of a consumer that went away"
                );
                metrics::counter!("fanone_events_claimed_total", "group" => group.to_owned(), "topic" => topic.to_owned())
                    .increment(claimed.len() as u64);
                return Ok(claimed);
            }
        }
        let mut read: HashMap<String, Vec<Entry>> = c
            .xreadgroup_map(
                group,
                consumer,
                Some(BATCH),
                Some(BLOCK.as_millis() as u64),
                false,
                key(topic),
                ">",
            )
            .await?;
        Ok(read.remove(&key(topic)).unwrap_or_default())
    }
}

async fn sleep_or_stop(stop: &mut fanone_jobs::Stop, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.stopped() => {}
    }
}

/// A stream id `<ms>-<seq>` as one number (ms · 2^20 + seq) for logs and the
/// last-handled gauge.
pub(crate) fn numeric_id(sid: &str) -> i64 {
    let (ms, seq) = sid.split_once('-').unwrap_or((sid, "0"));
    let ms: i64 = ms.parse().unwrap_or(0);
    let seq: i64 = seq.parse::<i64>().unwrap_or(0).min((1 << 20) - 1);
    (ms << 20) | seq
}

fn redis_err(e: FredError) -> EventError {
    EventError::Redis(e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_ids_as_numbers_keep_their_order() {
        let a = super::numeric_id("1700000000000-0");
        let b = super::numeric_id("1700000000000-7");
        let c = super::numeric_id("1700000000001-0");
        assert!(a < b && b < c);
        assert_eq!(super::numeric_id("garbage"), 0);
    }
}
