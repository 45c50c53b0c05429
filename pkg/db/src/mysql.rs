//! How every MySQL-protocol connection of a pool is set up.
//!
//! **No ping per checkout.** sqlx pings a pooled connection (`COM_PING`, a round trip)
//! each time it hands it out, before the query, and again when it takes it back. The
//! second ping is off the caller's path (a spawned task) and cannot be turned off; the
//! first one doubled the round trips of every autocommit read. Here a connection is
//! pinged on checkout only when it sat idle for [`PING_IF_IDLE`]: a busy connection
//! was just proven alive by its last query and by the ping on its release; under
//! load connections are reused within milliseconds and never pinged. What this gives
//! up: a connection checked out again less than [`PING_IF_IDLE`] after its last use,
//! with the server gone in between, fails its query (an error to that one caller,
//! and the connection is dropped) instead of being replaced silently. A restart
//! takes longer than that: measured by hand with a 0.5 s MariaDB restart, a 1 s
//! threshold failed the first three requests after it and 250 ms none.
//!
//! Each connection starts its session in READ COMMITTED, once, when it is opened, so
//! a write transaction ([`crate::begin_write`]) is a plain `BEGIN`: before, every
//! transaction first sent `SET TRANSACTION ISOLATION LEVEL READ COMMITTED`, a round
//! trip of its own (one of the 7 statements of a batch of likes). Statements outside
//! a transaction see no difference, except that an `UPDATE`/`DELETE` over a range takes
//! no gap locks. A transaction that needs them says so ([`crate::begin_range_locked`]).

use std::time::Duration;

use sea_orm::{
    ConnectOptions,
    sqlx::{Executor, MySqlConnection},
};

/// The SQL every new connection runs before the pool hands it out.
const SESSION_SETUP: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// A pooled connection idle at least this long is pinged before it is handed out.
pub(crate) const PING_IF_IDLE: Duration = Duration::from_millis(250);

pub(crate) fn configure(opts: &mut ConnectOptions) {
    opts.test_before_acquire_if_idle_for(PING_IF_IDLE)
        .map_sqlx_mysql_pool_opts(|p| {
            p.after_connect(|conn, _meta| Box::pin(async move { session_setup(conn).await }))
        });
}

async fn session_setup(conn: &mut MySqlConnection) -> Result<(), sea_orm::sqlx::Error> {
    conn.execute(SESSION_SETUP).await.map(|_| ())
}
