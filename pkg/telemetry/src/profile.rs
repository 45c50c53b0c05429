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
        Format::FlameGraph => {
            report.flamegraph(&mut out)?;
            if out.is_empty() {
                // pprof-rs writes nothing when no sample was taken (an idle process)
                out = idle_flame_graph(duration).into_bytes();
            }
        }
    }
    Ok(out)
}

/// A flame graph that says no sample was taken, so the answer is still an SVG.
fn idle_flame_graph(duration: Duration) -> String {
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"60\">\
         <text x=\"10\" y=\"35\" font-family=\"monospace\" font-size=\"14\">\
         no CPU samples in {} ms: the process was idle</text></svg>\n",
        duration.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_process_still_gets_a_flame_graph() {
        // sleeping the whole window: no (or hardly any) samples, yet an SVG
        let svg = cpu(Duration::from_millis(30), Format::FlameGraph)
            .await
            .expect("profile");
        let svg = String::from_utf8(svg).expect("utf-8");
        assert!(svg.contains("<svg"), "{svg}");
    }
}
