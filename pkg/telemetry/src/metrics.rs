//! Prometheus metrics: the process-wide recorder of the `metrics` facade (every
//! crate records with `metrics::counter!` & co.), figures read at scrape time
//! ([`on_scrape`]: pool sizes, breaker states), and process and tokio runtime
//! figures. Served by the admin listener (`fanone_rpc::admin`) as text.
//!
//! Naming: `fanone_<area>_<what>_<unit>`; every latency is a histogram in seconds
//! with the buckets of [`LATENCY_BUCKETS`].

use std::{
    fmt::Write as _,
    sync::{Mutex, OnceLock},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets (seconds) of every `*_seconds` metric: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Histogram buckets of every `*_items` metric (how many items went together).
pub const ITEM_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

type Collector = Box<dyn Fn() + Send + Sync>;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static COLLECTORS: Mutex<Vec<Collector>> = Mutex::new(Vec::new());

/// Install the Prometheus recorder (once per process).
pub fn install() {
    if HANDLE.get().is_some() {
        return;
    }
    let built = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_items".into()), &ITEM_BUCKETS))
        .and_then(|b| b.install_recorder());
    match built {
        Ok(handle) => {
            let _ = HANDLE.set(handle);
            describe();
        }
        Err(e) => tracing::warn!(error = %e, "metrics recorder not installed"),
    }
}

/// Metrics are recorded in this process.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Run `f` before every scrape (to set gauges from state read at that moment).
/// Ignored when metrics are off.
pub fn on_scrape(f: impl Fn() + Send + Sync + 'static) {
    if enabled()
        && let Ok(mut c) = COLLECTORS.lock()
    {
        c.push(Box::new(f));
    }
}

/// The Prometheus text exposition of everything recorded, or `None` when metrics
/// are off.
pub fn render() -> Option<String> {
    let handle = HANDLE.get()?;
    if let Ok(c) = COLLECTORS.lock() {
        for f in c.iter() {
            f();
        }
    }
    handle.run_upkeep();
    let mut out = handle.render();
    process(&mut out);
    runtime(&mut out);
    Some(out)
}

fn sample(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    );
}

/// Resident memory, open file descriptors, CPU time and start time of the process
/// (the names Prometheus client libraries use).
fn process(out: &mut String) {
    // SAFETY: sysconf only reads a constant of the system.
    let (page, ticks) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
        && let Some(rss) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<f64>().ok())
    {
        sample(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss * page.max(1) as f64,
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        sample(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count() as f64,
        );
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
    {
        // fields after the command: state(3) ... utime(14) stime(15) ... starttime(22)
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
        let ticks = ticks.max(1) as f64;
        if let (Some(u), Some(s)) = (num(14), num(15)) {
            sample(
                out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                (u + s) / ticks,
            );
        }
        if let (Some(start), Some(boot)) = (num(22), boot_time()) {
            sample(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                boot + start / ticks,
            );
        }
    }
}

fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Figures of the tokio runtime serving the scrape.
fn runtime(out: &mut String) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let m = handle.metrics();
    sample(
        out,
        "tokio_workers",
        "gauge",
        "Worker threads of the runtime.",
        m.num_workers() as f64,
    );
    sample(
        out,
        "tokio_alive_tasks",
        "gauge",
        "Tasks alive in the runtime.",
        m.num_alive_tasks() as f64,
    );
    sample(
        out,
        "tokio_global_queue_depth",
        "gauge",
        "Tasks waiting in the runtime's global queue.",
        m.global_queue_depth() as f64,
    );
    let busy: f64 = (0..m.num_workers())
        .map(|w| m.worker_total_busy_duration(w).as_secs_f64())
        .sum();
    sample(
        out,
        "tokio_workers_busy_seconds_total",
        "counter",
        "Time the worker threads spent busy, summed over the workers.",
        busy,
    );
}

