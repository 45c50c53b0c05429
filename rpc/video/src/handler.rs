//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::to_rpc;
use volo_gen::{base, video as rpc};
use volo_thrift::{MaybeException, ServerError};

use crate::{
    service::{NewVideo, VideoItem, VideoService},
    store::{SearchFilter, VideoStore},
};

pub struct Handler<S> {
    svc: Arc<VideoService<S>>,
}

impl<S> Handler<S> {
    pub fn new(svc: Arc<VideoService<S>>) -> Self {
        Self { svc }
    }
}

fn to_video(item: VideoItem) -> base::Video {
    let v = item.video;
    base::Video {
        id: v.id,
        user_id: v.user_id,
        video_url: v.video_url.into(),
        cover_url: v.cover_url.into(),
        title: v.title.into(),
        description: v.description.into(),
        visit_count: item.visit_count,
        created_at: v.created_at,
        updated_at: v.updated_at,
        deleted_at: None,
    }
}

fn to_videos(items: Vec<VideoItem>) -> Vec<base::Video> {
    items.into_iter().map(to_video).collect()
}

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl<S: VideoStore> rpc::VideoService for Handler<S> {
    async fn publish(
        &self,
        req: rpc::PublishRequest,
    ) -> Answer<rpc::PublishResponse, rpc::VideoServicePublishException> {
        let r = self
            .svc
            .publish(NewVideo {
                caller_id: req.caller_id,
                title: &req.title,
                description: &req.description,
                video_url: &req.video_url,
                cover_url: &req.cover_url,
                video_id: req.video_id,
            })
            .await;
        to_rpc(
            r.map(|v| rpc::PublishResponse { video: to_video(v) })
                .map_err(Into::into),
        )
    }

    async fn list_by_user(
        &self,
        req: rpc::ListByUserRequest,
    ) -> Answer<rpc::ListByUserResponse, rpc::VideoServiceListByUserException> {
        let r = self
            .svc
            .list_by_user(req.user_id, req.page.page_num, req.page.page_size)
            .await;
        to_rpc(
            r.map(|(items, total)| rpc::ListByUserResponse {
                videos: to_videos(items),
                total,
            })
            .map_err(Into::into),
        )
    }

    async fn feed(
        &self,
        req: rpc::FeedRequest,
    ) -> Answer<rpc::FeedResponse, rpc::VideoServiceFeedException> {
        let r = self
            .svc
            .feed(req.latest_time, req.page.page_num, req.page.page_size)
            .await;
        to_rpc(
            r.map(|items| rpc::FeedResponse {
                videos: to_videos(items),
            })
            .map_err(Into::into),
        )
    }

    async fn popular(
        &self,
        req: rpc::PopularRequest,
    ) -> Answer<rpc::PopularResponse, rpc::VideoServicePopularException> {
        let r = self
            .svc
            .popular(req.page.page_num, req.page.page_size)
            .await;
        to_rpc(
            r.map(|(items, total)| rpc::PopularResponse {
                videos: to_videos(items),
                total,
            })
            .map_err(Into::into),
        )
    }

    async fn search(
        &self,
        req: rpc::SearchRequest,
    ) -> Answer<rpc::SearchResponse, rpc::VideoServiceSearchException> {
        let filter = SearchFilter {
            keywords: Some(req.keywords.to_string()),
            from: req.from_date,
            to: req.to_date,
            user_ids: req.user_ids,
        };
        let r = self
            .svc
            .search(filter, req.page.page_num, req.page.page_size)
            .await;
        to_rpc(
            r.map(|(items, total)| rpc::SearchResponse {
                videos: to_videos(items),
                total,
            })
            .map_err(Into::into),
        )
    }

    async fn m_get_videos(
        &self,
        req: rpc::MGetVideosRequest,
    ) -> Answer<rpc::MGetVideosResponse, rpc::VideoServiceMGetVideosException> {
        let r = self.svc.mget(&req.video_ids).await;
        to_rpc(
            r.map(|items| rpc::MGetVideosResponse {
                videos: to_videos(items),
            })
            .map_err(Into::into),
        )
    }

    async fn visit(
        &self,
        req: rpc::VisitRequest,
    ) -> Answer<rpc::VisitResponse, rpc::VideoServiceVisitException> {
        let r = self.svc.visit(req.video_id).await;
        to_rpc(
            r.map(|visit_count| rpc::VisitResponse { visit_count })
                .map_err(Into::into),
        )
    }
}
