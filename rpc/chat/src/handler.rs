//! The generated Thrift trait: convert the request, call the domain, convert back.

use fanone_errno::{Error, to_rpc};
use volo_gen::chat as rpc;
use volo_thrift::{MaybeException, ServerError};

pub struct Handler;

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl rpc::ChatService for Handler {
    async fn send(
        &self,
        _req: rpc::SendRequest,
    ) -> Answer<rpc::SendResponse, rpc::ChatServiceSendException> {
        to_rpc(Err(Error::internal("chat.Send is not built yet")))
    }

    async fn history(
        &self,
        _req: rpc::HistoryRequest,
    ) -> Answer<rpc::HistoryResponse, rpc::ChatServiceHistoryException> {
        to_rpc(Err(Error::internal("chat.History is not built yet")))
    }

    async fn unread(
        &self,
        _req: rpc::UnreadRequest,
    ) -> Answer<rpc::UnreadResponse, rpc::ChatServiceUnreadException> {
        to_rpc(Err(Error::internal("chat.Unread is not built yet")))
    }

    async fn mark_read(
        &self,
        _req: rpc::MarkReadRequest,
    ) -> Answer<rpc::MarkReadResponse, rpc::ChatServiceMarkReadException> {
        to_rpc(Err(Error::internal("chat.MarkRead is not built yet")))
    }
}
