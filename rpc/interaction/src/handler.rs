//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::{Error, to_rpc};
use volo_gen::{base, interaction as rpc};
use volo_thrift::{MaybeException, ServerError};

use crate::{
    service::{Comment, InteractionError, InteractionService, LikeAction, VideoStats},
    store::{InteractionStore, Target},
};

pub struct Handler<S> {
    svc: Arc<InteractionService<S>>,
}

impl<S> Handler<S> {
    pub fn new(svc: Arc<InteractionService<S>>) -> Self {
        Self { svc }
    }

    /// The domain service behind the handler (tests settle counters through it).
    pub fn service(&self) -> &Arc<InteractionService<S>> {
        &self.svc
    }
}

fn to_comment(c: Comment) -> base::Comment {
    base::Comment {
        id: c.record.id,
        user_id: c.record.user_id,
        video_id: c.record.video_id,
        parent_id: c.record.parent_id,
        like_count: c.like_count,
        child_count: c.child_count,
        content: c.record.content.into(),
        created_at: c.record.created_at,
        updated_at: c.record.updated_at,
        deleted_at: c.record.deleted_at,
    }
}

fn to_stats(s: VideoStats) -> base::VideoStats {
    base::VideoStats {
        video_id: s.video_id,
        like_count: s.like_count,
        comment_count: s.comment_count,
        is_liked: s.is_liked,
    }
}

fn target(kind: rpc::TargetKind, id: i64) -> Result<Target, InteractionError> {
    match kind {
        rpc::TargetKind::VIDEO => Ok(Target::Video(id)),
        rpc::TargetKind::COMMENT => Ok(Target::Comment(id)),
        _ => Err(InteractionError::InvalidInput(
            "kind must be VIDEO (1) or COMMENT (2)",
        )),
    }
}

fn action(a: rpc::LikeActionType) -> Result<LikeAction, InteractionError> {
    match a {
        rpc::LikeActionType::LIKE => Ok(LikeAction::Like),
        rpc::LikeActionType::CANCEL => Ok(LikeAction::Cancel),
        _ => Err(InteractionError::InvalidInput(
            "action must be LIKE (1) or CANCEL (2)",
        )),
    }
}

/// The caller, target and action of a like request.
fn like_item(req: &rpc::LikeActionRequest) -> Result<(i64, Target, LikeAction), InteractionError> {
    Ok((
        req.caller_id,
        target(req.kind, req.target_id)?,
        action(req.action)?,
    ))
}

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl<S: InteractionStore> rpc::InteractionService for Handler<S> {
    async fn like_action(
        &self,
        req: rpc::LikeActionRequest,
    ) -> Answer<rpc::LikeActionResponse, rpc::InteractionServiceLikeActionException> {
        let r = match like_item(&req) {
            Ok((caller, t, a)) => self.svc.like(caller, t, a).await,
            Err(e) => Err(e),
        };
        to_rpc(r.map(|()| rpc::LikeActionResponse {}).map_err(Into::into))
    }

    async fn like_actions(
        &self,
        req: rpc::LikeActionsRequest,
    ) -> Answer<rpc::LikeActionsResponse, rpc::InteractionServiceLikeActionsException> {
        let items = req.items.iter().map(like_item).collect();
        let r = self.svc.like_many(items).await.map(|results| {
            let results = results
                .into_iter()
                .map(|r| rpc::LikeActionResult {
                    err: r.err().map(|e| Error::from(e).into()),
                })
                .collect();
            rpc::LikeActionsResponse { results }
        });
        to_rpc(r.map_err(Into::into))
    }

    async fn like_list(
        &self,
        req: rpc::LikeListRequest,
    ) -> Answer<rpc::LikeListResponse, rpc::InteractionServiceLikeListException> {
        let r = self
            .svc
            .like_list(req.user_id, req.page.page_num, req.page.page_size)
            .await;
        to_rpc(
            r.map(|(video_ids, total)| rpc::LikeListResponse { video_ids, total })
                .map_err(Into::into),
        )
    }

    async fn comment_publish(
        &self,
        req: rpc::CommentPublishRequest,
    ) -> Answer<rpc::CommentPublishResponse, rpc::InteractionServiceCommentPublishException> {
        let r = self
            .svc
            .publish(req.caller_id, req.video_id, req.parent_id, &req.content)
            .await;
        to_rpc(
            r.map(|c| rpc::CommentPublishResponse {
                comment: to_comment(c),
            })
            .map_err(Into::into),
        )
    }

    async fn comment_list(
        &self,
        req: rpc::CommentListRequest,
    ) -> Answer<rpc::CommentListResponse, rpc::InteractionServiceCommentListException> {
        let r = self
            .svc
            .list(
                req.video_id,
                req.parent_id,
                req.page.page_num,
                req.page.page_size,
            )
            .await;
        to_rpc(
            r.map(|(comments, total)| rpc::CommentListResponse {
                comments: comments.into_iter().map(to_comment).collect(),
                total,
            })
            .map_err(Into::into),
        )
    }

    async fn comment_delete(
        &self,
        req: rpc::CommentDeleteRequest,
    ) -> Answer<rpc::CommentDeleteResponse, rpc::InteractionServiceCommentDeleteException> {
        let r = self.svc.delete(req.caller_id, req.comment_id).await;
        to_rpc(r.map(|_| rpc::CommentDeleteResponse {}).map_err(Into::into))
    }

    async fn m_get_video_stats(
        &self,
        req: rpc::MGetVideoStatsRequest,
    ) -> Answer<rpc::MGetVideoStatsResponse, rpc::InteractionServiceMGetVideoStatsException> {
        let r = self.svc.video_stats(req.caller_id, &req.video_ids).await;
        to_rpc(
            r.map(|stats| rpc::MGetVideoStatsResponse {
                stats: stats.into_iter().map(to_stats).collect(),
            })
            .map_err(Into::into),
        )
    }
}
