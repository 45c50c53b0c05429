//! The interaction service over a real Thrift socket: what a gateway or a Kitex
//! client sees.

use std::sync::Arc;

use fanone_errno::{Code, from_rpc};
use fanone_interaction::{InteractionService, SeaInteractionStore};
use volo_gen::{
    base,
    interaction::{
        self as rpc, InteractionServiceClient, InteractionServiceClientBuilder, LikeActionType,
        TargetKind,
    },
};

struct Svc {
    client: InteractionServiceClient,
    domain: Arc<InteractionService<SeaInteractionStore>>,
    _dir: tempfile::TempDir,
}

/// The service with no background settler: tests settle explicitly.
async fn start() -> Svc {
    let dir = tempfile::tempdir().unwrap();
    let url = fanone_testkit::sqlite_database(dir.path(), "interaction");
    let tuning = fanone_config::Tuning {
        settle_interval_ms: 0,
        ..Default::default()
    };
    let rpc = fanone_testkit::rpc_kit().await;
    let handler = fanone_interaction::open(
        &fanone_config::ShardSpec::single(url),
        1,
        &tuning,
        &Default::default(),
        rpc.jobs(),
    )
    .await
    .unwrap();
    let domain = handler.service().clone();
    fanone_testkit::serve_thrift(
        &rpc,
        "interaction",
        volo_gen::interaction::InteractionServiceServer::new(handler),
    )
    .await;
    let client = rpc.client(InteractionServiceClientBuilder::new("interaction"));
    Svc {
        client,
        domain,
        _dir: dir,
    }
}

fn page(page_num: i64, page_size: i64) -> base::Page {
    base::Page {
        page_num,
        page_size,
    }
}

impl Svc {
    async fn like(
        &self,
        caller: i64,
        kind: TargetKind,
        target: i64,
        action: LikeActionType,
    ) -> Result<(), Code> {
        let req = rpc::LikeActionRequest {
            caller_id: caller,
            kind,
            target_id: target,
            action,
        };
        from_rpc(self.client.like_action(req).await)
            .map(drop)
            .map_err(|e| e.code)
    }

    /// `LikeActions` of `(caller, kind, target, action)` items: each item's code, or
    /// the whole call's.
    async fn likes(
        &self,
        items: &[(i64, TargetKind, i64, LikeActionType)],
    ) -> Result<Vec<Result<(), Code>>, Code> {
        let items = items
            .iter()
            .map(
                |&(caller_id, kind, target_id, action)| rpc::LikeActionRequest {
                    caller_id,
                    kind,
                    target_id,
                    action,
                },
            )
            .collect();
        let r = from_rpc(
            self.client
                .like_actions(rpc::LikeActionsRequest { items })
                .await,
        )
        .map_err(|e| e.code)?;
        Ok(r.results
            .into_iter()
            .map(|r| match r.err {
                None => Ok(()),
                Some(e) => Err(Code::from_i32(e.code)),
            })
            .collect())
    }

    async fn comment(
        &self,
        caller: i64,
        video: Option<i64>,
        parent: Option<i64>,
        text: &str,
    ) -> Result<base::Comment, Code> {
        let req = rpc::CommentPublishRequest {
            caller_id: caller,
            video_id: video,
            parent_id: parent,
            content: text.to_owned().into(),
        };
        from_rpc(self.client.comment_publish(req).await)
            .map(|r| r.comment)
            .map_err(|e| e.code)
    }

    async fn list(
        &self,
        video: Option<i64>,
        parent: Option<i64>,
        p: base::Page,
    ) -> Result<(Vec<base::Comment>, i64), Code> {
        let req = rpc::CommentListRequest {
            video_id: video,
            parent_id: parent,
            page: p,
        };
        from_rpc(self.client.comment_list(req).await)
            .map(|r| (r.comments, r.total))
            .map_err(|e| e.code)
    }

    async fn delete(&self, caller: i64, id: i64) -> Result<(), Code> {
        let req = rpc::CommentDeleteRequest {
            caller_id: caller,
            comment_id: id,
        };
        from_rpc(self.client.comment_delete(req).await)
            .map(drop)
            .map_err(|e| e.code)
    }

    async fn stats(&self, caller: i64, ids: Vec<i64>) -> Vec<(i64, i64, i64, bool)> {
        let req = rpc::MGetVideoStatsRequest {
            caller_id: caller,
            video_ids: ids,
        };
        from_rpc(self.client.m_get_video_stats(req).await)
            .unwrap()
            .stats
            .into_iter()
            .map(|s| (s.video_id, s.like_count, s.comment_count, s.is_liked))
            .collect()
    }
}

