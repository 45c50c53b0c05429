//! The user service over a real Thrift socket: what a gateway or a Kitex client sees.

use fanone_errno::{Code, from_rpc};
use volo_gen::user::{self as rpc, UserServiceClient, UserServiceClientBuilder};

async fn start() -> (UserServiceClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "user");
    let rpc = fanone_testkit::rpc_kit().await;
    let handler = fanone_user::open(
        &url,
        1,
        &Default::default(),
        &Default::default(),
        Default::default(),
        rpc.jobs(),
    )
    .await
    .unwrap();
    fanone_testkit::serve_thrift(
        &rpc,
        "user",
        volo_gen::user::UserServiceServer::new(handler),
    )
    .await;
    let client = rpc.client(UserServiceClientBuilder::new("user"));
    (client, dir)
}

async fn register(c: &UserServiceClient, name: &str) -> i64 {
    let req = rpc::RegisterRequest {
        username: name.to_owned().into(),
        password: "secret12".into(),
    };
    from_rpc(c.register(req).await).unwrap().user_id
}

#[tokio::test]
async fn business_errors_cross_the_wire_with_their_codes() {
    let (c, _dir) = start().await;
    register(&c, "ann").await;
    let dup = from_rpc(
        c.register(rpc::RegisterRequest {
            username: "ann".into(),
            password: "secret12".into(),
        })
        .await,
    );
    assert_eq!(dup.unwrap_err().code, Code::UserExists);
    let missing = from_rpc(c.get_user(rpc::GetUserRequest { user_id: 77 }).await);
    assert_eq!(missing.unwrap_err().code, Code::NotFound);
    let bad = from_rpc(
        c.login(rpc::LoginRequest {
            username: "ann".into(),
            password: "wrong-pw".into(),
            code: None,
        })
        .await,
    );
    assert_eq!(bad.unwrap_err().code, Code::BadCredentials);
}

#[tokio::test]
async fn batch_reads_keep_order_and_skip_unknowns() {
    let (c, _dir) = start().await;
    let a = register(&c, "amy").await;
    let b = register(&c, "ben").await;
    let d = register(&c, "bea").await;
    let users = from_rpc(
        c.m_get_users(rpc::MGetUsersRequest {
            user_ids: vec![d, 999, a, d, b],
        })
        .await,
    )
    .unwrap()
    .users;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![d, a, b]);
    assert!(users.iter().all(|u| !u.mfa_enabled));

    let found = from_rpc(
        c.search_user_ids(rpc::SearchUserIdsRequest {
            fragment: "B".into(),
            limit: 10,
        })
        .await,
    )
    .unwrap()
    .user_ids;
    assert_eq!(found, vec![b, d]);
    let too_many = from_rpc(
        c.m_get_users(rpc::MGetUsersRequest {
            user_ids: (1..=501).collect(),
        })
        .await,
    );
    assert_eq!(too_many.unwrap_err().code, Code::Param);
}
