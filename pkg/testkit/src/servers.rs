//! Throw-away registry servers (etcd, a Nacos server) owned by one test, and single
//! `fanone` components as processes a test can stop, freeze and kill.
//!
//! A test that needs a registry calls [`RegistryServer::start`]. It is skipped
//! (`None`) when the server's binary is missing — unless `FANONE_TEST_REQUIRE_ETCD=1`
//! / `FANONE_TEST_REQUIRE_NACOS=1` (CI), where a missing binary is a failure.
//! Binaries: `etcd` from `PATH` (apt `etcd-server`); the Nacos server `rnacos` from
//! `FANONE_TEST_RNACOS`, else `~/.cache/fanone/tools/rnacos-*/bin/rnacos` (installed
//! by `scripts/nacos.sh install`).

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tempfile::TempDir;
use tokio::process::{Child, Command};

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    Etcd,
    Nacos,
}

impl RegistryKind {
    pub fn name(self) -> &'static str {
        match self {
            RegistryKind::Etcd => "etcd",
            RegistryKind::Nacos => "nacos",
        }
    }

    fn required(self) -> bool {
        let var = match self {
            RegistryKind::Etcd => "FANONE_TEST_REQUIRE_ETCD",
            RegistryKind::Nacos => "FANONE_TEST_REQUIRE_NACOS",
        };
        std::env::var(var).is_ok_and(|v| v == "1")
    }

    fn binary(self) -> Option<PathBuf> {
        match self {
            RegistryKind::Etcd => ["/usr/bin/etcd", "/usr/local/bin/etcd"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .or_else(|| which("etcd")),
            RegistryKind::Nacos => {
                if let Ok(p) = std::env::var("FANONE_TEST_RNACOS") {
                    return Some(PathBuf::from(p)).filter(|p| p.exists());
                }
                let tools = std::env::var("FANONE_TOOLS_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|_| {
                        PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                            .join(".cache/fanone/tools")
                    });
                let mut found: Vec<PathBuf> = std::fs::read_dir(&tools)
                    .ok()?
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("rnacos-"))
                    .map(|e| e.path().join("bin/rnacos"))
                    .filter(|p| p.exists())
                    .collect();
                found.sort();
                found.pop()
            }
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists())
}

/// A port nobody listens on now (with `also` free as well, offsets from it).
fn free_port(also: &[u16]) -> u16 {
    for _ in 0..200 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        drop(l);
        let ok = also.iter().all(|off| {
            p.checked_add(*off)
                .is_some_and(|q| std::net::TcpListener::bind(("127.0.0.1", q)).is_ok())
        });
        if ok {
            return p;
        }
    }
    panic!("no free port");
}

/// A registry server on loopback, owned by the test.
pub struct RegistryServer {
    pub kind: RegistryKind,
    bin: PathBuf,
    port: u16,
    dir: TempDir,
    /// The data directory in use (under `dir`).
    data: PathBuf,
    child: Option<Child>,
}

impl RegistryServer {
    /// Start one, or `None` (skip) when its binary is missing and not required.
    pub async fn start(kind: RegistryKind) -> Option<RegistryServer> {
        let Some(bin) = kind.binary() else {
            if kind.required() {
                panic!(
                    "{} is required (FANONE_TEST_REQUIRE_*) but not installed",
                    kind.name()
                );
            }
            eprintln!(
                "skipped: no {} binary (scripts/stack.sh installs it)",
                kind.name()
            );
            return None;
        };
        let port = match kind {
            // client port, peer port = +1
            RegistryKind::Etcd => free_port(&[1]),
            // HTTP, gRPC = +1000 (what nacos-sdk dials), console = +2000
            RegistryKind::Nacos => free_port(&[1000, 2000]),
        };
        let mut me = RegistryServer {
            kind,
            bin,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            data: PathBuf::new(),
            child: None,
        };
        me.launch().await;
        Some(me)
    }

