//! Cluster mode: `fanone user` and `fanone gateway` as separate processes, the user
//! service on MariaDB, the gateway dialing it over Thrift at its configured address.

use fanone_testkit::Fanone;
use reqwest::Method;

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
    // the growing tables of interaction, social and chat split over 2 databases × 2
    // tables (the service's own database and one more)
    let mut extra = Vec::new();
    let mut second = std::collections::HashMap::new();
    for svc in ["interaction", "social", "chat"] {
        let Some(db) = fanone_testkit::mysql_database(&format!("fanone_cl_{svc}_b")).await else {
            return;
        };
        let up = svc.to_uppercase();
        extra.push((
            format!("FANONE__SERVICES__{up}__SHARD_DATABASE_URLS"),
            format!("[\"{db}\"]"),
        ));
        extra.push((format!("FANONE__SERVICES__{up}__SHARD_TABLES"), "2".into()));
        second.insert(svc, db);
    }
    // the image service on Milvus when a test server runs, else its built-in index
    if let Some(url) = fanone_testkit::milvus_url() {
        extra.push(("FANONE__IMAGE__MILVUS_URL".into(), url));
        extra.push((
            "FANONE__IMAGE__MILVUS_COLLECTION".into(),
            format!("cluster_{}", std::process::id()),
        ));
    }
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let app = Fanone::start_cluster(BIN, &dbs, &extra).await;
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

    // every domain across processes: publish, like, comment, follow, list
    let mp4 = [&[0u8, 0, 0, 0x18][..], b"ftypisom", &[0u8; 64][..]].concat();
    let r = app
        .multipart(
            Method::POST,
            "/video/publish",
            &[("title", "cluster clip")],
            vec![("data", "c.mp4", mp4)],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let list = app
        .get(&format!("/video/list?user_id={id}"), Some(&tokens))
        .await;
    assert_eq!(list.code(), 10000, "{}", list.body);
    assert_eq!(list.data()["total"], 1);
    let vid = list.data()["items"][0]["id"]
        .as_str()
        .expect("video id")
        .to_owned();
    let r = app
        .post_form(
            "/like/action",
            &[("video_id", &vid), ("action_type", "1")],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let r = app
        .post_form(
            "/comment/publish",
            &[("video_id", &vid), ("content", "hi")],
            Some(&tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let list = app
        .get(&format!("/video/list?user_id={id}"), Some(&tokens))
        .await;
    assert_eq!(list.data()["items"][0]["like_count"], 1);
    assert_eq!(list.data()["items"][0]["comment_count"], 1);
    let (other, other_tokens) = app.user("follower").await;
    let r = app
        .post_form(
            "/relation/action",
            &[("to_user_id", &id), ("action_type", "1")],
            Some(&other_tokens),
        )
        .await;
    assert_eq!(r.code(), 10000, "{}", r.body);
    let followers = app.get(&format!("/follower/list?user_id={id}"), None).await;
    assert_eq!(followers.data()["total"], 1);
    assert_eq!(followers.data()["items"][0]["id"], other.as_str());

    // each row in the one table its key routes to (slot s: table _s in database s % 2)
    let urls = |svc: &str| {
        let first = dbs.iter().find(|(n, _)| *n == svc).unwrap().1.clone();
        vec![first, second[svc].clone()]
    };
    let layout = fanone_shard::Layout::new(2, 2).unwrap();
    let vid_n: i64 = vid.parse().unwrap();
    let expect = [
        ("interaction", "likes", "target_id", vid_n),
        ("interaction", "comments", "video_id", vid_n),
        (
            "social",
            "follows",
            "follower_id",
            other.parse::<i64>().unwrap(),
        ),
    ];
    for (svc, table, column, key) in expect {
        let urls = urls(svc);
        let home = layout.slot_of(key);
        for slot in 0..layout.slots() {
            let db = sea_orm::Database::connect(&urls[layout.database_of(slot)])
                .await
                .unwrap();
            let sql = format!("SELECT COUNT(*) FROM {table}_{slot} WHERE {column} = {key}");
            let n = fanone_testkit::shards::int_rows(&db, &sql).await[0][0];
            assert_eq!(n, i64::from(slot == home), "{table}_{slot} holds {key}?");
        }
    }

    // the cover was announced by the gateway process and indexed by the image process
    let cover = list.data()["items"][0]["cover_url"]
        .as_str()
        .expect("cover")
        .to_owned();
    let bytes = app
        .http
        .get(&cover)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mut found = None;
    for _ in 0..300 {
        let r = app
            .multipart(
                Method::POST,
                "/user/image/search",
                &[],
                vec![("data", "q.png", bytes.clone())],
                None,
            )
            .await;
        if r.code() == 10000 {
            found = r.data().as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        found.as_deref(),
        Some(cover.as_str()),
        "cover indexed across processes"
    );
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

#[tokio::test]
async fn direct_clients_dial_the_configured_addresses() {
    // every component as its own process on SQLite, the gateway with Volo's plain
    // client to each configured address (rpc.direct), no discovery
    let extra = vec![("FANONE__RPC__DIRECT", "true".to_owned())];
    let app = Fanone::start_cluster(BIN, &[], &extra).await;
    let (id, tokens) = app.user("direct").await;
    let me = app.get("/user/info", Some(&tokens)).await;
    assert_eq!(me.code(), 10000, "{}", me.body);
    assert_eq!(me.data()["id"], id.as_str());
    let list = app.get(&format!("/video/list?user_id={id}"), None).await;
    assert_eq!(list.code(), 10000, "{}", list.body);
    assert_eq!(list.data()["total"], 0);
}

#[tokio::test]
async fn cluster_mode_refuses_to_start_without_the_internal_secret() {
    let out = tokio::process::Command::new(BIN)
        .arg("user")
        .env("FANONE__AUTH__JWT_SECRET", fanone_testkit::TEST_JWT_SECRET)
        .env("FANONE__RPC__INTERNAL_SECRET", "short")
        .env("FANONE__SERVICES__USER__ADDR", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("internal_secret"), "{err}");
}
