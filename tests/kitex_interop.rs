//! A Kitex (Go) client against the real services: every method of every service
//! over TTHeader framed with the internal credential and a W3C traceparent, business
//! errors checked as the typed `BizError` with our code and message — once with the
//! services' addresses, once through the kitex-contrib Nacos resolver reading what our
//! services registered. Every service runs as its own `fanone` process on MariaDB.
//!
//! The client is the Go module `tests/kitex` (docs/kitex-interop.md), built by
//! `scripts/kitex.sh build`; `scripts/test.sh` builds it and passes its path in
//! `FANONE_TEST_KITEX_CLIENT`. Without that variable the test builds it itself when Go
//! is installed, and is skipped with a loud message when Go is missing — unless
//! `FANONE_TEST_REQUIRE_KITEX=1` (CI), where a missing client is a failure.

use std::path::{Path, PathBuf};

use fanone_testkit::{
    SERVICES, TEST_INTERNAL_SECRET,
    servers::{Component, RegistryKind, RegistryServer, component_env},
};

const BIN: &str = env!("CARGO_BIN_EXE_fanone");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn required() -> bool {
    std::env::var("FANONE_TEST_REQUIRE_KITEX").is_ok_and(|v| v == "1")
}

/// The Go client's binary, or `None` (skip) when it cannot be had.
fn kitex_client() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FANONE_TEST_KITEX_CLIENT") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "FANONE_TEST_KITEX_CLIENT={} is missing",
            p.display()
        );
        return Some(p);
    }
    let go = std::process::Command::new("go").arg("version").output();
    if !go.is_ok_and(|o| o.status.success()) {
        assert!(
            !required(),
            "FANONE_TEST_REQUIRE_KITEX=1 but Go is not installed (the Kitex client needs it)"
        );
        eprintln!(
            "\n*** SKIPPED: Kitex interop NOT TESTED — Go is not installed. ***\n\
             *** Install Go 1.24+ and run scripts/test.sh (or set FANONE_TEST_KITEX_CLIENT). ***\n"
        );
        return None;
    }
    let out = std::process::Command::new(Path::new(ROOT).join("scripts/kitex.sh"))
        .arg("build")
        .output()
        .expect("run scripts/kitex.sh build");
    assert!(
        out.status.success(),
        "scripts/kitex.sh build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}

/// Run the client with `args`; (success, stdout, stderr).
async fn run_client(client: &Path, args: &[String]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(180),
        tokio::process::Command::new(client)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Kitex client finished within 180 s")
    .expect("run the Kitex client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("--- kitex client {args:?}\n{stdout}{stderr}");
    (out.status.success(), stdout, stderr)
}

#[tokio::test]
async fn a_kitex_client_calls_every_method_directly_and_through_nacos() {
    let Some(client) = kitex_client() else {
        return;
    };
    let Some(registry) = RegistryServer::start(RegistryKind::Nacos).await else {
        return;
    };
    let mut dbs = Vec::new();
    for svc in SERVICES {
        let Some(db) = fanone_testkit::mysql_database(&format!("fanone_kx_{svc}")).await else {
            return;
        };
        dbs.push((svc, db));
    }
    let data = tempfile::tempdir().unwrap();
    let namespace = format!("kitex{}", std::process::id());
    let mut env = component_env(&data);
    env.extend(registry.env(&namespace));
    for (svc, db) in &dbs {
        env.push((
            format!("FANONE__SERVICES__{}__DATABASE_URL", svc.to_uppercase()),
            db.clone(),
        ));
    }
    let mut procs = Vec::new();
    for svc in SERVICES {
        procs.push(Component::spawn(BIN, svc, &env).await);
    }

    // an image in the object store, for IndexImage and SearchImage
    let png = Path::new(ROOT).join("tests/contract/fixtures/avatar.png");
    let key = format!("covers/kitex/{}.png", std::process::id());
    let stored = data.path().join("objects").join(&key);
    std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
    std::fs::copy(&png, &stored).unwrap();
    let common = |tag: &str| -> Vec<String> {
        [
            "-secret",
            TEST_INTERNAL_SECRET,
            "-image-url",
            &format!("http://127.0.0.1/static/{key}"),
            "-image-file",
            &png.to_string_lossy(),
            "-tag",
            tag,
        ]
        .map(str::to_owned)
        .to_vec()
    };

    // 1. static addresses
    let mut args = common(&format!("d{}", std::process::id()));
    for p in &procs {
        args.extend(["-addr".to_owned(), format!("{}={}", p.name, p.addr())]);
    }
    let (ok, stdout, stderr) = run_client(&client, &args).await;
    assert!(ok, "Kitex client against the addresses failed: {stderr}");
    assert!(stdout.contains("PASS "), "{stdout}");
    let calls: usize = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(calls >= 35, "{calls} checked calls: {stdout}");
    for m in [
        "user.Register",
        "user.EndSession",
        "video.Visit",
        "interaction.MGetVideoStats",
        "social.IsFriend",
        "chat.MarkRead",
        "image.SearchImage",
    ] {
        assert!(stdout.contains(&format!("ok   {m}")), "{m} not called");
    }

    // 2. through the registry: the kitex-contrib Nacos resolver finds every service
    let mut args = common(&format!("n{}", std::process::id()));
    args.extend(
        [
            "-nacos",
            &registry.endpoint(),
            "-nacos-namespace",
            &namespace,
        ]
        .map(str::to_owned),
    );
    let (ok, stdout, stderr) = run_client(&client, &args).await;
    assert!(ok, "Kitex client through Nacos failed: {stderr}");
    assert!(
        stdout.contains("the kitex-contrib Nacos resolver"),
        "{stdout}"
    );
    for p in &procs {
        assert!(
            stdout.contains(&format!("{}:{}", p.name, p.addr())),
            "{} at {} was not the instance that answered: {stdout}",
            p.name,
            p.addr()
        );
    }

    // 3. a wrong secret is refused before any handler: the client must fail
    let mut args = common("w");
    args[1] = "not-the-cluster-secret-not-the-cluster-secret".to_owned();
    for p in &procs {
        args.extend(["-addr".to_owned(), format!("{}={}", p.name, p.addr())]);
    }
    let (ok, _, stderr) = run_client(&client, &args).await;
    assert!(!ok, "a wrong internal secret must fail the client");
    assert!(
        stderr.contains("refused: internal credential has a bad signature"),
        "{stderr}"
    );
}
