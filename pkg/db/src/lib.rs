//! Database connections shared by the services: one URL picks the backend
//! (`sqlite://file?mode=rwc` standalone, `mysql://...` for MariaDB/MySQL/TiDB),
//! and each service brings its own migrator.

mod mysql;
mod sqlite;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, IsolationLevel, RuntimeErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

/// Connect and bring the schema up to date with the service's migrations.
pub async fn connect_and_migrate<M: MigratorTrait>(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    M::up(&db, None).await?;
    Ok(db)
}

/// Open a pool for `url`. Every SQLite connection gets WAL, `synchronous=NORMAL`, a
/// busy timeout and stable query plans (`sqlite.rs`); the file's directory is created
/// when missing.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite {
        ensure_sqlite_dir(url);
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(if is_sqlite { 8 } else { 32 })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if is_sqlite {
        sqlite::configure(&mut opts);
    } else {
        mysql::configure(&mut opts);
    }
    let db = Database::connect(opts).await?;
    tracing::info!(backend = ?db.get_database_backend(), "database connected");
    observe(&db, url);
    Ok(db)
}

/// A write transaction. On SQLite `BEGIN IMMEDIATE`: the write lock is taken up
/// front, so writers queue (instead of failing on a lock upgrade) and every read
/// inside sees the latest data. On MySQL a plain `BEGIN` in the session's READ
/// COMMITTED (every connection of [`connect`] starts in it, `mysql.rs`): locking
/// reads (`FOR UPDATE`) see the latest committed row and hold it until commit,
/// without gap locks. One round trip per transaction fewer than a `SET TRANSACTION
/// ISOLATION LEVEL` before each `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let opts = match db.get_database_backend() {
        DbBackend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        },
        _ => TransactionOptions::default(),
    };
    db.begin_with_options(opts).await
}

/// A transaction whose range reads must hold the gaps between rows too: on MySQL
/// REPEATABLE READ for this one transaction (next-key locks: a `FOR UPDATE` over
/// `id <= ?` keeps rows from being inserted into the range until commit), on SQLite
/// `BEGIN IMMEDIATE` (one writer at a time holds every range anyway). One round trip
/// more than [`begin_write`] on MySQL; for background jobs such as the counter settle.
pub async fn begin_range_locked(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let opts = match db.get_database_backend() {
        DbBackend::MySql => TransactionOptions {
            isolation_level: Some(IsolationLevel::RepeatableRead),
            ..Default::default()
        },
        _ => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        },
    };
    db.begin_with_options(opts).await
}

/// Most runs of one transaction that the database keeps giving up on
/// ([`retry_transient`]).
pub const WRITE_ATTEMPTS: u32 = 5;

/// An error that may say the database gave up on a transaction in a way that running
/// it again cures.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for DbErr {
    /// MySQL protocol: rolled back as a deadlock victim (1213, SQLSTATE 40001) or
    /// timed out waiting for a row lock (1205). Nothing else: a lost connection
    /// during a commit, say, may have committed.
    fn is_transient(&self) -> bool {
        let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = self
        else {
            return false;
        };
        let sea_orm::sqlx::Error::Database(e) = &**e else {
            return false;
        };
        if let Some(my) = e.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
            return matches!(my.number(), 1205 | 1213);
        }
        e.code().as_deref() == Some("40001")
    }
}

/// Run `attempt` — one whole transaction, from [`begin_write`] to [`finish`] — and
/// run it again when the database gave up on it ([`Transient`]: InnoDB picked it as
/// the victim of a deadlock, as it may whenever writers lock rows in different
/// orders). Nothing of a failed run was kept and nobody was answered, so running it
/// again is safe. Up to [`WRITE_ATTEMPTS`] runs, with a short random pause before
/// each rerun; each rerun counts in `fanone_db_write_retries_total`.
pub async fn retry_transient<T, E, Fut>(attempt: impl Fn() -> Fut) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
    E: Transient + std::fmt::Display,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if n < WRITE_ATTEMPTS && e.is_transient() => {
                metrics::counter!("fanone_db_write_retries_total").increment(1);
                let pause = retry_pause(n);
                tracing::debug!(error = %e, attempt = n, ?pause, "transaction given up by the database; running it again");
                tokio::time::sleep(pause).await;
                n += 1;
            }
            r => return r,
        }
    }
}

/// `write!(db, |txn| body)`: `body` (an expression of type `Result<T, E>` that may
/// use `?`, with `txn: &DatabaseTransaction`) in a write transaction on `db`
/// ([`begin_write`]), committed when it is `Ok`, rolled back when it is `Err`
/// ([`finish`]), and run again from the start when the database gave up on it
/// ([`retry_transient`]). `E` needs `From<DbErr>` and [`Transient`].
///
/// A macro, not a function taking a closure: the body borrows the transaction and
/// the caller's data at once, which an async closure cannot yet do in a `Send`
/// future.
#[macro_export]
macro_rules! write {
    ($db:expr, |$txn:ident| $body:expr) => {
        $crate::retry_transient(|| async {
            let txn = $crate::begin_write($db).await?;
            let r = async {
                let $txn = &txn;
                $body
            }
            .await;
            $crate::finish(txn, r).await
        })
    };
}

