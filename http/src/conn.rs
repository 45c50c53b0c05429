//! Connection deadlines the HTTP server does not offer (volo-http 0.5 sets no
//! timer on hyper, so hyper's header-read timeout never fires and idle keep-alive
//! connections live for ever).
//!
//! Each accepted TCP connection is relayed to the server through a local socket
//! pair; the relay sees every byte and closes the connection when
//! - the first request's headers (up to the blank line) have not arrived within
//!   `header_read` of the connection opening (slow-header clients), or
//! - no byte has moved in either direction for `idle` (idle keep-alive, stuck
//!   clients; chat connections ping every 30 s, so they stay).
//!
//! Slow request bodies are cut by the body extractor (`gateway.body_idle_timeout_secs`).

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UnixStream},
    time::Instant,
};
use volo::net::{
    Address,
    conn::{Conn, ConnInfo, ConnStream},
    incoming::{Incoming, MakeIncoming},
};

/// When the gateway closes a connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header_read: Duration,
    pub idle: Duration,
}

/// A listener whose connections are relayed under [`Deadlines`].
#[derive(Debug)]
pub struct GuardedIncoming {
    listener: TcpListener,
    deadlines: Deadlines,
}

impl GuardedIncoming {
    pub fn new(listener: TcpListener, deadlines: Deadlines) -> Self {
        Self {
            listener,
            deadlines,
        }
    }
}

impl MakeIncoming for GuardedIncoming {
    type Incoming = GuardedIncoming;

    async fn make_incoming(self) -> io::Result<Self::Incoming> {
        Ok(self)
    }
}

impl Incoming for GuardedIncoming {
    async fn accept(&mut self) -> io::Result<Option<Conn>> {
        let (tcp, peer) = self.listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (server_end, relay_end) = UnixStream::pair()?;
        tokio::spawn(relay(tcp, relay_end, self.deadlines));
        Ok(Some(Conn {
            stream: ConnStream::Unix(server_end),
            info: ConnInfo {
                peer_addr: Some(Address::Ip(peer)),
            },
        }))
    }
}

const BUF: usize = 16 << 10;

/// Whether `seen` (the last bytes so far) plus `chunk` contain the end of a
/// header block; keeps the last 3 bytes in `seen`.
fn headers_end(seen: &mut Vec<u8>, chunk: &[u8]) -> bool {
    seen.extend_from_slice(chunk);
    let found = seen.windows(4).any(|w| w == b"\r\n\r\n");
    let keep = seen.len().saturating_sub(3);
    seen.drain(..keep);
    found
}

async fn relay(tcp: TcpStream, app: UnixStream, d: Deadlines) {
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let headers_done = Arc::new(AtomicBool::new(false));
    let touch =
        |last: &AtomicU64| last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    let (mut client_r, mut client_w) = tcp.into_split();
    let (mut app_r, mut app_w) = app.into_split();
    let up = async {
        let mut buf = vec![0u8; BUF];
        let mut seen = Vec::with_capacity(8);
        loop {
            let n = client_r.read(&mut buf).await?;
            if n == 0 {
                return app_w.shutdown().await;
            }
            touch(&last);
            if !headers_done.load(Ordering::Relaxed) && headers_end(&mut seen, &buf[..n]) {
                headers_done.store(true, Ordering::Relaxed);
            }
            app_w.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; BUF];
        loop {
            let n = app_r.read(&mut buf).await?;
            if n == 0 {
                return client_w.shutdown().await;
            }
            touch(&last);
            client_w.write_all(&buf[..n]).await?;
        }
    };
    let watchdog = async {
        let tick = d.header_read.min(d.idle).min(Duration::from_secs(1));
        loop {
            tokio::time::sleep(tick).await;
            let now = started.elapsed();
            if !headers_done.load(Ordering::Relaxed) && now > d.header_read {
                return "no request headers within the header-read timeout";
            }
            let quiet = now.saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
            if quiet > d.idle {
                return "idle";
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        why = watchdog => tracing::debug!(why, "connection closed by the gateway"),
    }
}

#[cfg(test)]
mod tests {
    use super::headers_end;

    #[test]
    fn header_end_is_found_across_chunks() {
        let mut seen = Vec::new();
        assert!(!headers_end(&mut seen, b"GET / HTTP/1.1\r\nHost: x\r"));
        assert!(!headers_end(&mut seen, b"\n"));
        assert!(headers_end(&mut seen, b"\r\n"));
        let mut seen = Vec::new();
        assert!(headers_end(&mut seen, b"GET / HTTP/1.1\r\n\r\nbody"));
        assert!(seen.len() <= 3);
    }
}
