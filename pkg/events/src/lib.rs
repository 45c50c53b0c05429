//! Effects across services travel as events (DESIGN.md rule 2): published durably
//! by the side that caused them, delivered **at least once** to consumer groups,
//! handled by idempotent consumers.
//!
//! Two backends, chosen by configuration (`events.backend`):
//! - **sql** (default; standalone): a queue table in a database of its own
//!   (`events.db` under the data dir, or a MySQL-protocol database): `publish` is one
//!   insert that is durable before the caller answers; each consumer group keeps its
//!   offset, advanced only after its handler succeeded, so a crash re-delivers (never
//!   loses) events. In-process subscribers are woken at once; other processes poll.
//! - **redis** (cluster): Redis Streams with consumer groups ([`streams`]): blocking
//!   reads instead of polling, several consumers per group, entries of a consumer that
//!   died claimed by another.

pub mod streams;

use std::{sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use sea_orm_migration::prelude::*;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::Notify;

/// Events about stored images (avatars, covers) for the image service.
pub const TOPIC_IMAGE_STORED: &str = "image.stored";

/// Payload of [`TOPIC_IMAGE_STORED`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageStored {
    pub url: String,
    /// `avatar` or `cover`
    pub kind: String,
    pub owner_id: i64,
    /// When the object was stored (Unix ms): of several images with the same bytes,
    /// the newest answers a search. 0 (events of older versions) = when indexed.
    #[serde(default)]
    pub stored_at: i64,
}

/// Images taken down (a replaced avatar, the cover of a deleted video): the image
/// service drops them from the index and, after a grace period, deletes the object.
/// Published by the side that caused it, after its own write.
pub const TOPIC_IMAGE_REMOVED: &str = "image.removed";

/// Payload of [`TOPIC_IMAGE_REMOVED`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRemoved {
    pub url: String,
    /// Why: [`REMOVED_AVATAR_REPLACED`] or [`REMOVED_VIDEO_DELETED`] (for logs and the
    /// kind of a row the image service never saw stored).
    pub reason: String,
}

/// [`ImageRemoved::reason`]: the owner uploaded another avatar.
pub const REMOVED_AVATAR_REPLACED: &str = "avatar_replaced";
/// [`ImageRemoved::reason`]: the video of this cover was deleted.
pub const REMOVED_VIDEO_DELETED: &str = "video_deleted";

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event store: {0}")]
    Db(#[from] DbErr),
    #[error("event payload: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("event stream: {0}")]
    Redis(String),
    #[error("event stream: redis is unreachable")]
    Unavailable,
    #[error("{0} is not supported by the redis streams backend")]
    Unsupported(&'static str),
}

/// Where the queue lives.
#[derive(Debug, Clone)]
pub enum Source {
    /// A database URL (SQLite or MySQL protocol).
    Sql(String),
    /// Redis Streams on this server.
    Redis(fanone_config::RedisConfig),
}

/// One event as delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub topic: String,
    pub payload: String,
}

impl Delivery {
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        Ok(serde_json::from_str(&self.payload)?)
    }
}

#[derive(Clone)]
pub struct EventBus {
    queue: Queue,
}

/// The backend of a bus.
#[derive(Clone)]
enum Queue {
    Sql(SqlQueue),
    Streams(streams::Streams),
}

#[derive(Clone)]
struct SqlQueue {
    db: DatabaseConnection,
    wake: Arc<Notify>,
}

impl EventBus {
    /// Open (and migrate) the SQL queue at `url`.
    pub async fn open(url: &str) -> Result<Self, EventError> {
        let db = fanone_db::connect_and_migrate::<Migrator>(url).await?;
        Ok(Self {
            queue: Queue::Sql(SqlQueue {
                db,
                wake: Arc::new(Notify::new()),
            }),
        })
    }

    /// Open the queue `source` names.
    pub async fn connect(source: &Source) -> Result<Self, EventError> {
        match source {
            Source::Sql(url) => Self::open(url).await,
            Source::Redis(cfg) => {
                let redis = fanone_redis::Redis::connect(cfg)
                    .await
                    .map_err(|e| EventError::Redis(e.to_string()))?;
                Ok(Self::streams(streams::Streams::new(redis)))
            }
        }
    }

    /// The queue on Redis Streams.
    pub fn streams(streams: streams::Streams) -> Self {
        Self {
            queue: Queue::Streams(streams),
        }
    }

    fn sql(&self, what: &'static str) -> Result<&SqlQueue, EventError> {
        match &self.queue {
            Queue::Sql(q) => Ok(q),
            Queue::Streams(_) => Err(EventError::Unsupported(what)),
        }
    }

