//! Black-box test harness: start the real `fanone` binary in standalone mode on
//! ephemeral ports with a fresh data directory, and talk to it over HTTP.
//!
//! MariaDB/MySQL: tests that need a server call [`mysql_database`]. It reads
//! `FANONE_TEST_MYSQL_URL` (a server URL, e.g. `mysql://root@127.0.0.1:3307/mysql`,
//! set by `scripts/test.sh`). Without it those tests are skipped — unless
//! `FANONE_TEST_REQUIRE_MYSQL=1` (CI), where a missing server is a failure.

use std::{collections::HashMap, process::Stdio, time::Duration};

pub mod servers;
pub mod shards;

use reqwest::{header::HeaderMap, multipart};
use serde_json::Value;
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The signing key the spawned system uses, so tests can forge tokens.
pub const TEST_JWT_SECRET: &str = "fanone-testkit-secret-0123456789abcdef";

/// A running FanOne (gateway + services) owned by one test.
pub struct Fanone {
    /// `http://127.0.0.1:<port>` of the gateway.
    pub url: String,
    /// Every `k=v` of the `FANONE_READY` line (gateway, user, data, ...).
    pub endpoints: HashMap<String, String>,
    pub http: reqwest::Client,
    pub data: TempDir,
    /// Every gateway's URL (cluster topologies may start several); `url` is the
    /// one the helpers use (see [`Fanone::use_gateway`]).
    pub gateways: Vec<String>,
    procs: Vec<Process>,
}

/// One spawned `fanone` process and what its ready line announced.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) endpoints: HashMap<String, String>,
    /// The subcommand (`standalone`, `gateway`, `user`, ...).
    pub(crate) sub: String,
}

pub use fanone_config::SERVICES;

/// The internal credential secret every spawned component shares.
pub const TEST_INTERNAL_SECRET: &str = "fanone-testkit-internal-secret-0123456789";

/// An RPC kit (static registry, the test internal secret) for in-process Thrift
/// tests: serve with [`serve_thrift`], call with `rpc.client(...)`.
pub async fn rpc_kit() -> std::sync::Arc<fanone_rpc::Rpc> {
    let mut cfg = fanone_config::Config::default();
    cfg.rpc.internal_secret = TEST_INTERNAL_SECRET.to_owned();
    // no configured addresses: a client finds only what registers in this process,
    // never a FanOne that happens to run on the default ports of the machine
    for name in SERVICES {
        if let Some(svc) = cfg.services.get_mut(name) {
            svc.addr.set_port(0);
        }
    }
    std::sync::Arc::new(
        fanone_rpc::Rpc::connect(&cfg, "test")
            .await
            .expect("rpc kit"),
    )
}

/// A valid internal credential for components started by this testkit.
pub fn internal_credential() -> String {
    fanone_rpc::credential::Credential::new(TEST_INTERNAL_SECRET.as_bytes(), 60).issue("test")
}

/// Run the Thrift call `f` with `token` (if any) as its internal credential, as a
/// raw client (a Kitex client, an attacker) would send it.
pub async fn with_credential<F: std::future::Future>(token: Option<String>, f: F) -> F::Output {
    use metainfo::Forward as _;
    metainfo::METAINFO
        .scope(std::cell::RefCell::new(Default::default()), async move {
            if let Some(t) = token {
                metainfo::METAINFO.with(|m| {
                    m.borrow_mut()
                        .set_transient(fanone_rpc::credential::METAINFO_KEY, t)
                });
            }
            f.await
        })
        .await
}

/// Serve `server` as service `name` on a free loopback port the way every component
/// does (registered, credential checked before any handler); returns its address.
pub async fn serve_thrift<S, Req>(
    rpc: &std::sync::Arc<fanone_rpc::Rpc>,
    name: &str,
    server: fanone_rpc::NewServer<S, Req>,
) -> std::net::SocketAddr
where
    S: motore::Service<volo_thrift::context::ServerContext, Req, Error = volo_thrift::ServerError>
        + Send
        + Sync
        + 'static,
    S::Response: volo_thrift::EntryMessage + Send + Sync + 'static,
    Req: volo_thrift::EntryMessage + Send + 'static,
{
    let reg = rpc
        .register(name, ([127, 0, 0, 1], 0).into(), 1)
        .await
        .expect("register");
    let addr = reg.instance.addr;
    let rpc = rpc.clone();
    tokio::spawn(async move { rpc.serve(server, reg).await });
    addr
}