    /// What a component's config needs to use this registry (`namespace` keeps
    /// tests apart on one server).
    pub fn env(&self, namespace: &str) -> Vec<(String, String)> {
        [
            ("FANONE__REGISTRY__BACKEND", self.kind.name().to_owned()),
            ("FANONE__REGISTRY__ENDPOINTS", self.endpoint()),
            ("FANONE__REGISTRY__NAMESPACE", namespace.to_owned()),
            ("FANONE__REGISTRY__TTL_SECS", "3".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// What the server holds as the config center's document of `namespace`, read
    /// over its HTTP API (for failure messages).
    pub async fn config_document(&self, namespace: &str) -> String {
        let url = match self.kind {
            RegistryKind::Nacos => format!(
                "http://127.0.0.1:{}/nacos/v1/cs/configs?dataId=fanone.toml&group=DEFAULT_GROUP&tenant={namespace}",
                self.port
            ),
            RegistryKind::Etcd => return "(etcd: see etcdctl)".to_owned(),
        };
        let doc = match reqwest::get(&url).await {
            Ok(r) => format!("{} {:?}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => format!("unreadable: {e}"),
        };
        format!(
            "{doc}\n{} log (tail):\n{}",
            self.kind.name(),
            self.log_tail()
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The last 40 lines of the server's log (every start appends to it).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The value of `registry.endpoints`.
    pub fn endpoint(&self) -> String {
        match self.kind {
            RegistryKind::Etcd => format!("http://127.0.0.1:{}", self.port),
            RegistryKind::Nacos => format!("127.0.0.1:{}", self.port),
        }
    }

    /// Start the server on a new, empty data directory and wait until it serves.
    ///
    /// rnacos 0.8.8 has a start-up race on a new data directory: it initialises its
    /// raft group while its actors are still being wired, and now and then (under
    /// load) the raft apply actor panics on a message that came too early; from then
    /// on the server acknowledges every config publish and stores none. So a Nacos
    /// start counts only when a probe document is written and read back; otherwise it
    /// starts again on another new directory (as `scripts/nacos.sh start` does).
    async fn launch(&mut self) {
        const STARTS: u32 = 5;
        for attempt in 1..=STARTS {
            self.data = self
                .dir
                .path()
                .join(format!("data-{}-{attempt}", fanone_id::now_ms()));
            self.launch_once().await;
            if self.kind == RegistryKind::Etcd || self.config_round_trip().await {
                return;
            }
            eprintln!(
                "nacos start {attempt} on port {} stores no config; starting again. log:\n{}",
                self.port,
                self.log_tail()
            );
            self.kill().await;
        }
        panic!(
            "nacos on port {} stores no config after {STARTS} starts",
            self.port
        );
    }

    /// A config document written over the Nacos HTTP API is served back within 5 s.
    async fn config_round_trip(&self) -> bool {
        let api = format!("http://127.0.0.1:{}/nacos/v1/cs/configs", self.port);
        let value = format!("started {}", fanone_id::now_ms());
        let http = reqwest::Client::new();
        let written = http
            .post(&api)
            .form(&[
                ("dataId", "fanone-start-probe"),
                ("group", "DEFAULT_GROUP"),
                ("content", value.as_str()),
            ])
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if !written {
            return false;
        }
        let read = format!("{api}?dataId=fanone-start-probe&group=DEFAULT_GROUP");
        for _ in 0..50 {
            if let Ok(r) = http.get(&read).send().await
                && r.text().await.is_ok_and(|t| t == value)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Start the server on `self.data` and wait until it answers.
    async fn launch_once(&mut self) {
        let data = self.data.clone();
        let mut cmd = Command::new(&self.bin);
        match self.kind {
            RegistryKind::Etcd => {
                let (c, p) = (self.port, self.port + 1);
                cmd.arg("--data-dir")
                    .arg(&data)
                    .arg("--name")
                    .arg("default")
                    .arg(format!("--listen-client-urls=http://127.0.0.1:{c}"))
                    .arg(format!("--advertise-client-urls=http://127.0.0.1:{c}"))
                    .arg(format!("--listen-peer-urls=http://127.0.0.1:{p}"))
                    .arg(format!(
                        "--initial-advertise-peer-urls=http://127.0.0.1:{p}"
                    ))
                    .arg(format!("--initial-cluster=default=http://127.0.0.1:{p}"))
                    .arg("--log-level=error")
                    .arg("--logger=zap");
            }
            RegistryKind::Nacos => {
                cmd.env("RNACOS_HTTP_PORT", self.port.to_string())
                    .env("RNACOS_GRPC_PORT", (self.port + 1000).to_string())
                    .env("RNACOS_HTTP_CONSOLE_PORT", (self.port + 2000).to_string())
                    .env("RNACOS_SDK_HOST", "127.0.0.1")
                    .env("RNACOS_CONSOLE_HOST", "127.0.0.1")
                    .env("RNACOS_DATA_DIR", &data)
                    .env("RUST_LOG", "warn");
            }
        }
        // the server's own log (warnings and errors) stays beside its data, for
        // failure messages
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("registry log file");
        cmd.stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("spawn registry server"));
        let http = reqwest::Client::new();
        let probe = match self.kind {
            RegistryKind::Etcd => format!("http://127.0.0.1:{}/health", self.port),
            RegistryKind::Nacos => format!(
                "http://127.0.0.1:{}/nacos/v1/ns/service/list?pageNo=1&pageSize=1",
                self.port
            ),
        };
        let started = Instant::now();
        loop {
            let grpc_up = self.kind == RegistryKind::Etcd
                || tokio::net::TcpStream::connect(("127.0.0.1", self.port + 1000))
                    .await
                    .is_ok();
            if grpc_up
                && http
                    .get(&probe)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not start on port {}",
                self.kind.name(),
                self.port
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kill the server.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Kill the server and start it again on the same ports with no registrations:
    /// every instance must be registered again by its owner. etcd starts on an empty
    /// data directory (its leases are on disk). Nacos keeps its data directory, as a
    /// restarted Nacos does: its instances are ephemeral, held in memory only, and an
    /// initialised directory does not meet rnacos's start-up race (see `launch`).
    pub async fn restart_empty(&mut self) {
        self.kill().await;
        if self.kind == RegistryKind::Nacos {
            self.launch_once().await;
            if self.config_round_trip().await {
                return;
            }
            eprintln!("nacos restarted on its data stores no config; starting empty");
            self.kill().await;
        }
        self.launch().await;
    }
}

/// Environment every spawned component shares (data dir, secrets, quick jobs).
pub fn component_env(data: &TempDir) -> Vec<(String, String)> {
    crate::base_env(data)
}

/// One `fanone <component>` process.
pub struct Component {
    pub name: String,
    /// What it announced (`user=127.0.0.1:port`, `gateway=http://...`).
    pub endpoints: HashMap<String, String>,
    child: Child,
}

impl Component {
    /// Spawn `bin <sub>` with `env` and wait until it reports ready.
    pub async fn spawn(bin: &str, sub: &str, env: &[(String, String)]) -> Component {
        let p = crate::spawn(bin, sub, env).await;
        Component {
            name: sub.to_owned(),
            endpoints: p.endpoints,
            child: p.child,
        }
    }

    /// The announced address of this component.
    pub fn addr(&self) -> &str {
        &self.endpoints[&self.name]
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// SIGKILL: a crash (no deregistration).
    pub async fn crash(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait().await;
    }

    /// SIGTERM and wait for the graceful exit.
    pub async fn stop(&mut self) {
        self.signal("TERM");
        let _ = tokio::time::timeout(Duration::from_secs(40), self.child.wait()).await;
    }

    /// SIGSTOP: alive but answering nothing (a stuck instance).
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// SIGCONT after [`Component::freeze`].
    pub fn thaw(&self) {
        self.signal("CONT");
    }
}

/// A Redis server on loopback owned by one test (apt `redis-server`), which the test
/// may kill and restart. Skipped (`None`) when the binary is missing, unless
/// `FANONE_TEST_REQUIRE_REDIS=1` (CI).
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    aof: bool,
    child: Option<Child>,
}

impl RedisServer {
    /// Nothing persisted: a restart starts empty.
    pub async fn start() -> Option<RedisServer> {
        Self::start_with(false).await
    }

    /// With `aof`, every write is appended to a file and survives a restart.
    pub async fn start_with(aof: bool) -> Option<RedisServer> {
        if ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .iter()
            .all(|p| !std::path::Path::new(p).exists())
            && which("redis-server").is_none()
        {
            if std::env::var("FANONE_TEST_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
                panic!("redis-server is required (FANONE_TEST_REQUIRE_REDIS=1) but not installed");
            }
            eprintln!("skipped: no redis-server (scripts/redis.sh install)");
            return None;
        }
        let mut me = RedisServer {
            port: free_port(&[]),
            dir: tempfile::tempdir().expect("temp dir"),
            aof,
            child: None,
        };
        me.launch().await;
        Some(me)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg(if self.aof { "yes" } else { "no" })
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("spawn redis-server"));
        let started = Instant::now();
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read(&mut buf)
                        .await
                        .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server did not start on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kill the server (SIGKILL).
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Kill and start again on the same port (empty unless started with AOF).
    pub async fn restart(&mut self) {
        self.kill().await;
        self.launch().await;
    }
}
