//! Observability of a running FanOne: one trace per request across processes in
//! Jaeger, Prometheus metrics that move with the traffic (checked by promtool and
//! scraped by a real Prometheus through the registry-backed service discovery),
//! health endpoints, CPU profiles, and the switches that turn it all off.

use std::{
    collections::HashMap,
    process::Stdio,
    time::{Duration, Instant},
};

use fanone_testkit::{
    Fanone, metric_sample as sample,
    servers::{RegistryKind, RegistryServer},
};
use reqwest::Method;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

/// Where the Debian package's `name` (promtool, prometheus) runs from; `None` when
/// it is not installed, which fails the test when scripts/test.sh requires it.
fn prometheus_tool(name: &str) -> Option<String> {
    let found = [name.to_owned(), format!("/usr/bin/{name}")]
        .into_iter()
        .find(|p| {
            std::process::Command::new(p)
                .arg("--version")
                .output()
                .is_ok()
        });
    assert!(
        found.is_some() || std::env::var("FANONE_TEST_REQUIRE_PROMTOOL").is_err(),
        "FANONE_TEST_REQUIRE_PROMTOOL is set but {name} is not installed"
    );
    found
}

/// `promtool check metrics` must accept the exposition (when promtool is installed;
/// scripts/test.sh requires it).
fn promtool_check(text: &str) {
    use std::io::Write;
    let Some(promtool) = prometheus_tool("promtool") else {
        eprintln!("promtool not installed: exposition format not linted");
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write metrics");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Debug)]
struct Span {
    id: String,
    parent: Option<String>,
    name: String,
    service: String,
    kind: String,
}

/// The spans of trace `trace_id` in Jaeger's query API (empty until it arrives).
async fn jaeger_trace(http: &reqwest::Client, query: &str, trace_id: &str) -> Vec<Span> {
    let Ok(r) = http
        .get(format!("{query}/api/traces/{trace_id}"))
        .send()
        .await
    else {
        return Vec::new();
    };
    let Ok(v) = r.json::<Value>().await else {
        return Vec::new();
    };
    let Some(t) = v["data"].get(0) else {
        return Vec::new();
    };
    let services: HashMap<String, String> = t["processes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, p)| {
                    (
                        k.clone(),
                        p["serviceName"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    t["spans"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .map(|s| Span {
                    id: s["spanID"].as_str().unwrap_or("").to_owned(),
                    parent: s["references"].as_array().and_then(|refs| {
                        refs.iter()
                            .find(|r| r["refType"] == "CHILD_OF")
                            .and_then(|r| r["spanID"].as_str())
                            .map(str::to_owned)
                    }),
                    name: s["operationName"].as_str().unwrap_or("").to_owned(),
                    service: services
                        .get(s["processID"].as_str().unwrap_or(""))
                        .cloned()
                        .unwrap_or_default(),
                    kind: s["tags"]
                        .as_array()
                        .and_then(|tags| {
                            tags.iter()
                                .find(|t| t["key"] == "span.kind")
                                .and_then(|t| t["value"].as_str())
                        })
                        .unwrap_or("")
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_request_is_one_trace_across_processes_and_metrics_follow_traffic() {
    let Some((otlp, query)) = fanone_testkit::jaeger() else {
        return;
    };
    let mut dbs = Vec::new();
    for svc in fanone_testkit::SERVICES {
        let Some(db) = fanone_testkit::mysql_database(&format!("fanone_obs_{svc}")).await else {
            return;
        };
        dbs.push((svc, db));
    }
    // a shared registry: Prometheus finds every process through it
    let Some(registry) = RegistryServer::start(RegistryKind::Etcd).await else {
        return;
    };
    let mut env = registry.env(&format!("obs{}", std::process::id()));
    env.push(("FANONE__TELEMETRY__TRACE_ENDPOINT".into(), otlp.clone()));
    env.push(("FANONE__TELEMETRY__TRACE_SAMPLE_RATIO".into(), "1".into()));
    let extra: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let app = Fanone::start_cluster(BIN, &dbs, &extra).await;
    let (id, tokens) = app.user("traced").await;
    let mp4 = [&[0u8, 0, 0, 0x18][..], b"ftypisom", &[0u8; 64][..]].concat();
    let r = app
        .multipart(
            Method::POST,
            "/video/publish",
            &[("title", "traced clip")],
            vec![("data", "t.mp4", mp4)],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);

    // --- metrics: scrape every process before and after some traffic ---
    let gateway_admin = app.admin("gateway").expect("gateway admin listener");
    let user_admin = app.admin("user").expect("user admin listener");
    let before_gw = app.metrics("gateway").await;
    let before_user = app.metrics("user").await;
    for _ in 0..5 {
        let r = app.get("/user/info", Some(&tokens)).await;
        assert_eq!(r.code(), 10000);
    }
    let r = app.get("/user/info?user_id=not-a-number", None).await;
    assert_eq!(r.code(), 10002);
    let after_gw = app.metrics("gateway").await;
    let after_user = app.metrics("user").await;
    promtool_check(&after_gw);
    promtool_check(&after_user);
    let ok = [
        ("route", "/user/info"),
        ("code", "10000"),
        ("status", "200"),
    ];
    assert_eq!(
        sample(&after_gw, "fanone_http_requests_total", &ok)
            - sample(&before_gw, "fanone_http_requests_total", &ok),
        5.0,
        "gateway counted the five answered /user/info"
    );
    let bad = [("route", "/user/info"), ("code", "10002")];
    assert_eq!(
        sample(&after_gw, "fanone_http_requests_total", &bad)
            - sample(&before_gw, "fanone_http_requests_total", &bad),
        1.0
    );
    assert!(
        sample(
            &after_gw,
            "fanone_http_request_duration_seconds_count",
            &[("route", "/user/info")]
        ) >= 6.0
    );
    let served = [("service", "user"), ("code", "0")];
    assert!(
        sample(&after_user, "fanone_rpc_server_requests_total", &served)
            - sample(&before_user, "fanone_rpc_server_requests_total", &served)
            >= 5.0,
        "the user service counted the calls it answered"
    );
    let client = [("callee", "user"), ("outcome", "ok")];
    assert!(
        sample(&after_gw, "fanone_rpc_client_requests_total", &client)
            - sample(&before_gw, "fanone_rpc_client_requests_total", &client)
            >= 5.0
    );
    assert!(sample(&after_user, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(sample(&after_user, "process_open_fds", &[]) > 3.0);
    assert!(sample(&after_user, "tokio_workers", &[]) >= 1.0);
    assert!(
        sample(
            &after_user,
            "fanone_db_pool_connections",
            &[("state", "idle")]
        ) + sample(
            &after_user,
            "fanone_db_pool_connections",
            &[("state", "in_use")]
        ) >= 1.0,
        "pool gauges of the user database"
    );
    let ready: Value = app
        .http
        .get(format!("{user_admin}/health/ready"))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("ready json");
    assert_eq!(ready["ready"], true, "{ready}");
    assert!(
        ready["checks"]
            .as_object()
            .is_some_and(|c| c.keys().any(|k| k.starts_with("db:"))),
        "{ready}"
    );

    // --- traces: our traceparent in, the same trace id out and in Jaeger ---
    let trace_id = format!("{:032x}", rand_id());
    let parent_span = "00f067aa0ba902b7";
    let r = app
        .http
        .get(app.at(&format!("/video/list?user_id={id}")))
        .header("traceparent", format!("00-{trace_id}-{parent_span}-01"))
        .send()
        .await
        .expect("list");
    assert_eq!(
        r.headers().get("x-trace-id").and_then(|v| v.to_str().ok()),
        Some(trace_id.as_str()),
        "the response names the trace it continued"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["base"]["code"], 10000, "{body}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = jaeger_trace(&app.http, &query, &trace_id).await;
        let services: std::collections::HashSet<&str> = spans
            .iter()
            .filter(|s| s.kind == "server" && s.service != "fanone-gateway")
            .map(|s| s.service.as_str())
            .collect();
        let has_db = spans.iter().any(|s| s.name.starts_with("db."));
        let has_root = spans
            .iter()
            .any(|s| s.service == "fanone-gateway" && s.kind == "server");
        if services.len() >= 2 && has_db && has_root {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} incomplete in Jaeger after 30 s: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let root = spans
        .iter()
        .find(|s| s.service == "fanone-gateway" && s.kind == "server")
        .unwrap_or_else(|| panic!("no gateway server span: {spans:#?}"));
    assert_eq!(root.name, "GET /video/list");
    assert_eq!(
        root.parent.as_deref(),
        Some(parent_span),
        "the gateway span continues the client's traceparent"
    );
    let mut checked = std::collections::HashSet::new();
    for server in spans
        .iter()
        .filter(|s| s.kind == "server" && s.service != "fanone-gateway")
    {
        // service server span <- gateway client span (same name) <- gateway server span
        let client = server
            .parent
            .as_deref()
            .and_then(|p| by_id.get(p))
            .unwrap_or_else(|| panic!("server span without a parent in the trace: {server:?}"));
        assert_eq!(client.service, "fanone-gateway", "{server:?} <- {client:?}");
        assert_eq!(client.kind, "client");
        assert_eq!(client.name, server.name);
        assert_eq!(
            client.parent.as_deref(),
            Some(root.id.as_str()),
            "{client:?}"
        );
        checked.insert(server.service.clone());
    }
    assert!(
        checked.len() >= 2,
        "server spans of two services: {checked:?}"
    );
    let db = spans
        .iter()
        .find(|s| s.name.starts_with("db.") && s.service != "fanone-gateway")
        .unwrap_or_else(|| panic!("no DB span: {spans:#?}"));
    let mut up = db.parent.as_deref().and_then(|p| by_id.get(p)).copied();
    while let Some(s) = up {
        if s.kind == "server" {
            break;
        }
        up = s.parent.as_deref().and_then(|p| by_id.get(p)).copied();
    }
    let owner = up.unwrap_or_else(|| panic!("DB span outside any server span: {db:?}"));
    assert_eq!(
        owner.service, db.service,
        "a DB span sits under its service's server span"
    );

    // --- a real Prometheus finds every process through /sd/prometheus ---
    prometheus_scrapes_everything(&app, &gateway_admin).await;
}

fn rand_id() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    (t << 20) ^ u128::from(std::process::id()) | 1
}

async fn prometheus_scrapes_everything(app: &Fanone, admin: &str) {
    let sd: Value = app
        .http
        .get(format!("{admin}/sd/prometheus"))
        .send()
        .await
        .expect("sd")
        .json()
        .await
        .expect("sd json");
    let groups = sd.as_array().expect("target groups");
    let components: std::collections::BTreeSet<&str> = groups
        .iter()
        .filter_map(|g| g["labels"]["component"].as_str())
        .collect();
    assert_eq!(
        components.len(),
        fanone_testkit::SERVICES.len() + 1,
        "every process is a target: {sd}"
    );
    let Some(prometheus) = prometheus_tool("prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().expect("prometheus dir");
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/prometheus/prometheus.yml.in"
    ))
    .expect("template");
    let config = template
        .replace(
            "@RULES@",
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/prometheus/rules.yml"),
        )
        .replace("@SD_URL@", &format!("{admin}/sd/prometheus"));
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let _server = tokio::process::Command::new(prometheus)
        .arg(format!(
            "--config.file={}/prometheus.yml",
            dir.path().display()
        ))
        .arg(format!("--storage.tsdb.path={}/data", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = app
            .http
            .get(format!("http://127.0.0.1:{port}/api/v1/query?query=up"))
            .send()
            .await
            .ok();
        let v: Value = match up {
            Some(r) => r.json().await.unwrap_or(Value::Null),
            None => Value::Null,
        };
        let healthy = v["data"]["result"]
            .as_array()
            .map(|r| r.iter().filter(|s| s["value"][1] == "1").count())
            .unwrap_or(0);
        if healthy == fanone_testkit::SERVICES.len() + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape every process within 60 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn standalone_health_profiles_and_the_off_switches() {
    // spans off (no endpoint): the trace id still flows and is answered
    let app = Fanone::start_with(BIN, &[("FANONE__TELEMETRY__PROFILING", "true")]).await;
    let admin = app.admin("standalone").expect("admin listener");
    let live = app
        .http
        .get(format!("{admin}/health/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), 200);
    let ready = app
        .http
        .get(format!("{admin}/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    let checks = ready["checks"].as_object().expect("checks");
    assert!(checks.contains_key("registry"), "{ready}");
    assert!(
        checks.keys().filter(|k| k.starts_with("db:")).count() >= 6,
        "every service's database is checked: {ready}"
    );
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = app
        .http
        .get(app.at("/ping"))
        .header("traceparent", tp)
        .send()
        .await
        .expect("ping");
    assert_eq!(
        r.headers().get("x-trace-id").and_then(|v| v.to_str().ok()),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    let r = app
        .http
        .get(app.at("/ping"))
        .header("traceparent", "garbage")
        .send()
        .await
        .expect("ping");
    let fresh = r
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        fresh.len(),
        32,
        "a malformed traceparent starts a new trace"
    );

    // unknown paths share one series; no label per path an attacker picks
    for i in 0..3 {
        app.get(&format!("/no/such/route/{i}"), None).await;
    }
    let text = app.metrics("standalone").await;
    promtool_check(&text);
    assert_eq!(
        sample(
            &text,
            "fanone_http_requests_total",
            &[("route", "unmatched")]
        ),
        3.0
    );
    assert!(!text.contains("/no/such/route"));

    // profiles: bounded seconds, one at a time, pprof protobuf and SVG
    let bad = app
        .http
        .get(format!("{admin}/debug/pprof/profile?seconds=0"))
        .send()
        .await
        .expect("profile");
    assert_eq!(bad.status(), 400);
    let http = app.http.clone();
    let url = format!("{admin}/debug/pprof/profile?seconds=2");
    let first = tokio::spawn(async move { http.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = app
        .http
        .get(format!("{admin}/debug/pprof/flamegraph?seconds=1"))
        .send()
        .await
        .expect("second profile");
    assert_eq!(second.status(), 409, "one profile at a time");
    let first = first.await.expect("join").expect("profile");
    assert_eq!(first.status(), 200);
    let pb = first.bytes().await.expect("profile body");
    assert!(pb.len() > 16, "a pprof protobuf");
    let svg = app
        .http
        .get(format!("{admin}/debug/pprof/flamegraph?seconds=1"))
        .send()
        .await
        .expect("flamegraph");
    assert_eq!(svg.status(), 200);
    assert!(svg.text().await.expect("svg").contains("<svg"));

    // a profile while the image model runs: samples land in tract's assembly kernels,
    // which have no unwind tables — the profiler must survive them (the default
    // libgcc unwinder crashed the process there)
    let (_, tokens) = app.user("profiled").await;
    let picture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pkg/embed/tests/data/chelsea.jpg"
    ))
    .expect("test picture");
    let r = app
        .multipart(
            Method::PUT,
            "/user/avatar/upload",
            &[],
            vec![("data", "cat.jpg", picture.clone())],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let http = app.http.clone();
    let url = format!("{admin}/debug/pprof/profile?seconds=3");
    let profile = tokio::spawn(async move { http.get(url).send().await });
    let mut searched = 0;
    while !profile.is_finished() {
        let r = app
            .multipart(
                Method::POST,
                "/user/image/search",
                &[],
                vec![("data", "q.jpg", picture.clone())],
                None,
            )
            .await;
        // 10007 until the avatar is indexed (the indexer embeds it meanwhile)
        assert!(matches!(r.code(), 10000 | 10007), "{}", r.body);
        searched += 1;
    }
    let profile = profile.await.expect("join").expect("profile during search");
    assert_eq!(profile.status(), 200);
    assert!(searched > 0);
    let live = app
        .http
        .get(format!("{admin}/health/live"))
        .send()
        .await
        .expect("alive after the profile");
    assert_eq!(live.status(), 200);
    drop(app);

    // metrics and profiles off: their routes say so; health stays
    let app = Fanone::start_with(BIN, &[("FANONE__TELEMETRY__METRICS", "false")]).await;
    let admin = app.admin("standalone").expect("admin listener");
    for path in ["/metrics", "/debug/pprof/profile?seconds=1"] {
        let r = app
            .http
            .get(format!("{admin}{path}"))
            .send()
            .await
            .expect("admin");
        assert_eq!(r.status(), 404, "{path}");
    }
    drop(app);

    // no admin listener at all
    let app = Fanone::start_with(BIN, &[("FANONE__TELEMETRY__ADMIN_ADDR", "")]).await;
    assert_eq!(app.admin("standalone"), None);
    assert_eq!(app.get("/user/info?user_id=1", None).await.code(), 10007);
}

/// The rules and the dashboard only query metrics the code records (a renamed
/// metric must not leave an alert that can never fire).
#[test]
fn rules_and_dashboard_name_only_recorded_metrics() {
    let known: std::collections::HashSet<&str> = fanone_telemetry::metrics::METRICS
        .iter()
        .map(|(name, _, _)| *name)
        .collect();
    let root = env!("CARGO_MANIFEST_DIR");
    for file in ["scripts/prometheus/rules.yml", "docs/grafana/fanone.json"] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).expect(file);
        let mut seen = 0;
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if !word.starts_with("fanone_") {
                continue;
            }
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s).filter(|b| known.contains(b)))
                .unwrap_or(word);
            assert!(
                known.contains(base),
                "{file} queries {word}, which nothing records"
            );
            seen += 1;
        }
        assert!(seen >= 5, "{file} names FanOne metrics");
    }
}