use LikeActionType as A;
use TargetKind as K;

#[tokio::test]
async fn likes_are_idempotent_and_counted_exactly() {
    let s = start().await;
    assert_eq!(s.like(1, K::VIDEO, 10, A::LIKE).await, Ok(()));
    assert_eq!(s.like(1, K::VIDEO, 10, A::LIKE).await, Err(Code::Duplicate));
    assert_eq!(s.like(2, K::VIDEO, 10, A::LIKE).await, Ok(()));
    assert_eq!(
        s.like(3, K::VIDEO, 10, A::CANCEL).await,
        Err(Code::Duplicate)
    );
    assert_eq!(s.like(1, K::VIDEO, 11, A::LIKE).await, Ok(()));
    // bad enums, ids and callers are parameter errors
    assert_eq!(s.like(1, K::from(3), 10, A::LIKE).await, Err(Code::Param));
    assert_eq!(
        s.like(1, K::VIDEO, 10, LikeActionType::from(0)).await,
        Err(Code::Param)
    );
    assert_eq!(s.like(1, K::VIDEO, 0, A::LIKE).await, Err(Code::Param));
    assert_eq!(s.like(0, K::VIDEO, 10, A::LIKE).await, Err(Code::Param));
    // a comment like needs the comment
    assert_eq!(
        s.like(1, K::COMMENT, 4242, A::LIKE).await,
        Err(Code::NotFound)
    );

    // stats: one per requested id, in order, zeros for unknown, is_liked per caller
    let want = vec![
        (11, 1, 0, true),
        (10, 2, 0, true),
        (99, 0, 0, false),
        (10, 2, 0, true),
    ];
    assert_eq!(s.stats(1, vec![11, 10, 99, 10]).await, want);
    assert_eq!(
        s.stats(2, vec![11, 10]).await,
        vec![(11, 1, 0, false), (10, 2, 0, true)]
    );
    assert_eq!(
        s.stats(0, vec![10]).await,
        vec![(10, 2, 0, false)],
        "anonymous likes nothing"
    );
    assert!(s.stats(1, vec![]).await.is_empty());
    let too_many = from_rpc(
        s.client
            .m_get_video_stats(rpc::MGetVideoStatsRequest {
                caller_id: 1,
                video_ids: (1..=501).collect(),
            })
            .await,
    );
    assert_eq!(too_many.unwrap_err().code, Code::Param);

    // exact before and after settling
    assert!(s.domain.settle().await.unwrap() > 0);
    assert_eq!(s.stats(1, vec![11, 10, 99, 10]).await, want);
    assert_eq!(s.like(2, K::VIDEO, 10, A::CANCEL).await, Ok(()));
    assert_eq!(
        s.like(2, K::VIDEO, 10, A::CANCEL).await,
        Err(Code::Duplicate)
    );
    assert_eq!(s.stats(2, vec![10]).await, vec![(10, 1, 0, false)]);
    s.domain.settle().await.unwrap();
    assert_eq!(s.stats(2, vec![10]).await, vec![(10, 1, 0, false)]);

    // like list: newest like first, with total
    let list = |user: i64, p: base::Page| {
        let c = s.client.clone();
        async move {
            from_rpc(
                c.like_list(rpc::LikeListRequest {
                    user_id: user,
                    page: p,
                })
                .await,
            )
            .map(|r| (r.video_ids, r.total))
            .map_err(|e| e.code)
        }
    };
    assert_eq!(list(1, page(0, 10)).await, Ok((vec![11, 10], 2)));
    assert_eq!(list(1, page(1, 1)).await, Ok((vec![10], 2)));
    assert_eq!(list(1, page(5, 10)).await, Ok((vec![], 2)));
    assert_eq!(list(2, page(0, 10)).await, Ok((vec![], 0)));
    assert_eq!(list(1, page(-1, 10)).await, Err(Code::Param));
    assert_eq!(list(1, page(0, 0)).await, Err(Code::Param));
}

