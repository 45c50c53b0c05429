//! Exactness and exactly-once settling, on SQLite and MariaDB.

use std::sync::Arc;

use fanone_counter::{Counters, CreateCounterTables};
use sea_orm::{DatabaseConnection, TransactionTrait};
use sea_orm_migration::prelude::*;

struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateCounterTables)]
    }
}

const LIKES: i16 = 1;
const VISITS: i16 = 2;

async fn exercise(db: DatabaseConnection) {
    let c = Arc::new(Counters::new(db.clone()));
    c.add(&db, LIKES, 10, 1).await.unwrap();
    c.add(&db, LIKES, 10, 1).await.unwrap();
    c.add(&db, LIKES, 11, 1).await.unwrap();
    c.add(&db, VISITS, 10, 5).await.unwrap();
    let got = c.get_many(LIKES, &[10, 11, 12]).await.unwrap();
    assert_eq!((got[&10], got[&11], got.get(&12)), (2, 1, None));
    assert_eq!(
        c.top(LIKES, 10).await.unwrap(),
        vec![],
        "nothing settled yet"
    );

    // settle folds exactly the pending events; reads stay exact across it
    assert_eq!(c.settle().await.unwrap(), 4);
    assert_eq!(c.settle().await.unwrap(), 0, "second settle folds nothing");
    assert_eq!(c.get(LIKES, 10).await.unwrap(), 2);
    assert_eq!(c.get(VISITS, 10).await.unwrap(), 5);
    c.add(&db, LIKES, 10, -1).await.unwrap();
    assert_eq!(c.get(LIKES, 10).await.unwrap(), 1, "settled 2 + pending -1");
    assert_eq!(c.top(LIKES, 10).await.unwrap(), vec![(10, 2), (11, 1)]);
    c.settle().await.unwrap();
    assert_eq!(
        c.top(LIKES, 10).await.unwrap(),
        vec![(11, 1), (10, 1)],
        "ties: newest id first"
    );

    // a rolled-back transaction counts nothing
    let txn = db.begin().await.unwrap();
    c.add(&txn, LIKES, 11, 100).await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(c.get(LIKES, 11).await.unwrap(), 1);

    // many concurrent increments, settled while they run: nothing lost or doubled
    let settler = fanone_jobs::Jobs::new();
    fanone_counter::settle_every(
        vec![c.as_ref().clone()],
        &settler,
        "test-settle",
        std::time::Duration::from_millis(5),
    );
    let mut tasks = Vec::new();
    for t in 0..8 {
        let db = db.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                c.add_many(&db, &[(VISITS, 20 + (i % 3), 1), (VISITS, 99, t)])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    settler.shutdown(std::time::Duration::from_secs(1)).await;
    let got = c.get_many(VISITS, &[20, 21, 22, 99]).await.unwrap();
    assert_eq!(got[&20] + got[&21] + got[&22], 400);
    assert_eq!(got[&99], 50 * (0..8).sum::<i64>());
    c.settle().await.unwrap();
    let after = c.get_many(VISITS, &[20, 21, 22, 99]).await.unwrap();
    assert_eq!(got, after);

    // big batches go in chunks
    let ids: Vec<i64> = (1000..2200).collect();
    let changes: Vec<(i16, i64, i64)> = ids.iter().map(|&i| (LIKES, i, 3)).collect();
    c.add_many(&db, &changes).await.unwrap();
    let got = c.get_many(LIKES, &ids).await.unwrap();
    assert!(ids.iter().all(|i| got[i] == 3));
    assert_eq!(c.settle().await.unwrap(), 1200);
    assert_eq!(c.get_many(LIKES, &ids).await.unwrap(), got);
}

#[tokio::test]
async fn sqlite_counters() {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "c");
    exercise(
        fanone_db::connect_and_migrate::<Migrator>(&url)
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn mariadb_counters() {
    let Some(url) = fanone_testkit::mysql_database("fanone_counter").await else {
        return;
    };
    exercise(
        fanone_db::connect_and_migrate::<Migrator>(&url)
            .await
            .unwrap(),
    )
    .await;
}
