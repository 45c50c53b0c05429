//! CPU profiles of the running process (pprof-rs, a sampling profiler on SIGPROF):
//! the protobuf `go tool pprof` reads, or a flame graph SVG. One profile at a time.

use std::time::Duration;

use pprof::protos::Message as _;
use tokio::sync::Mutex;

/// Samples per second (a prime, so sampling does not beat with periodic work).
pub const FREQUENCY: i32 = 99;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("a profile is already being taken")]
    Busy,
    #[error("profiler: {0}")]
    Profiler(#[from] pprof::Error),
    #[error("encode: {0}")]
    Encode(String),
}

/// What to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// gzip-less pprof protobuf (`go tool pprof -http=: profile.pb`).
    Pprof,
    /// An SVG flame graph.
    FlameGraph,
}

/// Sample the whole process for `duration`, then encode the report.
pub async fn cpu(duration: Duration, format: Format) -> Result<Vec<u8>, ProfileError> {
    let _one = ONE_AT_A_TIME.try_lock().map_err(|_| ProfileError::Busy)?;
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()?;
    tokio::time::sleep(duration).await;
    let report = guard.report().build()?;
    let mut out = Vec::new();
    match format {
        Format::Pprof => report
            .pprof()?
            .encode(&mut out)
            .map_err(|e| ProfileError::Encode(e.to_string()))?,
        Format::FlameGraph => report.flamegraph(&mut out)?,
    }
    Ok(out)
}