#[tokio::test]
async fn many_likes_in_one_call_are_each_answered_alone() {
    let s = start().await;
    let parent = s.comment(7, Some(10), None, "likeable").await.unwrap();
    assert_eq!(s.like(1, K::VIDEO, 10, A::LIKE).await, Ok(()));
    let answers = s
        .likes(&[
            (2, K::VIDEO, 10, A::LIKE),
            (1, K::VIDEO, 10, A::LIKE),
            (3, K::VIDEO, 11, A::CANCEL),
            (1, K::VIDEO, 11, A::LIKE),
            (1, K::from(3), 10, A::LIKE),
            (1, K::VIDEO, 10, LikeActionType::from(0)),
            (1, K::VIDEO, 0, A::LIKE),
            (0, K::VIDEO, 10, A::LIKE),
            (1, K::COMMENT, 4242, A::LIKE),
            (1, K::COMMENT, parent.id, A::LIKE),
            (4, K::VIDEO, 12, A::LIKE),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers,
        vec![
            Ok(()),
            Err(Code::Duplicate),
            Err(Code::Duplicate),
            Ok(()),
            Err(Code::Param),
            Err(Code::Param),
            Err(Code::Param),
            Err(Code::Param),
            Err(Code::NotFound),
            Ok(()),
            Ok(()),
        ]
    );
    // each item as LikeAction answers it alone (the same code and message)
    let alone = from_rpc(
        s.client
            .like_action(rpc::LikeActionRequest {
                caller_id: 1,
                kind: K::COMMENT,
                target_id: 4242,
                action: A::LIKE,
            })
            .await,
    )
    .unwrap_err();
    let batched = from_rpc(
        s.client
            .like_actions(rpc::LikeActionsRequest {
                items: vec![rpc::LikeActionRequest {
                    caller_id: 1,
                    kind: K::COMMENT,
                    target_id: 4242,
                    action: A::LIKE,
                }],
            })
            .await,
    )
    .unwrap()
    .results
    .remove(0)
    .err
    .expect("an error");
    assert_eq!(
        (batched.code, &*batched.msg),
        (alone.code.as_i32(), &*alone.msg)
    );

    // the same like twice in one call: one is done, the other finds it done
    let twice = s
        .likes(&[(5, K::VIDEO, 12, A::LIKE), (5, K::VIDEO, 12, A::LIKE)])
        .await
        .unwrap();
    assert_eq!(twice.iter().filter(|r| r.is_ok()).count(), 1, "{twice:?}");
    assert!(twice.contains(&Err(Code::Duplicate)), "{twice:?}");
    assert_eq!(
        s.stats(2, vec![10, 11, 12]).await,
        vec![(10, 2, 1, true), (11, 1, 0, false), (12, 2, 0, false)]
    );

    // none is an empty answer; more than LIKE_BATCH_MAX fail the whole call
    assert_eq!(s.likes(&[]).await, Ok(vec![]));
    let too_many: Vec<_> = (1..=fanone_interaction::LIKE_BATCH_MAX as i64 + 1)
        .map(|u| (u, K::VIDEO, 20, A::LIKE))
        .collect();
    assert_eq!(s.likes(&too_many).await, Err(Code::Param));
    assert_eq!(s.stats(1, vec![20]).await, vec![(20, 0, 0, false)]);
}

#[tokio::test]
async fn comments_replies_counts_and_cascading_delete() {
    let s = start().await;
    const V: i64 = 77;
    let top = s.comment(1, Some(V), None, "  first!  ").await.unwrap();
    assert_eq!(
        (
            top.video_id,
            top.parent_id,
            top.content.as_str(),
            top.like_count
        ),
        (V, 0, "first!", 0)
    );
    assert!(top.deleted_at.is_none() && top.created_at > 0);
    let other = s.comment(2, Some(V), None, "second").await.unwrap();
    let reply = s.comment(2, None, Some(top.id), "a reply").await.unwrap();
    assert_eq!((reply.video_id, reply.parent_id), (V, top.id));
    let nested = s.comment(3, None, Some(reply.id), "deeper").await.unwrap();
    let reply2 = s.comment(3, None, Some(top.id), "another").await.unwrap();

    // input rules
    for (video, parent, text) in [
        (Some(V), None, ""),
        (Some(V), None, " \n\t "),
        (None, None, "no target"),
        (Some(V), Some(top.id), "both"),
    ] {
        assert_eq!(
            s.comment(1, video, parent, text).await.unwrap_err(),
            Code::Param,
            "{video:?} {parent:?} {text:?}"
        );
    }
    let long = "长".repeat(1001);
    assert_eq!(
        s.comment(1, Some(V), None, &long).await.unwrap_err(),
        Code::Param
    );
    assert!(
        s.comment(1, Some(V), None, &"长".repeat(1000))
            .await
            .is_ok()
    );
    assert_eq!(
        s.comment(1, None, Some(4242), "to nobody")
            .await
            .unwrap_err(),
        Code::NotFound
    );

    // likes on comments show in the lists
    for user in [5, 6, 7] {
        s.like(user, K::COMMENT, top.id, A::LIKE).await.unwrap();
    }
    s.like(5, K::COMMENT, reply.id, A::LIKE).await.unwrap();

    let (items, total) = s.list(Some(V), None, page(0, 10)).await.unwrap();
    assert_eq!(total, 3);
    let got: Vec<(i64, i64, i64)> = items
        .iter()
        .map(|c| (c.id, c.like_count, c.child_count))
        .collect();
    assert_eq!(got[1..], [(other.id, 0, 0), (top.id, 3, 2)], "newest first");
    let (replies, total) = s.list(None, Some(top.id), page(0, 10)).await.unwrap();
    let got: Vec<(i64, i64, i64)> = replies
        .iter()
        .map(|c| (c.id, c.like_count, c.child_count))
        .collect();
    assert_eq!(total, 2);
    assert_eq!(got, [(reply.id, 1, 1), (reply2.id, 0, 0)], "oldest first");
    // paging edges
    assert_eq!(
        s.list(None, Some(top.id), page(1, 1)).await.unwrap().0[0].id,
        reply2.id
    );
    assert_eq!(
        s.list(None, Some(top.id), page(2, 1)).await.unwrap(),
        (vec![], 2)
    );
    assert_eq!(
        s.list(Some(V), None, page(0, 1000)).await.unwrap().0.len(),
        3,
        "page size is capped, not refused"
    );
    assert_eq!(
        s.list(None, None, page(0, 10)).await.unwrap_err(),
        Code::Param
    );
    assert_eq!(
        s.list(Some(V), Some(top.id), page(0, 10))
            .await
            .unwrap_err(),
        Code::Param
    );
    assert_eq!(
        s.list(Some(V), None, page(-1, 10)).await.unwrap_err(),
        Code::Param
    );
    assert_eq!(
        s.list(None, Some(4242), page(0, 10)).await.unwrap_err(),
        Code::NotFound
    );
    assert_eq!(
        s.list(Some(4242), None, page(0, 10)).await.unwrap(),
        (vec![], 0)
    );
    assert_eq!(s.stats(0, vec![V]).await, vec![(V, 0, 6, false)]);

    // delete: only the author; unknown is not found
    assert_eq!(s.delete(1, reply.id).await, Err(Code::Forbidden));
    assert_eq!(s.delete(1, 4242).await, Err(Code::NotFound));
    s.domain.settle().await.unwrap();
    // deleting the reply removes its own reply too
    assert_eq!(s.delete(2, reply.id).await, Ok(()));
    assert_eq!(s.delete(2, reply.id).await, Err(Code::NotFound));
    assert_eq!(s.stats(0, vec![V]).await, vec![(V, 0, 4, false)]);
    let (replies, total) = s.list(None, Some(top.id), page(0, 10)).await.unwrap();
    assert_eq!((replies.len(), total), (1, 1));
    let (items, _) = s.list(Some(V), None, page(0, 10)).await.unwrap();
    let t = items.iter().find(|c| c.id == top.id).unwrap();
    assert_eq!((t.like_count, t.child_count), (3, 1));
    assert_eq!(
        s.like(5, K::COMMENT, reply.id, A::LIKE).await,
        Err(Code::NotFound)
    );
    assert_eq!(
        s.comment(1, None, Some(nested.id), "late")
            .await
            .unwrap_err(),
        Code::NotFound
    );

    // deleting the top comment removes the thread; exact after settling as before
    assert_eq!(s.delete(1, top.id).await, Ok(()));
    assert_eq!(s.stats(0, vec![V]).await, vec![(V, 0, 2, false)]);
    s.domain.settle().await.unwrap();
    assert_eq!(s.stats(0, vec![V]).await, vec![(V, 0, 2, false)]);
    let (items, total) = s.list(Some(V), None, page(0, 10)).await.unwrap();
    assert_eq!(total, 2);
    assert!(items.iter().all(|c| c.id != top.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_likes_by_many_users() {
    let s = Arc::new(start().await);
    const V: i64 = 5;
    let settler = {
        let d = s.domain.clone();
        tokio::spawn(async move {
            loop {
                d.settle().await.ok();
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for user in 1..=60i64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            // two racing likes by the same user: exactly one wins
            let (a, b) = tokio::join!(
                s.like(user, K::VIDEO, V, A::LIKE),
                s.like(user, K::VIDEO, V, A::LIKE)
            );
            assert!(
                matches!(
                    (a, b),
                    (Ok(()), Err(Code::Duplicate)) | (Err(Code::Duplicate), Ok(()))
                ),
                "user {user}: {a:?} {b:?}"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    settler.abort();
    assert_eq!(s.stats(1, vec![V]).await, vec![(V, 60, 0, true)]);
    s.domain.settle().await.unwrap();
    assert_eq!(s.stats(61, vec![V]).await, vec![(V, 60, 0, false)]);
}
