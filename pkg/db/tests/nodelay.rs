//! Every MySQL-protocol connection of a pool has TCP_NODELAY set.
//!
//! Without it (sqlx 0.9.0 dropped the option; 0.9.1 restored it), a command written
//! right behind one the server does not answer — a COM_STMT_CLOSE when the statement
//! cache evicts, then the next COM_STMT_EXECUTE — sits in the kernel (Nagle) until the
//! server's delayed ACK, ~40 ms on Linux. The like writer's multi-row statements have
//! a different text for every batch size, so the cache evicts all the time: under
//! load, most of its batches stalled 40 ms per statement (`docs/benchmarks.md`).
//! This checks the socket option itself, so it needs no timing.

use std::{ffi::c_int, os::fd::RawFd};

use sea_orm::{ConnectionTrait, Statement};

/// The remote port of socket `fd`, if it is a connected IPv4/IPv6 TCP socket.
fn peer_port(fd: RawFd) -> Option<u16> {
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` is a writable sockaddr_storage of `len` bytes
    let rc = unsafe { libc::getpeername(fd, (&raw mut addr).cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    match c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in
            let a = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in>() };
            Some(u16::from_be(a.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6
            let a = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in6>() };
            Some(u16::from_be(a.sin6_port))
        }
        _ => None,
    }
}

fn nodelay(fd: RawFd) -> bool {
    let mut on: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `on` is a writable c_int of `len` bytes
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw mut on).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt(TCP_NODELAY) on fd {fd}");
    on != 0
}

/// This process's sockets connected to `port`.
fn sockets_to(port: u16) -> Vec<RawFd> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let entry = entry.expect("fd entry");
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        if is_socket && peer_port(fd) == Some(port) {
            fds.push(fd);
        }
    }
    fds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mysql_connection_sends_at_once() {
    let Some(url) = fanone_testkit::mysql_database("nodelay").await else {
        return;
    };
    let port: u16 = url
        .rsplit_once('@')
        .and_then(|(_, hp)| hp.split('/').next())
        .and_then(|hp| hp.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("port in the test database url");
    let db = fanone_db::connect(&url).await.expect("connect");
    // several queries at once, so the pool opens more than its first connection
    let sleepers = (0..4).map(|_| {
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT SLEEP(0.2)",
        ))
    });
    for r in futures::future::join_all(sleepers).await {
        r.expect("select");
    }
    let fds = sockets_to(port);
    assert!(
        fds.len() >= 2,
        "expected the pool's connections to port {port}, found {fds:?}"
    );
    let nagle: Vec<RawFd> = fds.iter().copied().filter(|&fd| !nodelay(fd)).collect();
    assert!(
        nagle.is_empty(),
        "connections without TCP_NODELAY (fds {nagle:?} of {fds:?}): \
         each may stall ~40 ms on a delayed ACK"
    );
}
