//! FanOne HTTP gateway (volo-http): the contract's routes over the Thrift services.
//!
//! Request path: edge middleware (trailing slash, CORS, access log) → identity
//! middleware (token pair, silent refresh) → route handler (parse with `Input`, call
//! services, shape with `view`) → `envelope`.

pub mod auth;
pub mod compose;
pub mod conn;
pub mod envelope;
pub mod extract;
pub mod routes;
pub mod state;
pub mod view;
pub mod ws;

use std::{sync::Arc, time::Instant};

use tracing::{Instrument as _, field::Empty};

use fanone_errno::Code;
use fanone_telemetry::trace;
use http::{HeaderValue, Method, StatusCode, Uri, header};
use volo_http::{
    context::ServerContext,
    request::Request,
    response::Response,
    server::{
        Server,
        middleware::{self, Next},
        route::Router,
    },
    utils::Extension,
};

pub use state::{AppState, Limits, State};

/// All routes of the contract, with identity resolution and shared state.
pub fn router(state: State) -> Router {
    Router::new()
        .merge(routes::user::router())
        .merge(routes::video::router())
        .merge(routes::upload::router())
        .merge(routes::interaction::router())
        .merge(routes::social::router())
        .merge(routes::chat::router())
        .merge(routes::image::router())
        .merge(routes::objects::router())
        .merge(routes::web::router())
        .route("/ping", volo_http::server::route::get(|| async { "pong" }))
        .fallback(not_found)
        .layer(middleware::from_fn(auth::identify))
        .layer(Extension(state))
}

async fn not_found() -> Response {
    let mut resp = envelope::render::<()>(
        StatusCode::NOT_FOUND,
        Code::NotFound.as_i32(),
        "route not found",
        None,
    );
    resp.extensions_mut().insert(Route("unmatched"));
    resp
}

/// The route template of a response whose path is not one (unknown paths, objects):
/// keeps the `route` label of the metrics to the set of routes.
#[derive(Debug, Clone, Copy)]
pub struct Route(pub &'static str);

/// Edge concerns applied before routing: every route answers with or without a
/// trailing slash (no redirect), CORS for browser clients; one span per request
/// (continuing a client's `traceparent`), its trace id in `x-trace-id` and in every
/// log line of the request, one access-log line, RED metrics per route.
async fn edge(cx: &mut ServerContext, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    let method = req.method().clone();
    let uri = req.uri().path().to_owned();
    let span = tracing::info_span!(
        "http.server",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = Empty,
        http.response.status_code = Empty,
        fanone.code = Empty,
        user.id = Empty,
        trace_id = Empty,
    );
    let incoming = req
        .headers()
        .get(trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let tp = trace::continue_trace(&span, incoming.as_deref());
    let in_flight = metrics::gauge!("fanone_http_in_flight");
    in_flight.increment(1.0);
    let mut resp = if method == Method::OPTIONS {
        let mut r = Response::new(Default::default());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else {
        let run = next.run(cx, req).instrument(span.clone());
        let Ok(r) = trace::scope(tp, run).await;
        if r.status() == StatusCode::METHOD_NOT_ALLOWED {
            // the router answers an empty 405; clients of the contract expect an envelope
            envelope::render::<()>(
                StatusCode::METHOD_NOT_ALLOWED,
                Code::Param.as_i32(),
                "method not allowed",
                None,
            )
        } else {
            r
        }
    };
    in_flight.decrement(1.0);
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*, Access-Token, Refresh-Token, Authorization, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Access-Token, Refresh-Token, X-Trace-Id, Retry-After"),
    );
    if let Ok(v) = HeaderValue::from_str(&tp.trace_id_hex()) {
        h.insert(trace::TRACE_ID_HEADER, v);
    }
    let route = match resp.extensions().get::<Route>() {
        Some(Route(r)) => (*r).to_owned(),
        None => uri.clone(),
    };
    let status = resp.status().as_u16();
    let code = resp
        .extensions()
        .get::<envelope::Answered>()
        .map(|a| a.0.to_string())
        .unwrap_or_else(|| "-".to_owned());
    trace::rename(&span, format!("{method} {route}"));
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    span.record("fanone.code", code.as_str());
    if status >= 500 || (code != "-" && code != "10000") {
        span.record("otel.status_code", "ERROR");
    }
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            %method,
            path = %uri,
            status,
            code = %code,
            micros = elapsed.as_micros() as u64,
            "http"
        )
    });
    let method = method.to_string();
    metrics::counter!(
        "fanone_http_requests_total",
        "method" => method.clone(), "route" => route.clone(),
        "status" => status.to_string(), "code" => code
    )
    .increment(1);
    metrics::histogram!(
        "fanone_http_request_duration_seconds",
        "method" => method, "route" => route
    )
    .record(elapsed.as_secs_f64());
    resp
}

/// Serve the gateway on its registered listener until a shutdown signal, closing
/// connections that miss the `deadlines` (`conn.rs`); then withdraw it from the
/// registry, stop the background jobs and drain.
pub async fn serve(
    state: Arc<AppState>,
    rpc: Arc<fanone_rpc::Rpc>,
    registered: fanone_rpc::Registered,
    deadlines: conn::Deadlines,
) -> Result<(), motore::BoxError> {
    let fanone_rpc::Registered {
        listener, instance, ..
    } = registered;
    tracing::info!(addr = %instance.addr, "gateway listening");
    Server::new(router(state))
        .layer(middleware::from_fn(edge))
        .register_shutdown_hook(rpc.shutdown_hook(instance))
        .run(conn::GuardedIncoming::new(listener, deadlines))
        .await
}
