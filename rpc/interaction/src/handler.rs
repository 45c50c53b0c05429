//! The generated Thrift trait: convert the request, call the domain, convert back.

use fanone_errno::{Error, to_rpc};
use volo_gen::interaction as rpc;
use volo_thrift::{MaybeException, ServerError};

pub struct Handler;

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl rpc::InteractionService for Handler {
    async fn like_action(
        &self,
        _req: rpc::LikeActionRequest,
    ) -> Answer<rpc::LikeActionResponse, rpc::InteractionServiceLikeActionException> {
        to_rpc(Err(Error::internal(
            "interaction.LikeAction is not built yet",
        )))
    }

    async fn like_list(
        &self,
        _req: rpc::LikeListRequest,
    ) -> Answer<rpc::LikeListResponse, rpc::InteractionServiceLikeListException> {
        to_rpc(Err(Error::internal(
            "interaction.LikeList is not built yet",
        )))
    }

    async fn comment_publish(
        &self,
        _req: rpc::CommentPublishRequest,
    ) -> Answer<rpc::CommentPublishResponse, rpc::InteractionServiceCommentPublishException> {
        to_rpc(Err(Error::internal(
            "interaction.CommentPublish is not built yet",
        )))
    }

    async fn comment_list(
        &self,
        _req: rpc::CommentListRequest,
    ) -> Answer<rpc::CommentListResponse, rpc::InteractionServiceCommentListException> {
        to_rpc(Err(Error::internal(
            "interaction.CommentList is not built yet",
        )))
    }

    async fn comment_delete(
        &self,
        _req: rpc::CommentDeleteRequest,
    ) -> Answer<rpc::CommentDeleteResponse, rpc::InteractionServiceCommentDeleteException> {
        to_rpc(Err(Error::internal(
            "interaction.CommentDelete is not built yet",
        )))
    }

    async fn m_get_video_stats(
        &self,
        _req: rpc::MGetVideoStatsRequest,
    ) -> Answer<rpc::MGetVideoStatsResponse, rpc::InteractionServiceMGetVideoStatsException> {
        to_rpc(Err(Error::internal(
            "interaction.MGetVideoStats is not built yet",
        )))
    }
}
