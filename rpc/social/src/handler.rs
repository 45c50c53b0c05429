//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::{Error, to_rpc};
use volo_gen::social as rpc;
use volo_thrift::{MaybeException, ServerError};

use crate::{
    service::{Action, ListKind, SocialService},
    store::SocialStore,
};

pub struct Handler<S> {
    svc: Arc<SocialService<S>>,
}

impl<S> Handler<S> {
    pub fn new(svc: Arc<SocialService<S>>) -> Self {
        Self { svc }
    }
}

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

fn action(a: rpc::RelationActionType) -> Result<Action, Error> {
    match a {
        rpc::RelationActionType::FOLLOW => Ok(Action::Follow),
        rpc::RelationActionType::UNFOLLOW => Ok(Action::Unfollow),
        _ => Err(Error::param("unknown relation action")),
    }
}

fn kind(k: rpc::ListKind) -> Result<ListKind, Error> {
    match k {
        rpc::ListKind::FOLLOWING => Ok(ListKind::Following),
        rpc::ListKind::FOLLOWER => Ok(ListKind::Followers),
        rpc::ListKind::FRIEND => Ok(ListKind::Friends),
        _ => Err(Error::param("unknown relation list kind")),
    }
}

impl<S: SocialStore> rpc::SocialService for Handler<S> {
    async fn relation_action(
        &self,
        req: rpc::RelationActionRequest,
    ) -> Answer<rpc::RelationActionResponse, rpc::SocialServiceRelationActionException> {
        let r = match action(req.action) {
            Ok(a) => self
                .svc
                .relation_action(req.caller_id, req.to_user_id, a)
                .await
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        to_rpc(r.map(|()| rpc::RelationActionResponse {}))
    }

    async fn list_relations(
        &self,
        req: rpc::ListRelationsRequest,
    ) -> Answer<rpc::ListRelationsResponse, rpc::SocialServiceListRelationsException> {
        let r = match kind(req.kind) {
            Ok(k) => self
                .svc
                .list(req.user_id, k, req.page.page_num, req.page.page_size)
                .await
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        to_rpc(r.map(|(user_ids, total)| rpc::ListRelationsResponse { user_ids, total }))
    }

    async fn is_friend(
        &self,
        req: rpc::IsFriendRequest,
    ) -> Answer<rpc::IsFriendResponse, rpc::SocialServiceIsFriendException> {
        let r = self.svc.is_friend(req.user_id, req.other_id).await;
        to_rpc(
            r.map(|is_friend| rpc::IsFriendResponse { is_friend })
                .map_err(Into::into),
        )
    }
}