    /// Append an event; durable when this returns. The id is the queue's own (for
    /// streams, the entry id as a number: ms · 2^20 + sequence).
    pub async fn publish<T: Serialize>(&self, topic: &str, payload: &T) -> Result<i64, EventError> {
        let body = serde_json::to_string(payload)?;
        if let Queue::Streams(st) = &self.queue {
            let sid = st.publish(topic, body).await?;
            metrics::counter!("fanone_events_published_total", "topic" => topic.to_owned())
                .increment(1);
            let id = streams::numeric_id(&sid);
            metrics::gauge!("fanone_events_last_published_id", "topic" => topic.to_owned())
                .set(id as f64);
            return Ok(id);
        }
        let q = self.sql("publish")?;
        let backend = q.db.get_database_backend();
        let res =
            q.db.execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO events (topic, payload) VALUES (?, ?)",
                [topic.into(), body.into()],
            ))
            .await?;
        q.wake.notify_waiters();
        let id = res.last_insert_id() as i64;
        metrics::counter!("fanone_events_published_total", "topic" => topic.to_owned())
            .increment(1);
        metrics::gauge!("fanone_events_last_published_id", "topic" => topic.to_owned())
            .set(id as f64);
        Ok(id)
    }

    /// Events of `topic` after the group's offset, oldest first (SQL queue).
    pub async fn pending(
        &self,
        group: &str,
        topic: &str,
        limit: u64,
    ) -> Result<Vec<Delivery>, EventError> {
        let q = self.sql("pending")?;
        let offset = self.offset(group, topic).await?;
        let rows = q
            .db
            .query_all_raw(Statement::from_sql_and_values(
                q.db.get_database_backend(),
                "SELECT id, topic, payload FROM events WHERE topic = ? AND id > ? ORDER BY id LIMIT ?",
                [topic.into(), offset.into(), (limit as i64).into()],
            ))
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("", "id")?,
                    topic: r.try_get("", "topic")?,
                    payload: r.try_get("", "payload")?,
                })
            })
            .collect()
    }

    /// Record that `group` handled every event of `topic` up to `id` (SQL queue).
    pub async fn ack(&self, group: &str, topic: &str, id: i64) -> Result<(), EventError> {
        let q = self.sql("ack")?;
        let backend = q.db.get_database_backend();
        let upsert = match backend {
            DbBackend::MySql => {
                "ON DUPLICATE KEY UPDATE last_id = GREATEST(last_id, VALUES(last_id))"
            }
            _ => {
                "ON CONFLICT (consumer, topic) DO UPDATE SET last_id = MAX(last_id, excluded.last_id)"
            }
        };
        q.db.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO event_offsets (consumer, topic, last_id) VALUES (?, ?, ?) {upsert}"
            ),
            [group.into(), topic.into(), Value::from(id)],
        ))
        .await?;
        Ok(())
    }

    async fn offset(&self, group: &str, topic: &str) -> Result<i64, EventError> {
        let q = self.sql("offset")?;
        let row =
            q.db.query_one_raw(Statement::from_sql_and_values(
                q.db.get_database_backend(),
                "SELECT last_id FROM event_offsets WHERE consumer = ? AND topic = ?",
                [group.into(), topic.into()],
            ))
            .await?;
        Ok(match row {
            Some(r) => r.try_get("", "last_id")?,
            None => 0,
        })
    }

    /// Deliver `topic` to `handler` for consumer `group`, forever: in order, at least
    /// once. A failed event is retried (after `retry`) before later ones are handled,
    /// so the handler must be idempotent and should turn permanent failures into
    /// `Ok` after logging them.
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
        let wake = match &self.queue {
            Queue::Streams(st) => return st.consume(jobs, group, topic, retry, handler),
            Queue::Sql(q) => q.wake.clone(),
        };
        let bus = self.clone();
        jobs.spawn(group, move |_| async move {
            loop {
                let woken = wake.notified();
                let batch = match bus.pending(group, topic, 100).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, group, topic, "reading events failed");
                        tokio::time::sleep(retry).await;
                        continue;
                    }
                };
                if batch.is_empty() {
                    // woken by a local publish, or poll for other processes' events
                    let _ = tokio::time::timeout(Duration::from_millis(500), woken).await;
                    continue;
                }
                for ev in batch {
                    handle(&handler, &ev, group, retry).await;
                    if let Err(e) = bus.ack(group, topic, ev.id).await {
                        tracing::warn!(error = %e, id = ev.id, "acknowledging event failed");
                    }
                    handled(group, topic, ev.id);
                }
            }
        })
    }
}

/// Run `handler` on `ev` until it succeeds, waiting `retry` after each failure (the
/// owner's stop ends the job, and with it this loop).
pub(crate) async fn handle<F, Fut>(handler: &F, ev: &Delivery, group: &str, retry: Duration)
where
    F: Fn(Delivery) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    while let Err(e) = handler(ev.clone()).await {
        tracing::warn!(error = %e, id = ev.id, group, topic = ev.topic, "event handler failed; retrying");
        tokio::time::sleep(retry).await;
    }
}

/// Count a handled event; lag = last published id − last handled id (rule
/// `fanone:events_lag`).
pub(crate) fn handled(group: &'static str, topic: &'static str, id: i64) {
    metrics::counter!("fanone_events_handled_total", "group" => group, "topic" => topic)
        .increment(1);
    metrics::gauge!("fanone_events_last_handled_id", "group" => group, "topic" => topic)
        .set(id as f64);
}

struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateEventTables)]
    }
}

struct CreateEventTables;

impl MigrationName for CreateEventTables {
    fn name(&self) -> &str {
        "m0001_create_event_tables"
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    Topic,
    Payload,
}

#[derive(DeriveIden)]
enum EventOffsets {
    Table,
    Consumer,
    Topic,
    LastId,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEventTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Events::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Events::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(Events::Topic).string_len(64).not_null())
                .col(ColumnDef::new(Events::Payload).text().not_null())
                .to_owned(),
        )
        .await?;
        // consumers read one topic after an offset
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_events_topic")
                .table(Events::Table)
                .col(Events::Topic)
                .col(Events::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(EventOffsets::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(EventOffsets::Consumer)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EventOffsets::Topic)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EventOffsets::LastId)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(EventOffsets::Consumer)
                        .col(EventOffsets::Topic),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EventOffsets::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
