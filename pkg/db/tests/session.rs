//! How `connect` sets up MySQL-protocol sessions, on a real MariaDB: every pooled
//! connection is in READ COMMITTED, so a write transaction is a plain `BEGIN` with
//! READ COMMITTED's reads and locks; a range-locked transaction is REPEATABLE READ
//! and keeps rows out of the range it locked; checkouts are not pinged.

mod common;

use fanone_db::Transient;
use futures::future::join_all;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
};

/// Concurrent transactions, so that several pooled connections are checked.
const CONNECTIONS: usize = 6;

fn sql(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::MySql, sql, values)
}

async fn value(txn: &DatabaseTransaction, id: i64) -> i64 {
    txn.query_one_raw(sql("SELECT v FROM t WHERE id = ?", vec![id.into()]))
        .await
        .expect("select")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("v")
}

/// Read row `id`, let another connection change it and commit, read it again:
/// the two values, inside one transaction.
async fn read_twice(db: &DatabaseConnection, txn: &DatabaseTransaction, id: i64) -> (i64, i64) {
    let before = value(txn, id).await;
    db.execute_raw(sql("UPDATE t SET v = v + 1 WHERE id = ?", vec![id.into()]))
        .await
        .expect("update");
    (before, value(txn, id).await)
}

#[tokio::test]
async fn write_transactions_read_committed_on_every_connection() {
    let Some(db) = common::table("db_session_rc", &[1, 20]).await else {
        return;
    };
    let rows: Vec<i64> = (100..100 + CONNECTIONS as i64).collect();
    for id in &rows {
        db.execute_raw(sql("INSERT INTO t VALUES (?, 0)", vec![(*id).into()]))
            .await
            .expect("row");
    }
    // all open at once: each on its own connection
    let txns = join_all((0..CONNECTIONS).map(|_| fanone_db::begin_write(&db))).await;
    for (txn, id) in txns.into_iter().zip(rows) {
        let txn = txn.expect("begin");
        let (before, after) = read_twice(&db, &txn, id).await;
        assert_eq!(
            (before, after),
            (0, 1),
            "a write transaction sees what others committed meanwhile (READ COMMITTED)"
        );
        txn.commit().await.expect("commit");
    }
}

#[tokio::test]
async fn range_locked_transactions_repeat_reads_and_hold_gaps() {
    let Some(db) = common::table("db_session_rr", &[1, 20]).await else {
        return;
    };
    let txn = fanone_db::begin_range_locked(&db).await.expect("begin");
    let (before, after) = read_twice(&db, &txn, 1).await;
    assert_eq!((before, after), (0, 0), "one snapshot (REPEATABLE READ)");
    let locked = txn
        .query_all_raw(sql(
            "SELECT id FROM t WHERE id <= ? FOR UPDATE",
            vec![10.into()],
        ))
        .await
        .expect("lock");
    assert_eq!(locked.len(), 1);
    // a row into the locked range waits for the lock holder
    let insert = insert_with_short_wait(&db, 5).await;
    assert!(
        insert.as_ref().is_err_and(Transient::is_transient),
        "an insert into the range waits for the lock (gap lock): {insert:?}"
    );
    txn.commit().await.expect("commit");
    insert_with_short_wait(&db, 5)
        .await
        .expect("insert after the commit");

    // the same lock in a write transaction (READ COMMITTED) holds the row, not the gap
    let txn = fanone_db::begin_write(&db).await.expect("begin");
    txn.query_all_raw(sql(
        "SELECT id FROM t WHERE id <= ? FOR UPDATE",
        vec![10.into()],
    ))
    .await
    .expect("lock");
    insert_with_short_wait(&db, 6)
        .await
        .expect("no gap lock in READ COMMITTED");
    txn.commit().await.expect("commit");
}

/// Insert row `id` in a transaction that waits at most a second for a lock.
async fn insert_with_short_wait(db: &DatabaseConnection, id: i64) -> Result<(), DbErr> {
    let txn = fanone_db::begin_write(db).await?;
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1")
        .await?;
    let r = txn
        .execute_raw(sql("INSERT INTO t VALUES (?, 0)", vec![id.into()]))
        .await;
    // the pool's next user of this connection gets the default back
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = DEFAULT")
        .await?;
    fanone_db::finish(txn, r.map(drop)).await
}

#[tokio::test]
async fn checkouts_are_not_pinged() {
    let Some(db) = common::table("db_session_ping", &[1, 20]).await else {
        return;
    };
    let options = db.get_mysql_connection_pool().options();
    assert!(
        !options.get_test_before_acquire(),
        "no ping on every checkout (only after 250 ms idle)"
    );
}
