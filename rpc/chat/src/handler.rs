//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::to_rpc;
use volo_gen::{base, chat as rpc};
use volo_thrift::{MaybeException, ServerError};

use crate::{
    service::ChatService,
    store::{ChatStore, MessageRecord},
};

pub struct Handler<S> {
    svc: Arc<ChatService<S>>,
}

impl<S> Handler<S> {
    pub fn new(svc: Arc<ChatService<S>>) -> Self {
        Self { svc }
    }
}

fn to_message(m: MessageRecord) -> base::Message {
    base::Message {
        id: m.id,
        from_user_id: m.from_user_id,
        to_user_id: m.to_user_id,
        content: m.content.into(),
        created_at: m.created_at,
        read: m.read_at.is_some(),
    }
}

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl<S: ChatStore> rpc::ChatService for Handler<S> {
    async fn send(
        &self,
        req: rpc::SendRequest,
    ) -> Answer<rpc::SendResponse, rpc::ChatServiceSendException> {
        let r = self
            .svc
            .send(req.caller_id, req.to_user_id, &req.content)
            .await;
        to_rpc(
            r.map(|m| rpc::SendResponse {
                message: to_message(m),
            })
            .map_err(Into::into),
        )
    }

    async fn history(
        &self,
        req: rpc::HistoryRequest,
    ) -> Answer<rpc::HistoryResponse, rpc::ChatServiceHistoryException> {
        let r = self
            .svc
            .history(
                req.caller_id,
                req.peer_id,
                req.page.page_num,
                req.page.page_size,
            )
            .await;
        to_rpc(
            r.map(|(items, total)| rpc::HistoryResponse {
                messages: items.into_iter().map(to_message).collect(),
                total,
            })
            .map_err(Into::into),
        )
    }

    async fn unread(
        &self,
        req: rpc::UnreadRequest,
    ) -> Answer<rpc::UnreadResponse, rpc::ChatServiceUnreadException> {
        let r = self.svc.unread(req.caller_id, req.peer_id).await;
        to_rpc(
            r.map(|items| rpc::UnreadResponse {
                messages: items.into_iter().map(to_message).collect(),
            })
            .map_err(Into::into),
        )
    }

    async fn mark_read(
        &self,
        req: rpc::MarkReadRequest,
    ) -> Answer<rpc::MarkReadResponse, rpc::ChatServiceMarkReadException> {
        let r = self.svc.mark_read(req.caller_id, &req.message_ids).await;
        to_rpc(r.map(|_| rpc::MarkReadResponse {}).map_err(Into::into))
    }
}
