//! The admin listener of a process (`telemetry.admin_addr`), apart from the traffic
//! ports so it can stay private:
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text (404 when `telemetry.metrics = false`) |
//! | `GET /health/live` | 200 while the process runs |
//! | `GET /health/ready` | 200 when every dependency answers, else 503; JSON per check |
//! | `GET /debug/pprof/profile?seconds=N` | CPU profile, pprof protobuf (`telemetry.profiling`) |
//! | `GET /debug/pprof/flamegraph?seconds=N` | the same as an SVG flame graph |
//! | `GET /sd/prometheus` | Prometheus HTTP service discovery: every admin listener in the registry |
//!
//! It is served from a task of its own rather than a job of `Rpc::jobs`: it answers
//! (not ready) while the process drains and ends with the process.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use fanone_config::{SERVICES, TelemetryConfig};
use fanone_telemetry::{health, metrics, profile};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use tokio::net::TcpListener;
use volo::net::incoming::DefaultIncoming;
use volo_http::{
    body::Body,
    response::Response,
    server::{
        Server,
        extract::Query,
        route::{Router, get},
    },
    utils::Extension,
};

use crate::{Registry as _, Rpc, RpcError};

/// Instance metadata key naming an instance's admin listener (`ip:port`).
pub const META_KEY: &str = "admin";

#[derive(Clone)]
struct Admin {
    rpc: Arc<Rpc>,
    profiling: bool,
    profile_max_secs: u64,
}

/// Bind the admin listener and serve it in the background; returns where it
/// listens, or `None` when `telemetry.admin_addr` is empty.
pub(crate) async fn start(
    rpc: Arc<Rpc>,
    cfg: &TelemetryConfig,
) -> Result<Option<SocketAddr>, RpcError> {
    if cfg.admin_addr.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = cfg
        .admin_addr
        .parse()
        .map_err(|_| RpcError::Config(format!("telemetry.admin_addr {:?}", cfg.admin_addr)))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RpcError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| RpcError::Bind { addr, source })?;
    health::enable();
    let state = Admin {
        rpc,
        profiling: cfg.profiling,
        profile_max_secs: cfg.profile_max_secs,
    };
    let router = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/debug/pprof/profile", get(cpu_profile))
        .route("/debug/pprof/flamegraph", get(flame_graph))
        .route("/sd/prometheus", get(service_discovery))
        .layer(Extension(state));
    tokio::spawn(async move {
        if let Err(e) = Server::new(router)
            .run(DefaultIncoming::from(listener))
            .await
        {
            tracing::warn!(error = %e, "admin listener stopped");
        }
    });
    tracing::info!(addr = %bound, "admin listening");
    Ok(Some(bound))
}

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    answer(status, "text/plain; charset=utf-8", body.into())
}

async fn render_metrics() -> Response {
    match metrics::render() {
        Some(body) => answer(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            body,
        ),
        None => text(
            StatusCode::NOT_FOUND,
            "metrics are off (telemetry.metrics)\n",
        ),
    }
}

async fn ready() -> Response {
    let results = health::check_all().await;
    let draining = health::draining();
    let ok = !draining && results.iter().all(|(_, r)| r.is_ok());
    let checks: BTreeMap<String, String> = results
        .into_iter()
        .map(|(name, r)| (name, r.err().unwrap_or_else(|| "ok".to_owned())))
        .collect();
    let body = serde_json::json!({ "ready": ok, "draining": draining, "checks": checks });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    answer(status, "application/json", body.to_string())
}

#[derive(Deserialize)]
struct ProfileQuery {
    seconds: Option<u64>,
}

async fn cpu_profile(
    Extension(admin): Extension<Admin>,
    Query(q): Query<ProfileQuery>,
) -> Response {
    profile_answer(&admin, q, profile::Format::Pprof).await
}

async fn flame_graph(
    Extension(admin): Extension<Admin>,
    Query(q): Query<ProfileQuery>,
) -> Response {
    profile_answer(&admin, q, profile::Format::FlameGraph).await
}

async fn profile_answer(admin: &Admin, q: ProfileQuery, format: profile::Format) -> Response {
    if !admin.profiling {
        return text(
            StatusCode::NOT_FOUND,
            "profiling is off (telemetry.profiling)\n",
        );
    }
    let seconds = q.seconds.unwrap_or(10);
    if seconds == 0 || seconds > admin.profile_max_secs {
        return text(
            StatusCode::BAD_REQUEST,
            format!("seconds must be in 1..={}\n", admin.profile_max_secs),
        );
    }
    match profile::cpu(Duration::from_secs(seconds), format).await {
        Ok(bytes) => match format {
            profile::Format::Pprof => answer(StatusCode::OK, "application/octet-stream", bytes),
            profile::Format::FlameGraph => answer(StatusCode::OK, "image/svg+xml", bytes),
        },
        Err(profile::ProfileError::Busy) => text(
            StatusCode::CONFLICT,
            "a profile is already being taken; retry when it ends\n",
        ),
        Err(e) => {
            tracing::warn!(error = %e, "profile failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

/// One target group per admin listener found in the registry (a standalone process
/// hosts every component behind one listener).
async fn service_discovery(Extension(admin): Extension<Admin>) -> Response {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for service in SERVICES.iter().copied().chain(["gateway"]) {
        match admin.rpc.registry().instances(service).await {
            Ok(instances) => {
                for inst in instances {
                    if let Some(target) = inst.meta.get(META_KEY) {
                        groups
                            .entry(target.clone())
                            .or_default()
                            .push(service.to_owned());
                    }
                }
            }
            Err(e) => {
                return text(StatusCode::SERVICE_UNAVAILABLE, format!("registry: {e}\n"));
            }
        }
    }
    let body: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|(target, services)| {
            let component = if services.len() == 1 {
                services[0].clone()
            } else {
                "standalone".to_owned()
            };
            serde_json::json!({
                "targets": [target],
                "labels": { "component": component },
            })
        })
        .collect();
    answer(
        StatusCode::OK,
        "application/json",
        serde_json::Value::Array(body).to_string(),
    )
}
