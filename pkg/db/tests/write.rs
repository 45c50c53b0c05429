//! `write!` on a real MariaDB: a transaction InnoDB picks as a deadlock victim runs
//! again and commits; other failures are answered at once.

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use fanone_db::Transient;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, Statement};
use tokio::sync::Barrier;

async fn bump(txn: &DatabaseTransaction, id: i64) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "UPDATE t SET v = v + 1 WHERE id = ?",
        [id.into()],
    ))
    .await?;
    Ok(())
}

async fn values(db: &DatabaseConnection) -> Vec<i64> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT v FROM t ORDER BY id",
    ))
    .await
    .expect("select")
    .iter()
    .map(|r| r.try_get_by_index::<i64>(0).expect("v"))
    .collect()
}

/// Bump `first`, wait (on the first run only) until the other writer holds its own
/// first row, then bump `second`: two of these in opposite orders deadlock.
async fn crossing(
    txn: &DatabaseTransaction,
    [first, second]: [i64; 2],
    meet: &Barrier,
    runs: &AtomicU32,
) -> Result<(), DbErr> {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    bump(txn, first).await?;
    if run == 1 {
        meet.wait().await;
    }
    bump(txn, second).await
}

/// Two writers lock the same two rows in opposite orders. InnoDB gives up on one of
/// them; `write!` runs it again, and both commit exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_victim_runs_again_and_commits() {
    let Some(db) = common::table("fanone_db_write", &[1, 2]).await else {
        return;
    };
    let meet = Arc::new(Barrier::new(2));
    let runs = Arc::new([AtomicU32::new(0), AtomicU32::new(0)]);
    let writers = [[1, 2], [2, 1]].into_iter().enumerate().map(|(i, order)| {
        let (db, meet, runs) = (db.clone(), meet.clone(), runs.clone());
        tokio::spawn(async move {
            fanone_db::write!(&db, |txn| crossing(txn, order, &meet, &runs[i]).await).await
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.expect("join").expect("each write commits");
    }
    let runs: Vec<u32> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert_eq!(
        runs.iter().sum::<u32>(),
        3,
        "one writer ran twice: {runs:?}"
    );
    assert_eq!(
        values(&db).await,
        [2, 2],
        "each writer's bumps counted once"
    );
}

/// What InnoDB answers a deadlock victim is transient; a duplicate key is not, and
/// `write!` answers it after one run, rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_giving_up_is_transient() {
    let Some(db) = common::table("fanone_db_transient", &[1, 2]).await else {
        return;
    };
    let meet = Arc::new(Barrier::new(2));
    let mut errors = Vec::new();
    let tasks: Vec<_> = [[1, 2], [2, 1]]
        .into_iter()
        .map(|order| {
            let (db, meet) = (db.clone(), meet.clone());
            tokio::spawn(async move {
                let txn = fanone_db::begin_write(&db).await.expect("begin");
                let r = crossing(&txn, order, &meet, &AtomicU32::new(0)).await;
                fanone_db::finish(txn, r).await
            })
        })
        .collect();
    for t in tasks {
        if let Err(e) = t.await.expect("join") {
            errors.push(e);
        }
    }
    assert_eq!(
        errors.len(),
        1,
        "InnoDB gives up on one of the two: {errors:?}"
    );
    assert!(
        errors[0].is_transient(),
        "a deadlock is transient: {}",
        errors[0]
    );

    let runs = AtomicU32::new(0);
    let dup = fanone_db::write!(&db, |txn| {
        runs.fetch_add(1, Ordering::SeqCst);
        bump(txn, 1).await?;
        txn.execute_unprepared("INSERT INTO t VALUES (2, 0)")
            .await?;
        Ok::<_, DbErr>(())
    })
    .await
    .expect_err("the key is taken");
    assert!(fanone_db::is_unique_violation(&dup), "{dup}");
    assert!(!dup.is_transient());
    assert_eq!(runs.load(Ordering::SeqCst), 1, "not run again");
    assert_eq!(
        values(&db).await[0],
        1,
        "rolled back: row 1 holds the committed crossing's bump only"
    );
}
