//! Observability of a FanOne process, set up once (`fanone_telemetry::init`):
//!
//! - **logs**: an env-filter (`RUST_LOG` wins over `telemetry.log`, replaceable at run
//!   time: [`set_filter`]) and text or JSON lines on stderr, so stdout stays free for
//!   the launcher's machine-readable lines. Every line logged inside a request carries
//!   its `trace_id` (a field of the request's span).
//! - **traces** ([`trace`]): W3C trace context, OpenTelemetry spans exported over
//!   OTLP/gRPC (Jaeger) when `telemetry.trace_endpoint` is set; nothing is exported,
//!   and nothing costs more than a random id per request, when it is not.
//! - **metrics** ([`metrics`]): the `metrics` facade with a Prometheus recorder, plus
//!   process and runtime figures gathered at scrape time.
//! - **health** ([`health`]) and **profiles** ([`profile`]) for the admin listener
//!   (`fanone_rpc::admin`).

pub mod health;
pub mod metrics;
pub mod outcome;
pub mod profile;
pub mod trace;

use std::{io::IsTerminal as _, sync::OnceLock};

use fanone_config::TelemetryConfig;
use tracing_subscriber::{EnvFilter, Layer, Registry, filter::Targets, fmt, prelude::*, reload};

type Reload = Box<dyn Fn(EnvFilter) -> Result<(), reload::Error> + Send + Sync>;

static FILTER: OnceLock<Reload> = OnceLock::new();

/// What `init` set up; dropping it flushes the spans not yet exported.
#[must_use = "dropping the guard flushes and stops trace export"]
pub struct Telemetry {
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Export what is buffered and stop the exporter.
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.tracer.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace export shutdown: {e}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Install the global subscriber (logs, and spans when a trace endpoint is set) and,
/// when enabled, the metrics recorder. `component` names the process in traces
/// (`fanone-<component>`). Must run inside a tokio runtime (the OTLP exporter's
/// connection lives there). Calling it twice is harmless: the second subscriber is
/// ignored.
pub fn init(cfg: &TelemetryConfig, component: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let logs: Box<dyn Layer<Registry> + Send + Sync> = if cfg.json {
        fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        // colours for a terminal only: a log file or collector gets plain text
        fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    let (spans, tracer) = match trace::exporter(cfg, component) {
        Ok(Some((layer, provider))) => (Some(layer.with_filter(span_targets())), Some(provider)),
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("traces are not exported: {e}");
            (None, None)
        }
    };
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
    match installed {
        Ok(()) => {
            let _ = FILTER.set(Box::new(move |f| handle.reload(f)));
            trace::set_enabled(tracer.is_some());
        }
        Err(_) => tracing::debug!("tracing subscriber already installed"),
    }
    if cfg.metrics {
        metrics::install();
    }
    Telemetry { tracer }
}

/// Spans exported to the trace collector: ours at info, and the SQL statements of
/// sea-orm's drivers (trace-level spans there), whatever the log filter says.
fn span_targets() -> Targets {
    Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("sea_orm::driver", tracing::Level::TRACE)
        // their info events would become span events of every query
        .with_target("sqlx", tracing::Level::WARN)
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
    let reload = FILTER.get().ok_or("tracing is not initialised")?;
    reload(new).map_err(|e| e.to_string())?;
    tracing::info!(filter, "log filter changed");
    Ok(())
}
