//! The generated Thrift trait: convert the request, call the domain, convert back.

use fanone_errno::{Error, to_rpc};
use volo_gen::social as rpc;
use volo_thrift::{MaybeException, ServerError};

pub struct Handler;

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl rpc::SocialService for Handler {
    async fn relation_action(
        &self,
        _req: rpc::RelationActionRequest,
    ) -> Answer<rpc::RelationActionResponse, rpc::SocialServiceRelationActionException> {
        to_rpc(Err(Error::internal(
            "social.RelationAction is not built yet",
        )))
    }

    async fn list_relations(
        &self,
        _req: rpc::ListRelationsRequest,
    ) -> Answer<rpc::ListRelationsResponse, rpc::SocialServiceListRelationsException> {
        to_rpc(Err(Error::internal(
            "social.ListRelations is not built yet",
        )))
    }

    async fn is_friend(
        &self,
        _req: rpc::IsFriendRequest,
    ) -> Answer<rpc::IsFriendResponse, rpc::SocialServiceIsFriendException> {
        to_rpc(Err(Error::internal("social.IsFriend is not built yet")))
    }
}
