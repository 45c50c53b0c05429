//! Cluster mode: `fanone user` and `fanone gateway` as separate processes, the user
//! service on MariaDB, the gateway dialing it over Thrift at its configured address.

use fanone_testkit::Fanone;

const BIN: &str = env!("CARGO_BIN_EXE_fanone");

#[tokio::test]
async fn every_component_as_a_separate_process_on_mariadb() {
    let mut dbs = Vec::new();
    for svc in fanone_testkit::SERVICES {
        let Some(db) = fanone_testkit::mysql_database(&format!("fanone_cl_{svc}")).await else {
            return;
        };
        dbs.push((svc, db));
    }
    let app = Fanone::start_cluster(BIN, &dbs).await;
    assert_ne!(
        app.endpoints["user"], "",
        "user service announced its address"
    );
    let (id, tokens) = app.user("clustered").await;
    let me = app.get("/user/info", Some(&tokens)).await;
    assert_eq!(me.code(), 10000);
    assert_eq!(me.data()["id"], id.as_str());
    let dup = app
        .post_form(
            "/user/register",
            &[("username", "clustered"), ("password", "secret12")],
            None,
        )
        .await;
    assert_eq!(dup.code(), 10003);
}

#[tokio::test]
async fn gateway_refuses_the_development_secret() {
    let out = tokio::process::Command::new(BIN)
        .arg("gateway")
        .env("FANONE__AUTH__JWT_SECRET", fanone_config::DEV_JWT_SECRET)
        .env("FANONE__GATEWAY__ADDR", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jwt_secret"), "{err}");
}
