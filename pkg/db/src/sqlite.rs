//! How every SQLite connection of a pool is set up.
//!
//! Connection settings go into sqlx's connect options, so each of the pool's
//! connections gets them (a `PRAGMA` run once on the pool reaches one connection
//! only: the others kept `synchronous=FULL`, an fsync per commit).
//!
//! Query-planner stability (`SQLITE_DBCONFIG_ENABLE_QPSG`): SQLite 3.51 treats a
//! bound `LIMIT ?` as a planning input, so a cached statement with one (sea-orm binds
//! every `LIMIT`/`OFFSET`, `.one()` included) is expired by each new binding and
//! parsed and planned again on every execution — 10 % of the CPU of `GET /user/info`
//! in the flame graph of `docs/profiling.md`. With QPSG on, plans never depend on
//! bound values: cached statements stay prepared. Nothing is lost here: no table has
//! `ANALYZE` samples (STAT4), and the only bound `LIKE` patterns start with `%`.

use std::{ffi::c_int, time::Duration};

use sea_orm::{
    ConnectOptions,
    sqlx::{
        self, SqliteConnection,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
    },
};

/// WAL (readers never block the writer), `synchronous=NORMAL` (in WAL: a commit is
/// durable across a process crash, and across power loss once checkpointed — see
/// `docs/data.md`), a 5 s busy timeout, foreign keys on, stable query plans, and no
/// ping on checkout (a file cannot hang up; sqlx's ping is a trip to the connection's
/// worker thread and back before every query).
pub(crate) fn configure(opts: &mut ConnectOptions) {
    opts.test_before_acquire(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        })
        .map_sqlx_sqlite_pool_opts(|p| {
            p.after_connect(|conn, _meta| Box::pin(async move { stable_query_plans(conn).await }))
        });
}

async fn stable_query_plans(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: `db` is this connection's open handle, locked for the duration of the
    // call; ENABLE_QPSG takes an int (1 = on) and an optional int* (none here).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("sqlite3_db_config(ENABLE_QPSG) failed: code {rc}").into(),
        ))
    }
}

/// Whether query-planner stability is on for this connection (tests).
#[cfg(test)]
pub(crate) async fn query_plans_are_stable(
    conn: &mut SqliteConnection,
) -> Result<bool, sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let mut on: c_int = -1;
    // SAFETY: as above; a negative first argument only reads the setting into `on`.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            -1 as c_int,
            &mut on as *mut c_int,
        )
    };
    assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
    Ok(on == 1)
}
