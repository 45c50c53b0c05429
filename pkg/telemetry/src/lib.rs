//! Process-wide `tracing` setup: an env-filter (`RUST_LOG` wins over the configured
//! filter) and text or JSON lines on stderr, so stdout stays free for the launcher's
//! machine-readable lines.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Install the global subscriber. Calling it twice is harmless (the second is ignored).
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    if result.is_err() {
        tracing::debug!("tracing subscriber already installed");
    }
}