/// Every FanOne metric, its kind and meaning: the one table (docs/observability.md
/// prints it). Recorded where the thing happens, with `metrics::counter!` & co.
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        "fanone_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by method, route template, status and envelope code.",
    ),
    (
        "fanone_http_request_duration_seconds",
        Kind::Histogram,
        "HTTP request latency by method and route template.",
    ),
    (
        "fanone_http_in_flight",
        Kind::Gauge,
        "HTTP requests being served.",
    ),
    (
        "fanone_rpc_client_requests_total",
        Kind::Counter,
        "Thrift calls made, by callee, method and outcome (ok or error: transport, timeout, breaker).",
    ),
    (
        "fanone_rpc_client_duration_seconds",
        Kind::Histogram,
        "Thrift call latency seen by the caller (retries included), by callee and method.",
    ),
    (
        "fanone_rpc_server_requests_total",
        Kind::Counter,
        "Thrift calls served, by service, method and code (0, a business error code, or error).",
    ),
    (
        "fanone_rpc_server_duration_seconds",
        Kind::Histogram,
        "Thrift call latency in the serving process, by service and method.",
    ),
    (
        "fanone_rpc_server_in_flight",
        Kind::Gauge,
        "Thrift calls being served, by service.",
    ),
    (
        "fanone_rpc_breaker_state",
        Kind::Gauge,
        "Circuit breaker per callee instance: 0 closed, 1 half open, 2 open.",
    ),
    (
        "fanone_rpc_breaker_transitions_total",
        Kind::Counter,
        "Circuit breaker state changes, by callee, instance and new state.",
    ),
    (
        "fanone_db_pool_connections",
        Kind::Gauge,
        "Database pool connections by database and state (idle, in_use).",
    ),
    (
        "fanone_cache_requests_total",
        Kind::Counter,
        "Cache reads by cache and result (hit, miss).",
    ),
    (
        "fanone_batch_items",
        Kind::Histogram,
        "Items per coalesced batch call, by batch (video_exists, user_exists, a cache's holds).",
    ),
    (
        "fanone_video_popular_size",
        Kind::Gauge,
        "Videos in the cached popular ranking.",
    ),
    (
        "fanone_settle_backlog_events",
        Kind::Gauge,
        "Counter increments folded by the last settle (the backlog it found).",
    ),
    (
        "fanone_settled_events_total",
        Kind::Counter,
        "Counter increments folded into settled counts.",
    ),
    (
        "fanone_settle_duration_seconds",
        Kind::Histogram,
        "Duration of one counter settle.",
    ),
    (
        "fanone_settle_last_success_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the last successful counter settle.",
    ),
    (
        "fanone_events_published_total",
        Kind::Counter,
        "Events published, by topic.",
    ),
    (
        "fanone_events_last_published_id",
        Kind::Gauge,
        "Id of the last event this process published, by topic.",
    ),
    (
        "fanone_events_handled_total",
        Kind::Counter,
        "Events handled by consumers, by group and topic.",
    ),
    (
        "fanone_events_last_handled_id",
        Kind::Gauge,
        "Id of the last event handled, by group and topic.",
    ),
    (
        "fanone_ws_connections",
        Kind::Gauge,
        "Live chat WebSocket connections on this gateway.",
    ),
    (
        "fanone_ws_messages_total",
        Kind::Counter,
        "Chat frames received, by message type and answer code.",
    ),
    (
        "fanone_ws_message_duration_seconds",
        Kind::Histogram,
        "Time to answer one chat frame, by message type.",
    ),
    (
        "fanone_ws_pushes_total",
        Kind::Counter,
        "Chat messages pushed live to a connection.",
    ),
    (
        "fanone_image_embed_duration_seconds",
        Kind::Histogram,
        "Image embedding time by stage (decode; infer: one batch of views).",
    ),
    (
        "fanone_image_queries_total",
        Kind::Counter,
        "Image searches by the views embedded (whole: the whole picture matched well; first: the first other view matched well; several: every view).",
    ),
    (
        "fanone_image_removed_total",
        Kind::Counter,
        "Images taken out of the index (replaced avatars, covers of deleted videos).",
    ),
    (
        "fanone_image_vector_search_duration_seconds",
        Kind::Histogram,
        "Vector index search time.",
    ),
];

/// The kind of a metric in [`METRICS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

fn describe() {
    for &(name, kind, help) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}
