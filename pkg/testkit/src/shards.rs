//! Looking inside sharded tables from tests: where rows landed.

use fanone_shard::Shards;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// The rows of `sql` (integer columns only) on `db`.
pub async fn int_rows(db: &DatabaseConnection, sql: &str) -> Vec<Vec<i64>> {
    let rows = db
        .query_all_raw(Statement::from_string(DbBackend::MySql, sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            let n = r.column_names().len();
            (0..n)
                .map(|i| r.try_get_by_index::<i64>(i).expect("integer column"))
                .collect()
        })
        .collect()
}

/// Every database of `shards` keeps its template copy of each of `tables` empty:
/// all rows went to the slots' tables.
pub async fn assert_templates_empty(shards: &Shards, tables: &[&str]) {
    for db in shards.databases() {
        for table in tables {
            let n = int_rows(db, &format!("SELECT COUNT(*) FROM {table}")).await;
            assert_eq!(n, vec![vec![0]], "template table {table} holds rows");
        }
    }
}

/// Fresh databases for a 2 × 2 layout (2 databases, 2 tables each) of the `sharded`
/// tables, migrated twice (the second start must be a no-op), or `None` (skip) as
/// [`crate::mysql_database`].
pub async fn two_by_two<M: sea_orm_migration::MigratorTrait>(
    prefix: &str,
    sharded: &[&str],
) -> Option<Shards> {
    let urls = crate::mysql_databases(prefix, 2).await?;
    drop(
        Shards::connect_and_migrate::<M>(&urls, 2, sharded)
            .await
            .expect("shards"),
    );
    let shards = Shards::connect_and_migrate::<M>(&urls, 2, sharded)
        .await
        .expect("shards again");
    assert_eq!(shards.layout().slots(), 4);
    Some(shards)
}
