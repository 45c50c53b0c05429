//! Hot counters (DESIGN.md rule 4): visit, like, comment, reply and follow counts.
//!
//! - **Increment** = append one row to `counter_events`, inside the caller's
//!   transaction, so it commits atomically with the change it counts (a like row, a
//!   comment). Appends never contend on a hot counter row.
//! - **Read** = settled value + pending events, in one statement (one snapshot), so
//!   every read is exact, on every instance, at any time.
//! - **Settle** = a periodic job folds pending events into `counters` and deletes
//!   them in one transaction: exactly once, so nothing is lost or doubled by a
//!   crash or restart at any point; the worst a crash does is delay folding.
//!
//! Each service has its own `counters`/`counter_events` tables in its own database
//! (add [`CreateCounterTables`] to its migrator); `kind` numbers are per service.

use std::{collections::HashMap, sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use sea_orm_migration::prelude::*;

/// Largest number of rows written by one statement.
const CHUNK: usize = 500;

/// The counters of one pair of tables (`counters` + `counter_events`, or a shard's
/// copies of them) in one database.
#[derive(Clone)]
pub struct Counters {
    db: DatabaseConnection,
    /// Settled values.
    values: Arc<str>,
    /// Pending increments.
    events: Arc<str>,
}

impl Counters {
    /// The plain tables of `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::in_tables(db, "counters", "counter_events")
    }

    /// Other copies of the tables in `db` (a shard's `counters_3`, `counter_events_3`).
    pub fn in_tables(db: DatabaseConnection, values: &str, events: &str) -> Self {
        Self {
            db,
            values: values.into(),
            events: events.into(),
        }
    }

    /// The counters of every slot of `shards` (the slot's copies of the tables),
    /// indexed by slot: a change is counted in the slot of the row it changes.
    pub fn per_slot(shards: &fanone_shard::Shards) -> Vec<Self> {
        shards
            .all()
            .map(|s| {
                Self::in_tables(
                    s.db().clone(),
                    &s.table("counters"),
                    &s.table("counter_events"),
                )
            })
            .collect()
    }

    /// Record a change of `delta` to counter `(kind, target)` inside `conn` (the
    /// transaction of the change being counted, on this counter's database).
    pub async fn add<C: ConnectionTrait>(
        &self,
        conn: &C,
        kind: i16,
        target: i64,
        delta: i64,
    ) -> Result<(), DbErr> {
        self.add_many(conn, &[(kind, target, delta)]).await
    }

    /// Several changes at once.
    pub async fn add_many<C: ConnectionTrait>(
        &self,
        conn: &C,
        changes: &[(i16, i64, i64)],
    ) -> Result<(), DbErr> {
        let events = &self.events;
        for chunk in changes.chunks(CHUNK) {
            let backend = conn.get_database_backend();
            let placeholders = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let values: Vec<Value> = chunk
                .iter()
                .flat_map(|&(k, t, d)| [k.into(), t.into(), d.into()])
                .collect();
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!("INSERT INTO {events} (kind, target_id, delta) VALUES {placeholders}"),
                values,
            ))
            .await?;
        }
        Ok(())
    }

    /// Exact current values for `ids` (missing ids count 0).
    pub async fn get_many(&self, kind: i16, ids: &[i64]) -> Result<HashMap<i64, i64>, DbErr> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let list = vec!["?"; chunk.len()].join(", ");
            let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 2 + 2);
            values.push(kind.into());
            values.extend(chunk.iter().map(|&i| Value::from(i)));
            values.push(kind.into());
            values.extend(chunk.iter().map(|&i| Value::from(i)));
            let (counters, events) = (&self.values, &self.events);
            let sql = format!(
                "SELECT target_id, CAST(SUM(v) AS SIGNED) AS total FROM (\
                   SELECT target_id, value AS v FROM {counters} WHERE kind = ? AND target_id IN ({list}) \
                   UNION ALL \
                   SELECT target_id, delta AS v FROM {events} WHERE kind = ? AND target_id IN ({list})\
                 ) t GROUP BY target_id"
            );
            let sql = self.portable(sql);
            let rows = self
                .db
                .query_all_raw(Statement::from_sql_and_values(self.backend(), sql, values))
                .await?;
            for row in rows {
                let id: i64 = row.try_get("", "target_id")?;
                let total: i64 = row.try_get("", "total")?;
                out.insert(id, total);
            }
        }
        Ok(out)
    }

    pub async fn get(&self, kind: i16, id: i64) -> Result<i64, DbErr> {
        Ok(self
            .get_many(kind, &[id])
            .await?
            .get(&id)
            .copied()
            .unwrap_or(0))
    }

    /// Targets with the highest settled values, best first (ties: newest id first).
    pub async fn top(&self, kind: i16, limit: u64) -> Result<Vec<(i64, i64)>, DbErr> {
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.backend(),
                format!(
                    "SELECT target_id, value FROM {} WHERE kind = ? AND value > 0 \
                     ORDER BY value DESC, target_id DESC LIMIT ?",
                    self.values
                ),
                [kind.into(), (limit as i64).into()],
            ))
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("", "target_id")?, r.try_get("", "value")?)))
            .collect()
    }

    /// Fold every pending event into `counters`, exactly once. Returns how many
    /// events were folded.
    pub async fn settle(&self) -> Result<u64, DbErr> {
        settle_all(std::slice::from_ref(self)).await
    }

    async fn settle_once(&self) -> Result<u64, DbErr> {
        let backend = self.backend();
        // SQLite: take the write lock up front (a deferred transaction that reads and
        // then writes fails at once with "database is locked" whenever another writer
        // is active). MySQL: REPEATABLE READ, so the `FOR UPDATE` below holds the gaps
        // of `id <= max` too: a multi-row append whose ids were handed out before
        // `max` was read may still be inserting rows below it, and without the gap
        // locks those rows would be deleted below without having been folded.
        let txn = fanone_db::begin_range_locked(&self.db).await?;
        // MySQL: lock the events we fold so a concurrent settler (another instance)
        // waits and then sees them gone. SQLite has a single writer anyway.
        let lock = if backend == DbBackend::MySql {
            " FOR UPDATE"
        } else {
            ""
        };
        let Some(max) = txn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT MAX(id) AS m FROM {}", self.events),
            ))
            .await?
            .and_then(|r| r.try_get::<Option<i64>>("", "m").ok().flatten())
        else {
            txn.rollback().await?;
            return Ok(0);
        };
        let events = &self.events;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "SELECT kind, target_id, CAST(SUM(delta) AS SIGNED) AS d, COUNT(*) AS n \
                     FROM (SELECT kind, target_id, delta FROM {events} WHERE id <= ?{lock}) e \
                     GROUP BY kind, target_id"
                ),
                [max.into()],
            ))
            .await?;
        let mut sums: Vec<(i16, i64, i64)> = Vec::with_capacity(rows.len());
        let mut folded = 0u64;
        for r in rows {
            let n: i64 = r.try_get("", "n")?;
            folded += n as u64;
            sums.push((
                r.try_get("", "kind")?,
                r.try_get("", "target_id")?,
                r.try_get("", "d")?,
            ));
        }
        for chunk in sums.chunks(CHUNK) {
            let placeholders = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            let upsert = match backend {
                DbBackend::MySql => "ON DUPLICATE KEY UPDATE value = value + VALUES(value)",
                _ => "ON CONFLICT (kind, target_id) DO UPDATE SET value = value + excluded.value",
            };
            let values: Vec<Value> = chunk
                .iter()
                .flat_map(|&(k, t, d)| [k.into(), t.into(), d.into()])
                .collect();
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO {} (kind, target_id, value) VALUES {placeholders} {upsert}",
                    self.values
                ),
                values,
            ))
            .await?;
        }
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("DELETE FROM {} WHERE id <= ?", self.events),
            [max.into()],
        ))
        .await?;
        txn.commit().await?;
        if folded > 0 {
            tracing::debug!(folded, targets = sums.len(), "counters settled");
        }
        Ok(folded)
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// `CAST(... AS SIGNED)` is MySQL; SQLite wants `INTEGER`.
    fn portable(&self, sql: String) -> String {
        match self.backend() {
            DbBackend::MySql => sql,
            _ => sql.replace("AS SIGNED)", "AS INTEGER)"),
        }
    }
}

