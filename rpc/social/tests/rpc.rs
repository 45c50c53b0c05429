//! The social service over a real Thrift socket: what a gateway or a Kitex client sees.

use fanone_errno::{Code, from_rpc};
use volo_gen::{
    base::Page,
    social::{self as rpc, SocialServiceClient, SocialServiceClientBuilder},
};

async fn start() -> (SocialServiceClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "social");
    let rpc = fanone_testkit::rpc_kit().await;
    let handler = fanone_social::open(
        &fanone_config::ShardSpec::single(url),
        1,
        &Default::default(),
        rpc.jobs(),
    )
    .await
    .unwrap();
    fanone_testkit::serve_thrift(
        &rpc,
        "social",
        volo_gen::social::SocialServiceServer::new(handler),
    )
    .await;
    let client = rpc.client(SocialServiceClientBuilder::new("social"));
    (client, dir)
}

async fn act(c: &SocialServiceClient, from: i64, to: i64, action: rpc::RelationActionType) -> i32 {
    let req = rpc::RelationActionRequest {
        caller_id: from,
        to_user_id: to,
        action,
    };
    match from_rpc(c.relation_action(req).await) {
        Ok(_) => 10000,
        Err(e) => e.code.as_i32(),
    }
}

async fn list(
    c: &SocialServiceClient,
    user: i64,
    kind: rpc::ListKind,
    num: i64,
    size: i64,
) -> (Vec<i64>, i64) {
    let r = from_rpc(
        c.list_relations(rpc::ListRelationsRequest {
            user_id: user,
            kind,
            page: Page {
                page_num: num,
                page_size: size,
            },
        })
        .await,
    )
    .unwrap();
    (r.user_ids, r.total)
}

async fn friends(c: &SocialServiceClient, a: i64, b: i64) -> bool {
    from_rpc(
        c.is_friend(rpc::IsFriendRequest {
            user_id: a,
            other_id: b,
        })
        .await,
    )
    .unwrap()
    .is_friend
}

#[tokio::test]
async fn follow_rules_and_codes() {
    use rpc::RelationActionType as A;
    let (c, _dir) = start().await;
    assert_eq!(act(&c, 1, 2, A::FOLLOW).await, 10000);
    assert_eq!(act(&c, 1, 2, A::FOLLOW).await, Code::Duplicate.as_i32());
    assert_eq!(act(&c, 1, 1, A::FOLLOW).await, Code::Duplicate.as_i32());
    assert_eq!(act(&c, 2, 1, A::UNFOLLOW).await, Code::Duplicate.as_i32());
    assert_eq!(
        act(&c, 1, 2, rpc::RelationActionType::from(9)).await,
        Code::Param.as_i32()
    );
    assert_eq!(act(&c, 0, 2, A::FOLLOW).await, Code::Param.as_i32());
    assert!(!friends(&c, 1, 2).await);
    assert_eq!(act(&c, 2, 1, A::FOLLOW).await, 10000);
    assert!(friends(&c, 1, 2).await);
    assert!(friends(&c, 2, 1).await);
    assert!(!friends(&c, 1, 1).await);
    assert_eq!(act(&c, 1, 2, A::UNFOLLOW).await, 10000);
    assert!(!friends(&c, 1, 2).await);
    assert_eq!(act(&c, 1, 2, A::UNFOLLOW).await, Code::Duplicate.as_i32());
}

#[tokio::test]
async fn lists_with_totals() {
    use rpc::{ListKind as K, RelationActionType as A};
    let (c, _dir) = start().await;
    for to in 2..=6 {
        assert_eq!(act(&c, 1, to, A::FOLLOW).await, 10000);
    }
    for from in [3, 5] {
        assert_eq!(act(&c, from, 1, A::FOLLOW).await, 10000);
    }
    assert_eq!(list(&c, 1, K::FOLLOWING, 0, 2).await, (vec![6, 5], 5));
    assert_eq!(list(&c, 1, K::FOLLOWING, 2, 2).await, (vec![2], 5));
    assert_eq!(list(&c, 1, K::FOLLOWING, 3, 2).await, (vec![], 5));
    assert_eq!(list(&c, 1, K::FOLLOWER, 0, 10).await, (vec![5, 3], 2));
    assert_eq!(list(&c, 1, K::FRIEND, 0, 10).await, (vec![5, 3], 2));
    assert_eq!(list(&c, 1, K::FRIEND, 1, 1).await, (vec![3], 2));
    assert_eq!(list(&c, 4, K::FRIEND, 0, 10).await, (vec![], 0));
    assert_eq!(list(&c, 4, K::FOLLOWER, 0, 10).await, (vec![1], 1));

    let bad = from_rpc(
        c.list_relations(rpc::ListRelationsRequest {
            user_id: 1,
            kind: K::FOLLOWING,
            page: Page {
                page_num: -1,
                page_size: 10,
            },
        })
        .await,
    );
    assert_eq!(bad.unwrap_err().code, Code::Param);
    let bad = from_rpc(
        c.list_relations(rpc::ListRelationsRequest {
            user_id: 1,
            kind: rpc::ListKind::from(7),
            page: Page {
                page_num: 0,
                page_size: 10,
            },
        })
        .await,
    );
    assert_eq!(bad.unwrap_err().code, Code::Param);
}
