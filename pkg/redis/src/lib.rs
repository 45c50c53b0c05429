//! The one way a FanOne process connects to Redis (`fred`): a pool of pipelined
//! connections with a connect timeout, a per-command timeout, reconnection with
//! back-off, and a cheap "is it up" check so callers fall back to the database at
//! once while Redis is away instead of waiting for a timeout on every request.
//!
//! Who uses it: `fanone-cache` (read-through cache) and the gateway's chat fan-out.
//! Redis is never the source of truth for anything: every user of this crate has a
//! path that works (more slowly) when Redis is down.

use std::time::Duration;

use fanone_config::RedisConfig;
pub use fred;
use fred::{
    prelude::{ClientLike, Config, EventInterface, PubsubInterface, ReconnectPolicy, TcpConfig},
    types::{Builder, Value},
};

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis url {url:?}: {source}")]
    Url {
        url: String,
        #[source]
        source: fred::error::Error,
    },
    #[error("redis at {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: fred::error::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("redis is unreachable")]
    Down,
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
}

/// A connected pool. Cloning shares the connections.
#[derive(Clone)]
pub struct Redis {
    pool: fred::clients::Pool,
    builder_cfg: Config,
    settings: Settings,
    /// The server, password redacted (for errors and logs).
    addr: String,
}

#[derive(Clone, Copy)]
struct Settings {
    connect_timeout: Duration,
    command_timeout: Duration,
}

impl Redis {
    /// Connect to `cfg.url` (not empty). Fails when the server does not answer within
    /// the connect timeout; after that, lost connections are re-established in the
    /// background (exponential back-off, forever) and [`Redis::is_up`] says so.
    pub async fn connect(cfg: &RedisConfig) -> Result<Self, RedisError> {
        let config = Config::from_url(&cfg.url).map_err(|source| RedisError::Url {
            url: redact(&cfg.url),
            source,
        })?;
        let settings = Settings {
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            command_timeout: Duration::from_millis(cfg.command_timeout_ms.max(1)),
        };
        let pool = builder(config.clone(), settings)
            .build_pool(cfg.pool_size.max(1))
            .map_err(|source| RedisError::Url {
                url: redact(&cfg.url),
                source,
            })?;
        let addr = redact(&cfg.url);
        connected(pool.init(), settings.connect_timeout, &addr).await?;
        for client in pool.clients() {
            let addr = addr.clone();
            client.on_reconnect(move |server| {
                tracing::info!(redis = %addr, %server, "redis reconnected");
                async { Ok(()) }
            });
        }
        tracing::info!(redis = %addr, pool = cfg.pool_size, "redis connected");
        Ok(Self {
            pool,
            builder_cfg: config,
            settings,
            addr,
        })
    }

    /// The pool: commands are spread over its connections.
    pub fn pool(&self) -> &fred::clients::Pool {
        &self.pool
    }

    /// A connected client of the pool, or `None` while Redis is unreachable (the
    /// caller should take its fallback path now rather than queue behind a reconnect).
    pub fn client(&self) -> Option<&fred::clients::Client> {
        let c = self.pool.next_connected();
        c.is_connected().then_some(c)
    }

    pub fn is_up(&self) -> bool {
        self.client().is_some()
    }

    /// A dedicated subscriber connection (pub/sub needs its own), with the same
    /// timeouts; it re-subscribes to its channels after a reconnect.
    pub async fn subscriber(&self) -> Result<fred::clients::SubscriberClient, RedisError> {
        let sub = builder(self.builder_cfg.clone(), self.settings)
            .build_subscriber_client()
            .map_err(|source| self.url_error(source))?;
        connected(sub.init(), self.settings.connect_timeout, &self.addr).await?;
        Ok(sub)
    }

    /// A connection of its own (not shared through the pool), for blocking commands
    /// (`XREADGROUP ... BLOCK`), with its own command timeout (longer than the block).
    pub async fn dedicated(
        &self,
        command_timeout: Duration,
    ) -> Result<fred::clients::Client, RedisError> {
        let settings = Settings {
            command_timeout,
            ..self.settings
        };
        let client = builder(self.builder_cfg.clone(), settings)
            .build()
            .map_err(|source| self.url_error(source))?;
        connected(client.init(), settings.connect_timeout, &self.addr).await?;
        Ok(client)
    }