/// Settle every set of tables in `all` (a service's shards, one after the other) and
/// record the settle metrics once for all of them. The first error stops the round;
/// the next round starts over (settling is exactly once per set, so nothing doubles).
pub async fn settle_all(all: &[Counters]) -> Result<u64, DbErr> {
    let started = std::time::Instant::now();
    let mut folded = 0;
    for c in all {
        folded += c.settle_once().await?;
    }
    // `fanone_settle_backlog_events`: what had piled up since the last settle;
    // the last success's time is how stale counts can be (alert rule SettleLag)
    metrics::gauge!("fanone_settle_backlog_events").set(folded as f64);
    metrics::counter!("fanone_settled_events_total").increment(folded);
    metrics::histogram!("fanone_settle_duration_seconds").record(started.elapsed().as_secs_f64());
    metrics::gauge!("fanone_settle_last_success_timestamp_seconds").set(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    Ok(folded)
}

/// Settle `all` every `every` (0 = never) as a background job owned by `jobs`.
pub fn settle_every(
    all: Vec<Counters>,
    jobs: &fanone_jobs::Jobs,
    name: &'static str,
    every: Duration,
) {
    let all: Arc<[Counters]> = all.into();
    jobs.every(name, every, move || {
        let all = all.clone();
        async move { settle_all(&all).await }
    });
}

/// Migration creating `counters` and `counter_events`; add it to a service's migrator.
pub struct CreateCounterTables;

// named explicitly: the derive would name it after this file
impl MigrationName for CreateCounterTables {
    fn name(&self) -> &str {
        "m0000_create_counter_tables"
    }
}

#[derive(DeriveIden)]
enum CountersT {
    #[sea_orm(iden = "counters")]
    Table,
    Kind,
    TargetId,
    Value,
}

#[derive(DeriveIden)]
enum Events {
    #[sea_orm(iden = "counter_events")]
    Table,
    Id,
    Kind,
    TargetId,
    Delta,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCounterTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CountersT::Table)
                .if_not_exists()
                .col(ColumnDef::new(CountersT::Kind).small_integer().not_null())
                .col(ColumnDef::new(CountersT::TargetId).big_integer().not_null())
                .col(
                    ColumnDef::new(CountersT::Value)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .primary_key(
                    Index::create()
                        .col(CountersT::Kind)
                        .col(CountersT::TargetId),
                )
                .to_owned(),
        )
        .await?;
        // rankings: ORDER BY value DESC within a kind
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_counters_rank")
                .table(CountersT::Table)
                .col(CountersT::Kind)
                .col(CountersT::Value)
                .to_owned(),
        )
        .await?;
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
                .col(ColumnDef::new(Events::Kind).small_integer().not_null())
                .col(ColumnDef::new(Events::TargetId).big_integer().not_null())
                .col(ColumnDef::new(Events::Delta).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // exact reads sum the pending events of a few targets
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_counter_events_target")
                .table(Events::Table)
                .col(Events::Kind)
                .col(Events::TargetId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Events::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(CountersT::Table).to_owned())
            .await
    }
}
