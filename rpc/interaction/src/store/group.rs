//! Group commit of likes.
//!
//! Every like or unlike is a write transaction: on SQLite they serialise on the one
//! write lock, so under load each waits for all the transactions before it, one
//! `BEGIN IMMEDIATE` … `COMMIT` (and WAL append) each. Here the likes that arrive
//! while a transaction runs are queued and written together by one writer task, in
//! one transaction, set-wise (`setwise.rs`: a handful of statements per batch, each
//! like answered on its own — already liked, comment gone). When the database
//! disagrees with that attempt (another replica touched the same likes), the batch
//! is redone one like at a time, each inside its own savepoint: a like that fails is
//! rolled back alone and answered with its own error, the others commit. Nobody is
//! answered before the commit, so an acknowledged like is as durable as before; when
//! the commit fails, every like of the batch gets the error (none was acknowledged).
//! One user's likes keep their order (one queue, one writer).
//!
//! Two replicas' writers take row locks in one order (slot, then key), so they do
//! not deadlock on the rows they both touch; when InnoDB still picks one as a
//! deadlock victim (a delete and an insert of two keys crossing), the whole
//! transaction runs again ([`fanone_db::write!`]).
//!
//! With sharded tables there is one writer per database (a transaction lives in one
//! database); each like is applied to its own slot's tables.
//!
//! The writers are background jobs owned by the service's `Jobs`; a call made while
//! they stop gets an error, never a silent drop.

use sea_orm::{DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, Target, sea::SeaInteractionStore};

/// Most likes written in one transaction; more waiting go in the next one.
pub const MAX_BATCH: usize = 256;
/// Most likes queued for the writer; a caller beyond waits for room.
const QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Like { now: i64 },
    Unlike,
}

pub(super) struct Op {
    pub(super) slot: usize,
    pub(super) user_id: i64,
    pub(super) target: Target,
    pub(super) change: Change,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The queues in front of the writer tasks, one per database.
#[derive(Clone)]
pub(super) struct LikeWriter {
    txs: Vec<mpsc::Sender<Op>>,
    layout: fanone_shard::Layout,
}

impl LikeWriter {
    /// Start a writer per database of `store` as jobs of `jobs`.
    pub(super) fn start(store: SeaInteractionStore, jobs: &fanone_jobs::Jobs) -> Self {
        let layout = store.shards().layout();
        let txs = (0..layout.databases())
            .map(|db| {
                let (tx, rx) = mpsc::channel(QUEUE);
                let store = store.clone();
                jobs.spawn("interaction-like-writer", move |_| run(store, db, rx));
                tx
            })
            .collect();
        Self { txs, layout }
    }

    /// Queue a change to slot `slot` and wait until its batch is committed (or failed).
    pub(super) async fn write(
        &self,
        slot: usize,
        user_id: i64,
        target: Target,
        change: Change,
    ) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let op = Op {
            slot,
            user_id,
            target,
            change,
            done,
        };
        let tx = &self.txs[self.layout.database_of(slot)];
        tx.send(op).await.map_err(|_| stopping())?;
        answer.await.map_err(|_| stopping())?
    }
}

fn stopping() -> StoreError {
    StoreError::Db(DbErr::Custom("the like writer is stopping".into()))
}

async fn run(store: SeaInteractionStore, db: usize, mut rx: mpsc::Receiver<Op>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        tracing::trace!(likes = batch.len(), db, "like batch");
        write_batch(&store, db, &mut batch).await;
    }
}

/// Why the set-wise attempt at a batch did not commit.
#[derive(Debug, thiserror::Error)]
enum SetWise {
    #[error("the database disagreed with the batch's reads")]
    Conflict,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl fanone_db::Transient for SetWise {
    fn is_transient(&self) -> bool {
        matches!(self, SetWise::Db(e) if e.is_transient())
    }
}

/// Write and answer every op of `batch` (emptied), all of database `db`: set-wise,
/// or one by one when the database disagreed with the set-wise attempt. Each is one
/// transaction, run again when the database gives up on it as a deadlock victim
/// ([`fanone_db::write!`]).
async fn write_batch(store: &SeaInteractionStore, db: usize, batch: &mut Vec<Op>) {
    let conn = &store.shards().databases()[db];
    let ops: &[Op] = batch;
    let set_wise = fanone_db::write!(conn, |txn| {
        super::setwise::apply_batch(txn, store, ops)
            .await?
            .ok_or(SetWise::Conflict)
    })
    .await;
    let results = match set_wise {
        Ok(results) => Ok(results),
        Err(SetWise::Conflict) => {
            tracing::debug!(likes = ops.len(), db, "like batch conflicted; one by one");
            fanone_db::write!(conn, |txn| one_by_one(txn, store, ops).await).await
        }
        Err(SetWise::Db(e)) => Err(e),
    };
    match results {
        Ok(results) => {
            for (op, r) in batch.drain(..).zip(results) {
                // a caller that went away meanwhile just does not hear back
                let _ = op.done.send(r);
            }
        }
        // the batch did not commit: none of it was acknowledged
        Err(e) => fail_all(batch, &e),
    }
}

/// Each op in its own savepoint. The ops go in key order, the order in which the
/// set-wise statements take their rows, so two writers lock rows in one order (in
/// arrival order, one writer's redo and another's batch deadlocked); the sort is
/// stable, so one user's ops on one target keep their order.
async fn one_by_one(
    txn: &DatabaseTransaction,
    store: &SeaInteractionStore,
    ops: &[Op],
) -> Result<Vec<Result<(), StoreError>>, DbErr> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].slot, super::setwise::key(&ops[i])));
    let mut results: Vec<Result<(), StoreError>> =
        ops.iter().map(|_| Err(StoreError::NoChange)).collect();
    for i in order {
        // an error here broke the transaction: nothing of the batch is kept
        results[i] = apply(txn, store, &ops[i]).await?;
    }
    Ok(results)
}

/// One op in its own savepoint. The outer error is for a broken transaction; the
/// inner result is the op's own answer.
async fn apply(
    txn: &DatabaseTransaction,
    store: &SeaInteractionStore,
    op: &Op,
) -> Result<Result<(), StoreError>, DbErr> {
    let sp = txn.begin().await?;
    let at = store.at(op.slot);
    let r = match op.change {
        Change::Like { now } => super::sea::like_in(&sp, at, op.user_id, op.target, now).await,
        Change::Unlike => super::sea::unlike_in(&sp, at, op.user_id, op.target).await,
    };
    match r {
        Ok(()) => sp.commit().await?,
        Err(StoreError::Db(e)) => {
            rollback(sp).await;
            return Err(e);
        }
        Err(_) => sp.rollback().await?,
    }
    Ok(r)
}

async fn rollback(txn: DatabaseTransaction) {
    if let Err(e) = txn.rollback().await {
        tracing::warn!(error = %e, "rollback failed");
    }
}

fn fail_all(batch: &mut Vec<Op>, e: &DbErr) {
    tracing::warn!(error = %e, likes = batch.len(), "like batch failed");
    for op in batch.drain(..) {
        let _ = op
            .done
            .send(Err(StoreError::Db(DbErr::Custom(e.to_string()))));
    }
}
