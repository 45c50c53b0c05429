//! Traces and RED metrics of every Thrift call, on both sides, written once.
//!
//! - [`ClientObserveLayer`] (outermost in every client built by `Rpc::client`): a
//!   `rpc.client` span around the whole call (retries included), the W3C
//!   `traceparent` in the transient metainfo, and
//!   `fanone_rpc_client_requests_total{callee,method,outcome}` /
//!   `fanone_rpc_client_duration_seconds{callee,method}`.
//! - [`ServerObserveLayer`] (in front of every server started by `Rpc::serve`): a
//!   `rpc.server` span continuing the caller's trace (a Kitex caller's too), its
//!   trace id as the task's context, and
//!   `fanone_rpc_server_requests_total{service,method,code}` (code `0`, a business
//!   error code, or `error`), `fanone_rpc_server_duration_seconds{service,method}`,
//!   `fanone_rpc_server_in_flight{service}`.

use std::{sync::Arc, time::Instant};

use fanone_telemetry::{outcome, trace};
use metainfo::Forward as _;
use motore::{layer::Layer, service::Service};
use tracing::{Instrument as _, field::Empty};
use volo::context::Context as _;
use volo_thrift::context::{ClientContext, ServerContext};

/// See the module documentation.
#[derive(Clone, Default)]
pub struct ClientObserveLayer;

impl<S> Layer<S> for ClientObserveLayer {
    type Service = ClientObserve<S>;

    fn layer(self, inner: S) -> Self::Service {
        ClientObserve { inner }
    }
}

#[derive(Clone)]
pub struct ClientObserve<S> {
    inner: S,
}

impl<S, Req> Service<ClientContext, Req> for ClientObserve<S>
where
    S: Service<ClientContext, Req> + Send + Sync,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;

    async fn call(&self, cx: &mut ClientContext, req: Req) -> Result<S::Response, S::Error> {
        let callee = cx.rpc_info().callee().service_name().clone();
        let method = cx.rpc_info().method().clone();
        let span = tracing::info_span!(
            "rpc.client",
            otel.name = format!("{callee}/{method}"),
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = "thrift",
            rpc.service = %callee,
            rpc.method = %method,
        );
        let traceparent = trace::outgoing(&span);
        metainfo::METAINFO.with(|m| {
            m.borrow_mut()
                .set_transient(trace::TRACEPARENT, traceparent)
        });
        let started = Instant::now();
        let result = self.inner.call(cx, req).instrument(span.clone()).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        metrics::counter!(
            "fanone_rpc_client_requests_total",
            "callee" => callee.to_string(), "method" => method.to_string(), "outcome" => outcome
        )
        .increment(1);
        metrics::histogram!(
            "fanone_rpc_client_duration_seconds",
            "callee" => callee.to_string(), "method" => method.to_string()
        )
        .record(started.elapsed().as_secs_f64());
        result
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct ServerObserveLayer {
    service: Arc<str>,
}

impl ServerObserveLayer {
    pub fn new(service: &str) -> Self {
        Self {
            service: service.into(),
        }
    }
}

impl<S> Layer<S> for ServerObserveLayer {
    type Service = ServerObserve<S>;

    fn layer(self, inner: S) -> Self::Service {
        ServerObserve {
            inner,
            service: self.service,
        }
    }
}

#[derive(Clone)]
pub struct ServerObserve<S> {
    inner: S,
    service: Arc<str>,
}

impl<S, Req> Service<ServerContext, Req> for ServerObserve<S>
where
    S: Service<ServerContext, Req> + Send + Sync,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;

    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, S::Error> {
        let service = self.service.to_string();
        let method = cx.rpc_info().method().to_string();
        let span = tracing::info_span!(
            "rpc.server",
            otel.name = format!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "thrift",
            rpc.service = %service,
            rpc.method = %method,
            trace_id = Empty,
            error.code = Empty,
        );
        let incoming = metainfo::METAINFO
            .try_with(|m| m.borrow().get_upstream(trace::TRACEPARENT))
            .ok()
            .flatten();
        let tp = trace::continue_trace(&span, incoming.as_deref());
        let in_flight =
            metrics::gauge!("fanone_rpc_server_in_flight", "service" => service.clone());
        in_flight.increment(1.0);
        let started = Instant::now();
        let result = trace::scope(tp, self.inner.call(cx, req).instrument(span.clone())).await;
        in_flight.decrement(1.0);
        let code = match (&result, outcome::error_code()) {
            (Err(_), _) => "error".to_owned(),
            (Ok(_), Some(code)) => code.to_string(),
            (Ok(_), None) => "0".to_owned(),
        };
        if code != "0" {
            span.record("error.code", code.as_str());
            span.record("otel.status_code", "ERROR");
        }
        metrics::counter!(
            "fanone_rpc_server_requests_total",
            "service" => service.clone(), "method" => method.clone(), "code" => code
        )
        .increment(1);
        metrics::histogram!(
            "fanone_rpc_server_duration_seconds",
            "service" => service, "method" => method
        )
        .record(started.elapsed().as_secs_f64());
        result
    }
}
