//! Process-wide `tracing` setup: an env-filter (`RUST_LOG` wins over the configured
//! filter) and text or JSON lines on stderr, so stdout stays free for the launcher's
//! machine-readable lines. The filter can be replaced at run time
//! ([`set_filter`], used by the config center).

use std::sync::OnceLock;

use tracing_subscriber::{EnvFilter, Registry, fmt, prelude::*, reload};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Install the global subscriber. Calling it twice is harmless (the second is ignored).
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
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
    match result {
        Ok(()) => {
            let _ = FILTER.set(handle);
        }
        Err(_) => tracing::debug!("tracing subscriber already installed"),
    }
}

/// Check that `filter` is a valid `tracing` filter, without applying it.
pub fn check_filter(filter: &str) -> Result<(), String> {
    EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Replace the log filter of the running process (e.g. `info,fanone_user=debug`).
pub fn set_filter(filter: &str) -> Result<(), String> {
    let new = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    let handle = FILTER.get().ok_or("tracing is not initialised")?;
    handle.reload(new).map_err(|e| e.to_string())?;
    tracing::info!(filter, "log filter changed");
    Ok(())
}
