//! Trace context: W3C `traceparent` in, out and in between.
//!
//! A request's trace id is decided where it enters (the gateway, from a client's
//! `traceparent` header or at random) and travels with every Thrift call in the
//! TTHeader transient metainfo key [`TRACEPARENT`] — the key and form Kitex's
//! OpenTelemetry suite uses, so Go services join the same trace. Inside a process the
//! context is the current span's OpenTelemetry context when spans are exported, and
//! a task-local [`TraceParent`] otherwise (ids for log correlation at the cost of a
//! random number).

use std::{
    fmt,
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use fanone_config::TelemetryConfig;
use opentelemetry::{
    Context, KeyValue,
    trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    },
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanProcessor},
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;

/// Metainfo key (and HTTP header) of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// HTTP response header naming the request's trace.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

static ENABLED: AtomicBool = AtomicBool::new(false);

tokio::task_local! {
    static CURRENT: TraceParent;
}

/// Spans are exported (an OTLP endpoint is configured and the subscriber installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// One W3C `traceparent`: `00-<trace id>-<parent span id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: u128,
    pub span_id: u64,
    pub sampled: bool,
}

impl TraceParent {
    /// Parse a header value; `None` for anything malformed (the trace restarts).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let mut parts = s.splitn(5, '-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |p: &str, len: usize| {
            p.len() == len && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if !hex(version, 2)
            || version == "ff"
            || !hex(trace, 32)
            || !hex(span, 16)
            || !hex(flags, 2)
        {
            return None;
        }
        // version 00 has exactly four fields; later versions may append more
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// A new trace (not sampled: the collector, if any, decides by its own ratio).
    pub fn random() -> Self {
        Self {
            trace_id: rand::random::<u128>().max(1),
            span_id: rand::random::<u64>().max(1),
            sampled: false,
        }
    }

    /// The same trace, a new span id.
    pub fn child(&self) -> Self {
        Self {
            span_id: rand::random::<u64>().max(1),
            ..*self
        }
    }

    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    fn from_span_context(sc: &SpanContext) -> Option<Self> {
        sc.is_valid().then(|| Self {
            trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
            span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
            sampled: sc.is_sampled(),
        })
    }

    fn to_context(self) -> Context {
        let flags = if self.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(self.trace_id.to_be_bytes()),
            SpanId::from_bytes(self.span_id.to_be_bytes()),
            flags,
            true,
            TraceState::default(),
        ))
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

/// Make `span` (a server span, declared with an empty `trace_id` field) continue the
/// caller's trace `incoming`, or start one; records `trace_id` on the span and
/// returns the context to run the work in ([`scope`]).
pub fn continue_trace(span: &Span, incoming: Option<&str>) -> TraceParent {
    let parent = incoming.and_then(TraceParent::parse);
    let mut tp = None;
    if enabled() {
        if let Some(p) = parent {
            let _ = span.set_parent(p.to_context());
        }
        tp = TraceParent::from_span_context(span.context().span().span_context());
    }
    let tp = tp.unwrap_or_else(|| {
        parent
            .map(|p| p.child())
            .unwrap_or_else(TraceParent::random)
    });
    span.record("trace_id", tp.trace_id_hex());
    tp
}

/// The `traceparent` to send with a call made inside `span` (a client span).
pub fn outgoing(span: &Span) -> String {
    if enabled()
        && let Some(tp) = TraceParent::from_span_context(span.context().span().span_context())
    {
        return tp.to_string();
    }
    CURRENT
        .try_with(TraceParent::child)
        .unwrap_or_else(|_| TraceParent::random())
        .to_string()
}

/// Name `span` once its name is known (after the span started; e.g. the route
/// template, decided by the router).
pub fn rename(span: &Span, name: String) {
    if enabled() {
        span.context().span().update_name(name);
    }
}

/// Run `f` with `tp` as the task's trace context.
pub async fn scope<F: Future>(tp: TraceParent, f: F) -> F::Output {
    CURRENT.scope(tp, f).await
}

/// The trace id of the task's current request, if any.
pub fn current_trace_id() -> Option<String> {
    CURRENT.try_with(|c| c.trace_id_hex()).ok()
}

/// The OTLP exporter and its layer, when `telemetry.trace_endpoint` is set.
#[allow(clippy::type_complexity)]
pub(crate) fn exporter<S>(
    cfg: &TelemetryConfig,
    component: &str,
) -> Result<
    Option<(
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
        SdkTracerProvider,
    )>,
    String,
>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    if cfg.trace_endpoint.is_empty() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&cfg.trace_endpoint)
        .with_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| format!("OTLP exporter for {}: {e}", cfg.trace_endpoint))?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(DbSpans(BatchSpanProcessor::builder(exporter).build()))
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            cfg.trace_sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(format!("fanone-{component}"))
                .build(),
        )
        .build();
    let tracer = provider.tracer("fanone");
    Ok(Some((
        tracing_opentelemetry::layer().with_tracer(tracer),
        provider,
    )))
}

/// sea-orm's driver spans (`query_all`, `execute`, ...) renamed `db.<operation>`,
/// with `db.system`, before export.
#[derive(Debug)]
struct DbSpans<P>(P);

impl<P: SpanProcessor> SpanProcessor for DbSpans<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        let system = span.attributes.iter().find_map(|kv| {
            if kv.key.as_str() != "target" {
                return None;
            }
            let target = kv.value.as_str();
            if target.starts_with("sea_orm::driver::sqlx_mysql") {
                Some("mysql")
            } else if target.starts_with("sea_orm::driver::sqlx_sqlite") {
                Some("sqlite")
            } else {
                None
            }
        });
        if let Some(system) = system {
            span.name = format!("db.{}", span.name).into();
            span.span_kind = opentelemetry::trace::SpanKind::Client;
            span.attributes.push(KeyValue::new("db.system", system));
        }
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(s).expect("valid");
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.span_id, 0x00f0_67aa_0ba9_02b7);
        assert!(tp.sampled);
        assert_eq!(tp.to_string(), s);
        let child = tp.child();
        assert_eq!(child.trace_id, tp.trace_id);
        assert_ne!(child.span_id, tp.span_id);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        // a later version may carry more fields
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some()
        );
    }

    #[tokio::test]
    async fn without_an_exporter_the_trace_id_still_flows() {
        let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        let span = tracing::info_span!("server", trace_id = tracing::field::Empty);
        let cont = continue_trace(&span, Some(&tp.to_string()));
        assert_eq!(cont.trace_id, tp.trace_id);
        let out = scope(cont, async {
            (outgoing(&Span::none()), current_trace_id())
        })
        .await;
        let sent = TraceParent::parse(&out.0).expect("valid outgoing");
        assert_eq!(sent.trace_id, tp.trace_id);
        assert_eq!(out.1.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        // outside a request: a fresh trace every time
        let a = TraceParent::parse(&outgoing(&Span::none())).expect("valid");
        let b = TraceParent::parse(&outgoing(&Span::none())).expect("valid");
        assert_ne!(a.trace_id, b.trace_id);
    }
}
