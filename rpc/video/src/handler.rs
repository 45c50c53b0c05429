//! The generated Thrift trait: convert the request, call the domain, convert back.

use fanone_errno::{Error, to_rpc};
use volo_gen::video as rpc;
use volo_thrift::{MaybeException, ServerError};

pub struct Handler;

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl rpc::VideoService for Handler {
    async fn publish(
        &self,
        _req: rpc::PublishRequest,
    ) -> Answer<rpc::PublishResponse, rpc::VideoServicePublishException> {
        to_rpc(Err(Error::internal("video.Publish is not built yet")))
    }

    async fn list_by_user(
        &self,
        _req: rpc::ListByUserRequest,
    ) -> Answer<rpc::ListByUserResponse, rpc::VideoServiceListByUserException> {
        to_rpc(Err(Error::internal("video.ListByUser is not built yet")))
    }

    async fn feed(
        &self,
        _req: rpc::FeedRequest,
    ) -> Answer<rpc::FeedResponse, rpc::VideoServiceFeedException> {
        to_rpc(Err(Error::internal("video.Feed is not built yet")))
    }

    async fn popular(
        &self,
        _req: rpc::PopularRequest,
    ) -> Answer<rpc::PopularResponse, rpc::VideoServicePopularException> {
        to_rpc(Err(Error::internal("video.Popular is not built yet")))
    }

    async fn search(
        &self,
        _req: rpc::SearchRequest,
    ) -> Answer<rpc::SearchResponse, rpc::VideoServiceSearchException> {
        to_rpc(Err(Error::internal("video.Search is not built yet")))
    }

    async fn m_get_videos(
        &self,
        _req: rpc::MGetVideosRequest,
    ) -> Answer<rpc::MGetVideosResponse, rpc::VideoServiceMGetVideosException> {
        to_rpc(Err(Error::internal("video.MGetVideos is not built yet")))
    }

    async fn visit(
        &self,
        _req: rpc::VisitRequest,
    ) -> Answer<rpc::VisitResponse, rpc::VideoServiceVisitException> {
        to_rpc(Err(Error::internal("video.Visit is not built yet")))
    }
}
