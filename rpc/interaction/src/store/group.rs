//! Group commit of likes.
//!
//! Every like or unlike is a write transaction: on SQLite they serialise on the one
//! write lock, so under load each waits for all the transactions before it, one
//! `BEGIN IMMEDIATE` … `COMMIT` (and WAL append) each. Here the likes that arrive
//! while a transaction runs are queued and written together by one writer task, in
//! one transaction, each inside its own savepoint: a like that fails (already liked,
//! comment gone) is rolled back alone and answered with its own error, the others
//! commit. Nobody is answered before the commit, so an acknowledged like is as
//! durable as before; when the commit fails, every like of the batch gets the error
//! (none was acknowledged). One user's likes keep their order (one queue, one writer).
//!
//! The writer is a background job owned by the service's `Jobs`; a call made while it
//! is stopping gets an error, never a silent drop.

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, Target};

/// Most likes written in one transaction; more waiting go in the next one.
pub const MAX_BATCH: usize = 256;
/// Most likes queued for the writer; a caller beyond waits for room.
const QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    Like { now: i64 },
    Unlike,
}

struct Op {
    user_id: i64,
    target: Target,
    change: Change,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The queue in front of the writer task.
#[derive(Clone)]
pub(super) struct LikeWriter {
    tx: mpsc::Sender<Op>,
}

impl LikeWriter {
    /// Start the writer as a job of `jobs`.
    pub(super) fn start(db: DatabaseConnection, jobs: &fanone_jobs::Jobs) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        jobs.spawn("interaction-like-writer", move |_| run(db, rx));
        Self { tx }
    }

    /// Queue a change and wait until its batch is committed (or failed).
    pub(super) async fn write(
        &self,
        user_id: i64,
        target: Target,
        change: Change,
    ) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let op = Op {
            user_id,
            target,
            change,
            done,
        };
        self.tx.send(op).await.map_err(|_| stopping())?;
        answer.await.map_err(|_| stopping())?
    }
}

fn stopping() -> StoreError {
    StoreError::Db(DbErr::Custom("the like writer is stopping".into()))
}

async fn run(db: DatabaseConnection, mut rx: mpsc::Receiver<Op>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        tracing::trace!(likes = batch.len(), "like batch");
        write_batch(&db, &mut batch).await;
    }
}

/// Write and answer every op of `batch` (emptied).
async fn write_batch(db: &DatabaseConnection, batch: &mut Vec<Op>) {
    let txn = match fanone_db::begin_write(db).await {
        Ok(txn) => txn,
        Err(e) => return fail_all(batch, &e),
    };
    let mut results = Vec::with_capacity(batch.len());
    for op in batch.iter() {
        match apply(&txn, op).await {
            Ok(r) => results.push(r),
            // the transaction itself broke: nothing of the batch is kept
            Err(e) => {
                rollback(txn).await;
                return fail_all(batch, &e);
            }
        }
    }
    if let Err(e) = txn.commit().await {
        return fail_all(batch, &e);
    }
    for (op, r) in batch.drain(..).zip(results) {
        // a caller that went away meanwhile just does not hear back
        let _ = op.done.send(r);
    }
}

/// One op in its own savepoint. The outer error is for a broken transaction; the
/// inner result is the op's own answer.
async fn apply(txn: &DatabaseTransaction, op: &Op) -> Result<Result<(), StoreError>, DbErr> {
    let sp = txn.begin().await?;
    let r = match op.change {
        Change::Like { now } => super::sea::like_in(&sp, op.user_id, op.target, now).await,
        Change::Unlike => super::sea::unlike_in(&sp, op.user_id, op.target).await,
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
