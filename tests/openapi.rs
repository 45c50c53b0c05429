//! `docs/openapi.yaml` matches what the gateway serves: every documented operation
//! answers (no 404/405) on the real binary, and every route the gateway registers
//! is documented.

use std::collections::BTreeSet;

use fanone_testkit::Fanone;
use serde_yaml::Value;

const BIN: &str = env!("CARGO_BIN_EXE_fanone");
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "head"];

fn spec() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("read docs/openapi.yaml");
    serde_yaml::from_str(&text).expect("docs/openapi.yaml is valid YAML")
}

/// `(METHOD, path)` of every documented operation not marked as planned.
fn documented(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let paths = spec["paths"].as_mapping().expect("paths");
    for (path, item) in paths {
        let path = path.as_str().expect("path key");
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let planned = op.get("x-fanone-status").and_then(Value::as_str) == Some("planned");
            if !planned {
                out.push((m.to_uppercase(), path.to_owned()));
            }
        }
    }
    out
}

/// Paths registered with `.route("...")` in the gateway's route modules.
fn registered() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/http/src/routes");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("routes dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        for piece in text.split(".route(").skip(1) {
            let Some(rest) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            let Some(end) = rest.find('"') else { continue };
            // matchit catch-all `{*key}` is documented as `{key}`
            out.insert(rest[..end].replace("{*", "{"));
        }
    }
    out
}

#[test]
fn every_registered_route_is_documented() {
    let spec = spec();
    let paths: BTreeSet<String> = spec["paths"]
        .as_mapping()
        .expect("paths")
        .keys()
        .map(|k| {
            let k = k.as_str().expect("key");
            // `/` is the web page; other paths may be written with a trailing slash
            if k == "/" { k } else { k.trim_end_matches('/') }.to_owned()
        })
        .collect();
    let routes = registered();
    assert!(routes.len() >= 8, "found too few routes: {routes:?}");
    for r in &routes {
        assert!(
            paths.contains(r),
            "route {r} is served but not in docs/openapi.yaml"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let spec = spec();
    let ops = documented(&spec);
    assert!(ops.len() >= 20, "too few operations: {ops:?}");
    let app = Fanone::start(BIN).await;
    for (method, path) in ops {
        let concrete = path.replace("{key}", "avatars/none.png");
        let req = app
            .http
            .request(method.parse().expect("method"), app.at(&concrete));
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        if path.starts_with("/static/") {
            // an unknown object is 404 by design; the route itself must exist
            assert!(status == 404 || status == 200, "{method} {path}: {status}");
            continue;
        }
        assert_ne!(status, 405, "{method} {path} is documented but not allowed");
        assert_eq!(
            status, 200,
            "{method} {path} is documented but answers {status}"
        );
        let is_web = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/"));
        if method != "HEAD" && !is_web {
            let body: serde_json::Value = resp.json().await.expect("envelope JSON");
            assert!(
                body["base"]["code"].is_i64(),
                "{method} {path}: no envelope: {body}"
            );
            assert_ne!(body["base"]["msg"], "route not found", "{method} {path}");
        }
    }
}