pub(crate) fn base_env(data: &TempDir) -> Vec<(String, String)> {
    [
        ("FANONE__DATA_DIR", data.path().to_string_lossy().as_ref()),
        ("FANONE__GATEWAY__ADDR", "127.0.0.1:0"),
        ("FANONE__SERVICES__USER__ADDR", "127.0.0.1:0"),
        ("FANONE__SERVICES__VIDEO__ADDR", "127.0.0.1:0"),
        ("FANONE__SERVICES__INTERACTION__ADDR", "127.0.0.1:0"),
        ("FANONE__SERVICES__SOCIAL__ADDR", "127.0.0.1:0"),
        ("FANONE__SERVICES__CHAT__ADDR", "127.0.0.1:0"),
        ("FANONE__SERVICES__IMAGE__ADDR", "127.0.0.1:0"),
        ("FANONE__TUNING__SETTLE_INTERVAL_MS", "200"),
        ("FANONE__TUNING__POPULAR_REFRESH_MS", "200"),
        ("FANONE__AUTH__JWT_SECRET", TEST_JWT_SECRET),
        ("FANONE__RPC__INTERNAL_SECRET", TEST_INTERNAL_SECRET),
        ("FANONE__TELEMETRY__LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Spawn `bin sub` and wait for its `FANONE_READY` line.
pub(crate) async fn spawn(bin: &str, sub: &str, env: &[(String, String)]) -> Process {
    let mut cmd = Command::new(bin);
    cmd.arg(sub)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn fanone");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("FANONE_READY ") {
                return Some(rest.to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("fanone {sub} did not report ready within 60 s"));
    // keep draining stdout so the child never blocks on a full pipe
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let endpoints = ready
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Process {
        child,
        endpoints,
        sub: sub.to_owned(),
    }
}

impl Fanone {
    /// Start `bin standalone` with a fresh data dir.
    pub async fn start(bin: &str) -> Fanone {
        Self::start_with(bin, &[]).await
    }

    /// Start with extra `FANONE__*` environment overrides.
    pub async fn start_with(bin: &str, env: &[(&str, &str)]) -> Fanone {
        Self::start_in(bin, tempfile::tempdir().expect("temp data dir"), env).await
    }

    /// Start on an existing data dir (e.g. the one of a stopped instance).
    pub async fn start_in(bin: &str, data: TempDir, env: &[(&str, &str)]) -> Fanone {
        let mut base = base_env(&data);
        base.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let proc = spawn(bin, "standalone", &base).await;
        Self::from_processes(vec![proc], data)
    }

    /// Cluster topology: every service and the gateway as separate processes
    /// (`fanone user`, `fanone video`, ..., `fanone gateway`). `databases` gives
    /// `(service, url)` for services on a MySQL-protocol server; the others use a
    /// SQLite file of their own. `extra` adds environment for every process.
    pub async fn start_cluster(
        bin: &str,
        databases: &[(&str, String)],
        extra: &[(&str, String)],
    ) -> Fanone {
        Self::start_topology(bin, databases, extra, &[], 1).await
    }

    /// Cluster topology with `replicas` of some services (`("user", 2)`; the rest
    /// run once) and `gateways` gateways, all sharing one data directory. With
    /// static addresses, gateway `i` dials replica `i mod n` of each service.
    pub async fn start_topology(
        bin: &str,
        databases: &[(&str, String)],
        extra: &[(&str, String)],
        replicas: &[(&str, usize)],
        gateways: usize,
    ) -> Fanone {
        let data = tempfile::tempdir().expect("temp data dir");
        let mut env = base_env(&data);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        for (svc, url) in databases {
            let key = format!("FANONE__SERVICES__{}__DATABASE_URL", svc.to_uppercase());
            env.push((key, url.clone()));
        }
        let mut procs = Vec::new();
        let mut addrs: Vec<(String, Vec<String>)> = Vec::new();
        for svc in SERVICES {
            let n = replicas
                .iter()
                .find(|(name, _)| *name == svc)
                .map_or(1, |(_, n)| (*n).max(1));
            let mut these = Vec::new();
            for _ in 0..n {
                let p = spawn(bin, svc, &env).await;
                these.push(p.endpoints[svc].clone());
                procs.push(p);
            }
            let key = format!("FANONE__SERVICES__{}__ADDR", svc.to_uppercase());
            env.push((key.clone(), these[0].clone()));
            addrs.push((key, these));
        }
        let mut urls = Vec::new();
        for i in 0..gateways.max(1) {
            let mut genv = env.clone();
            for (key, these) in &addrs {
                genv.push((key.clone(), these[i % these.len()].clone()));
            }
            let p = spawn(bin, "gateway", &genv).await;
            urls.push(p.endpoints["gateway"].clone());
            procs.insert(i, p);
        }
        let mut app = Self::from_processes(procs, data);
        app.url = urls[0].clone();
        app.gateways = urls;
        app
    }

    /// Send the helpers' requests to gateway `i` (of [`Fanone::gateways`]).
    pub fn use_gateway(&mut self, i: usize) {
        self.url = self.gateways[i].clone();
    }

    fn from_processes(procs: Vec<Process>, data: TempDir) -> Fanone {
        let mut endpoints = HashMap::new();
        for p in &procs {
            endpoints.extend(p.endpoints.clone());
        }
        Fanone {
            url: endpoints["gateway"].clone(),
            gateways: vec![endpoints["gateway"].clone()],
            endpoints,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            data,
            procs,
        }
    }

    /// The admin listener (`http://ip:port`) of the process started as `sub`
    /// (`standalone`, `gateway`, `user`, ...).
    pub fn admin(&self, sub: &str) -> Option<String> {
        self.procs
            .iter()
            .find(|p| p.sub == sub)
            .and_then(|p| p.endpoints.get("admin").cloned())
    }

    /// The operating-system pid of the process started as `sub`, while it runs.
    pub fn pid(&self, sub: &str) -> Option<u32> {
        self.procs
            .iter()
            .find(|p| p.sub == sub)
            .and_then(|p| p.child.id())
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str, tokens: Option<&Tokens>) -> Reply {
        Reply::read(
            with_tokens(self.http.get(self.at(path)), tokens)
                .send()
                .await,
        )
        .await
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        tokens: Option<&Tokens>,
    ) -> Reply {
        let req = with_tokens(self.http.post(self.at(path)), tokens).form(form);
        Reply::read(req.send().await).await
    }

    /// Multipart text fields plus optional files `(field, file name, bytes)`.
    pub async fn multipart(
        &self,
        method: reqwest::Method,
        path: &str,
        fields: &[(&str, &str)],
        files: Vec<(&str, &str, Vec<u8>)>,
        tokens: Option<&Tokens>,
    ) -> Reply {
        let mut form = multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for (field, name, bytes) in files {
            form = form.part(
                field.to_string(),
                multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        }
        let req = with_tokens(self.http.request(method, self.at(path)), tokens).multipart(form);
        Reply::read(req.send().await).await
    }

    /// Upload `bytes` as the avatar of the user of `tokens`; the new avatar URL.
    pub async fn upload_avatar(&self, tokens: &Tokens, file_name: &str, bytes: Vec<u8>) -> String {
        let r = self
            .multipart(
                reqwest::Method::PUT,
                "/user/avatar/upload",
                &[],
                vec![("data", file_name, bytes)],
                Some(tokens),
            )
            .await;
        assert_eq!(r.code(), 10000, "avatar upload: {}", r.body);
        r.data()["avatar_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no avatar_url: {}", r.body))
            .to_owned()
    }

    /// `POST /user/image/search` with `bytes` as `data` (and `top_k` when given).
    pub async fn image_search(&self, bytes: Vec<u8>, top_k: Option<&str>) -> Reply {
        let fields: Vec<(&str, &str)> = top_k.map(|k| vec![("top_k", k)]).unwrap_or_default();
        self.multipart(
            reqwest::Method::POST,
            "/user/image/search",
            &fields,
            vec![("data", "query", bytes)],
            None,
        )
        .await
    }

    /// Register and log in a fresh user; returns its id and tokens.
    pub async fn user(&self, username: &str) -> (String, Tokens) {
        let r = self
            .post_form(
                "/user/register",
                &[("username", username), ("password", "secret12")],
                None,
            )
            .await;
        assert_eq!(r.code(), 10000, "register {username}: {}", r.body);
        self.login(username, "secret12").await
    }

    pub async fn login(&self, username: &str, password: &str) -> (String, Tokens) {
        let r = self
            .post_form(
                "/user/login",
                &[("username", username), ("password", password)],
                None,
            )
            .await;
        assert_eq!(r.code(), 10000, "login {username}: {}", r.body);
        let tokens = r.tokens().expect("login must return both token headers");
        (
            r.data()["id"].as_str().expect("id string").to_owned(),
            tokens,
        )
    }

    /// Publish a tiny MP4 titled `title` as user `uid` and return its id (found
    /// through `/video/list`; must succeed).
    pub async fn publish_video(&self, uid: &str, tokens: &Tokens, title: &str) -> String {
        let r = self
            .multipart(
                reqwest::Method::POST,
                "/video/publish",
                &[("title", title), ("description", "d")],
                vec![("data", "v.mp4", mp4_bytes())],
                Some(tokens),
            )
            .await;
        assert_eq!(r.code(), 10000, "publish: {}", r.body);
        let list = self
            .get(
                &format!("/video/list?user_id={uid}&page_num=0&page_size=100"),
                None,
            )
            .await;
        assert_eq!(list.code(), 10000, "{}", list.body);
        list.data()["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["title"] == title)
            .and_then(|v| v["id"].as_str())
            .unwrap_or_else(|| panic!("published video {title} not listed: {}", list.body))
            .to_owned()
    }

    /// The user of `tokens` follows `to` (must succeed).
    pub async fn follow(&self, tokens: &Tokens, to: &str) {
        let r = self
            .post_form(
                "/relation/action",
                &[("to_user_id", to), ("action_type", "1")],
                Some(tokens),
            )
            .await;
        assert_eq!(r.code(), 10000, "follow {to}: {}", r.body);
    }

    /// The Prometheus exposition of the process started as `sub` (its admin
    /// listener's `/metrics`).
    pub async fn metrics(&self, sub: &str) -> String {
        let admin = self
            .admin(sub)
            .unwrap_or_else(|| panic!("{sub} has no admin listener"));
        let r = self
            .http
            .get(format!("{admin}/metrics"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("scrape {admin}: {e}"));
        assert_eq!(r.status(), 200, "metrics of {admin}");
        r.text().await.expect("metrics body")
    }

    /// Stop the system (SIGKILL) and wait for it.
    pub async fn stop(mut self) -> TempDir {
        for p in &mut self.procs {
            let _ = p.child.kill().await;
        }
        self.data
    }
}

/// The value of the sample of `name` whose labels include every `labels` pair
/// (Prometheus text format), 0 when absent.
pub fn metric_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// A test picture from `pkg/embed/tests/data` (photos, a GIF, a WebP, EXIF-rotated and
/// edited copies; see `pkg/embed/tests/make_data.py`).
pub fn picture(name: &str) -> Vec<u8> {
    let path = format!("{}/../embed/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The smallest file the gateway accepts as an MP4 (an `ftyp` box and padding).
pub fn mp4_bytes() -> Vec<u8> {
    let mut v = vec![
        0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 0, 0,
    ];
    v.extend_from_slice(b"isomiso2avc1mp41");
    v.extend(std::iter::repeat_n(0u8, 512));
    v
}

/// The `Access-Token` / `Refresh-Token` pair.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

fn with_tokens(req: reqwest::RequestBuilder, tokens: Option<&Tokens>) -> reqwest::RequestBuilder {
    match tokens {
        Some(t) => req
            .header("Access-Token", &t.access)
            .header("Refresh-Token", &t.refresh),
        None => req,
    }
}

/// An HTTP answer with its envelope parsed.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn read(resp: reqwest::Result<reqwest::Response>) -> Reply {
        let resp = resp.expect("request failed");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("read body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "not JSON (status {status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `base.code`; also asserts the envelope shape and HTTP 200.
    pub fn code(&self) -> i64 {
        assert_eq!(
            self.status, 200,
            "contract answers are HTTP 200: {}",
            self.body
        );
        assert!(
            self.body["base"]["msg"].is_string(),
            "base.msg missing: {}",
            self.body
        );
        self.body["base"]["code"].as_i64().expect("base.code")
    }

    pub fn msg(&self) -> &str {
        self.body["base"]["msg"].as_str().unwrap_or_default()
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn tokens(&self) -> Option<Tokens> {
        Some(Tokens {
            access: self.header("access-token")?,
            refresh: self.header("refresh-token")?,
        })
    }
}

/// A fresh, empty database on the test MariaDB/MySQL server, or `None` (skip) when
/// no server is configured and none is required.
pub async fn mysql_database(prefix: &str) -> Option<String> {
    let server = match std::env::var("FANONE_TEST_MYSQL_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var("FANONE_TEST_REQUIRE_MYSQL").is_ok_and(|v| v == "1") {
                panic!("FANONE_TEST_REQUIRE_MYSQL=1 but FANONE_TEST_MYSQL_URL is not set");
            }
            eprintln!("skipped: FANONE_TEST_MYSQL_URL is not set (scripts/test.sh sets it)");
            return None;
        }
    };
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "{prefix}_{}_{}_{n}",
        fanone_id::now_ms(),
        std::process::id()
    );
    Some(
        fanone_db::create_mysql_database(&server, &name)
            .await
            .expect("create test database"),
    )
}

/// `n` fresh databases on the test MariaDB/MySQL server (a sharded layout), or
/// `None` (skip) as [`mysql_database`].
pub async fn mysql_databases(prefix: &str, n: usize) -> Option<Vec<String>> {
    let mut urls = Vec::with_capacity(n);
    for i in 0..n {
        urls.push(mysql_database(&format!("{prefix}{i}")).await?);
    }
    Some(urls)
}

/// The value of `FANONE_TEST_<NAME>` (a server or tool `scripts/test.sh` provides), or
/// `None` (skip) unless `FANONE_TEST_REQUIRE_<REQUIRE>=1`.
fn provided(name: &str, require: &str) -> Option<String> {
    match std::env::var(format!("FANONE_TEST_{name}")) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var(format!("FANONE_TEST_REQUIRE_{require}")).is_ok_and(|v| v == "1") {
                panic!("FANONE_TEST_REQUIRE_{require}=1 but FANONE_TEST_{name} is not set");
            }
            eprintln!("skipped: FANONE_TEST_{name} is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// The Milvus server for tests (`FANONE_TEST_MILVUS_URL`, started by
/// `scripts/test.sh`), or `None` (skip) unless `FANONE_TEST_REQUIRE_MILVUS=1`.
pub fn milvus_url() -> Option<String> {
    provided("MILVUS_URL", "MILVUS")
}

/// ONNX Runtime's library (`FANONE_TEST_ONNXRUNTIME_LIB`, from `scripts/onnxruntime.sh
/// install`), or `None` (skip) unless `FANONE_TEST_REQUIRE_ONNXRUNTIME=1`.
pub fn onnxruntime_lib() -> Option<String> {
    provided("ONNXRUNTIME_LIB", "ONNXRUNTIME")
}

/// A Jaeger started by scripts/test.sh: `(OTLP gRPC endpoint, query API base URL)`.
pub fn jaeger() -> Option<(String, String)> {
    match (
        std::env::var("FANONE_TEST_JAEGER_OTLP"),
        std::env::var("FANONE_TEST_JAEGER_QUERY"),
    ) {
        (Ok(otlp), Ok(query)) if !otlp.is_empty() && !query.is_empty() => Some((otlp, query)),
        _ => {
            if std::env::var("FANONE_TEST_REQUIRE_JAEGER").is_ok_and(|v| v == "1") {
                panic!(
                    "FANONE_TEST_REQUIRE_JAEGER=1 but FANONE_TEST_JAEGER_OTLP/QUERY are not set"
                );
            }
            eprintln!("skipped: no Jaeger (scripts/test.sh sets FANONE_TEST_JAEGER_OTLP/QUERY)");
            None
        }
    }
}

/// Connect to `url` with the migrations of `M` applied — twice, to check that
/// migrating an up-to-date database is a no-op.
pub async fn migrated<M: sea_orm_migration::MigratorTrait>(
    url: &str,
) -> sea_orm::DatabaseConnection {
    let db = fanone_db::connect_and_migrate::<M>(url)
        .await
        .expect("connect and migrate");
    drop(
        fanone_db::connect_and_migrate::<M>(url)
            .await
            .expect("migrations are idempotent"),
    );
    db
}

/// A fresh SQLite database URL in `dir`.
pub fn sqlite_database(dir: &std::path::Path, name: &str) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        dir.join(format!("{name}.db")).display()
    )
}