/// End a write transaction with its body's result: commit on `Ok`; on `Err` roll back
/// before answering, so the write lock (SQLite) or the row locks (MySQL) are gone by
/// the time the caller hears back.
pub async fn finish<T, E: From<DbErr>>(txn: DatabaseTransaction, r: Result<T, E>) -> Result<T, E> {
    match r {
        Ok(v) => {
            txn.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = txn.rollback().await {
                tracing::warn!(error = %rb, "rollback failed");
            }
            Err(e)
        }
    }
}

/// A random pause before run `attempt + 1`: up to 2, 4, 8, 16 ms, so two writers
/// that deadlocked do not meet again in step.
fn retry_pause(attempt: u32) -> Duration {
    let most = 1u64 << attempt.min(10);
    Duration::from_micros(rand::random_range(500..=most * 1000))
}

/// In a process with an admin listener: a readiness check (`db:<name>`) and pool
/// gauges (`fanone_db_pool_connections{db,state}`) for this pool.
fn observe(db: &DatabaseConnection, url: &str) {
    let name = database_name(url);
    let check = db.clone();
    fanone_telemetry::health::register(
        format!("db:{name}"),
        std::sync::Arc::new(move || {
            let db = check.clone();
            Box::pin(async move { db.ping().await.map_err(|e| e.to_string()) })
        }),
    );
    let pool = db.clone();
    fanone_telemetry::metrics::on_scrape(move || {
        let (size, idle) = match pool.get_database_backend() {
            DbBackend::MySql => {
                let p = pool.get_mysql_connection_pool();
                (p.size(), p.num_idle())
            }
            DbBackend::Sqlite => {
                let p = pool.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => return,
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        for (state, n) in [("idle", idle), ("in_use", size.saturating_sub(idle))] {
            metrics::gauge!("fanone_db_pool_connections", "db" => name.clone(), "state" => state)
                .set(f64::from(n));
        }
    });
}

/// The database's name in a URL: the path's last segment (MySQL) or file stem (SQLite).
fn database_name(url: &str) -> String {
    let path = url.split('?').next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let stem = last.strip_suffix(".db").unwrap_or(last);
    if stem.is_empty() {
        "default".to_owned()
    } else {
        stem.to_owned()
    }
}

fn ensure_sqlite_dir(url: &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        let _ = std::fs::create_dir_all(parent);
    }
}

/// Create a fresh database on a MySQL-protocol server and return its URL.
/// `server_url` points at the server (any database, e.g. `mysql://root@127.0.0.1:3307/mysql`).
pub async fn create_mysql_database(server_url: &str, name: &str) -> Result<String, DbErr> {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(DbErr::Custom(format!("bad database name {name:?}")));
    }
    let admin = Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await?;
    admin.close().await?;
    let base = server_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(server_url);
    Ok(format!("{base}/{name}"))
}

/// Whether a write failed on a unique key (duplicate username, second like, ...).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// A `LIKE` pattern matching `fragment` anywhere, with `%`, `_` and `\` in the
/// fragment taken literally. Use with `ESCAPE '\'` (sea-query: `LikeExpr::escape('\\')`).
pub fn like_contains(fragment: &str) -> String {
    let mut out = String::with_capacity(fragment.len() + 2);
    out.push('%');
    for c in fragment.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use sea_orm::sqlx::Row;

    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_contains("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
        assert_eq!(like_contains("plain"), "%plain%");
    }

    /// Every connection of the pool, not only the first, gets the settings.
    #[tokio::test]
    async fn every_sqlite_connection_is_configured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = connect(&url).await.expect("connect");
        let pool = db.get_sqlite_connection_pool();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(pool.acquire().await.expect("acquire"));
        }
        for conn in &mut held {
            let row = sea_orm::sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .expect("pragma");
            assert_eq!(row.get::<i64, _>(0), 1, "synchronous=NORMAL");
            let row = sea_orm::sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .expect("pragma");
            assert_eq!(row.get::<String, _>(0), "wal");
            assert!(
                sqlite::query_plans_are_stable(conn)
                    .await
                    .expect("db_config"),
                "QPSG on"
            );
        }
    }
}

/// A window of a list: `offset` rows skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

impl Window {
    /// The rows of a 0-based page; `page_size` must be positive and is capped at `max`.
    /// The error is a message fit for a parameter error.
    pub fn of_page(page_num: i64, page_size: i64, max: i64) -> Result<Window, &'static str> {
        if page_num < 0 {
            return Err("page_num must not be negative");
        }
        if page_size <= 0 {
            return Err("page_size must be positive");
        }
        let limit = page_size.min(max);
        let offset = page_num.checked_mul(limit).ok_or("page_num is too large")?;
        Ok(Window {
            offset: offset as u64,
            limit: limit as u64,
        })
    }
}
