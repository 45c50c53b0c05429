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

use fanone_errno::Code;
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
    envelope::render::<()>(
        StatusCode::NOT_FOUND,
        Code::NotFound.as_i32(),
        "route not found",
        None,
    )
}

/// Edge concerns applied before routing: every route answers with or without a
/// trailing slash (no redirect), CORS for browser clients, one access-log line.
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
    let mut resp = if method == Method::OPTIONS {
        let mut r = Response::new(Default::default());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else {
        let Ok(r) = next.run(cx, req).await;
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
    tracing::info!(
        %method,
        path = %uri,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "http"
    );
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