    fn url_error(&self, source: fred::error::Error) -> RedisError {
        RedisError::Url {
            url: self.addr.clone(),
            source,
        }
    }

    /// Publish `payload` on `channel` to every subscriber (of every process).
    /// Fails at once while Redis is unreachable: pub/sub is best effort, the caller
    /// has stored what matters first.
    pub async fn publish(&self, channel: &str, payload: Vec<u8>) -> Result<usize, PublishError> {
        let client = self.client().ok_or(PublishError::Down)?;
        let receivers: i64 = client.publish(channel, payload).await?;
        Ok(usize::try_from(receivers).unwrap_or(0))
    }

    /// Call `on_message` with every payload published on `channel`, from a job owned
    /// by `jobs` (a connection of its own, re-subscribed after every reconnect) until
    /// the owner stops it. Messages published while the connection is down are not
    /// seen (pub/sub keeps nothing).
    pub async fn subscribe<F>(
        &self,
        jobs: &fanone_jobs::Jobs,
        name: &'static str,
        channel: &'static str,
        on_message: F,
    ) -> Result<(), RedisError>
    where
        F: Fn(Vec<u8>) + Send + Sync + 'static,
    {
        let sub = self.subscriber().await?;
        // subscribe before returning: a caller may publish right after
        let mut messages = sub.message_rx();
        let mut reconnects = sub.reconnect_rx();
        sub.subscribe(channel)
            .await
            .map_err(|source| RedisError::Connect {
                addr: channel.to_owned(),
                source,
            })?;
        jobs.spawn(name, move |mut stop| async move {
            loop {
                tokio::select! {
                    _ = stop.stopped() => break,
                    msg = messages.recv() => match msg {
                        Ok(m) => match m.value {
                            Value::Bytes(b) => on_message(b.to_vec()),
                            Value::String(s) => on_message(s.as_bytes().to_vec()),
                            other => tracing::debug!(channel, kind = ?other.kind(), "ignored pub/sub value"),
                        },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(channel, missed = n, "pub/sub consumer fell behind; messages dropped");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                    r = reconnects.recv() => {
                        if r.is_err() { break; }
                        if let Err(e) = sub.resubscribe_all().await {
                            tracing::warn!(channel, error = %e, "re-subscribing after a reconnect failed");
                        }
                    }
                }
            }
            let _ = sub.quit().await;
        });
        Ok(())
    }

    /// Close the connections.
    pub async fn quit(&self) {
        let _ = self.pool.quit().await;
    }
}

/// Wait for a client's first connection, at most `within`.
async fn connected<T>(
    init: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    within: Duration,
    addr: &str,
) -> Result<T, RedisError> {
    let timeout = || {
        fred::error::Error::new(
            fred::error::ErrorKind::Timeout,
            "no answer within the connect timeout",
        )
    };
    tokio::time::timeout(within, init)
        .await
        .map_err(|_| timeout())
        .and_then(|r| r)
        .map_err(|source| RedisError::Connect {
            addr: addr.to_owned(),
            source,
        })
}

fn builder(config: Config, s: Settings) -> Builder {
    let mut b = Builder::from_config(config);
    b.with_connection_config(|c| {
        c.connection_timeout = s.connect_timeout;
        c.internal_command_timeout = s.command_timeout.max(Duration::from_secs(1));
        // a command is sent once: the caller has a fallback and its own deadline
        c.max_command_attempts = 1;
        c.tcp = TcpConfig {
            nodelay: Some(true),
            ..Default::default()
        };
    })
    .with_performance_config(|p| {
        p.default_command_timeout = s.command_timeout;
    })
    .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2));
    b
}

/// The URL without its password, for logs and errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("redis://user:secret@10.0.0.1:6379/2"),
            "redis://***@10.0.0.1:6379/2"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
