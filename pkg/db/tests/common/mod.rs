//! Shared by the MariaDB tests of this crate.

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// A pool from `fanone_db::connect` on a fresh database with table
/// `t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)` holding rows `ids` (v = 0), or
/// `None` (skip) when no test server is configured.
pub async fn table(prefix: &str, ids: &[i64]) -> Option<DatabaseConnection> {
    let url = fanone_testkit::mysql_database(prefix).await?;
    let db = fanone_db::connect(&url).await.expect("connect");
    db.execute_unprepared("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await
        .expect("create");
    let rows: Vec<String> = ids.iter().map(|id| format!("({id}, 0)")).collect();
    db.execute_unprepared(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .await
        .expect("rows");
    Some(db)
}
