//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::to_rpc;
use volo_gen::{base, video as rpc};
use volo_thrift::{MaybeException, ServerError};

use crate::{
    service::{NewVideo, VideoItem, VideoService},
    store::{ChunkRecord, SearchFilter, VideoStore},
    upload::{NewUpload, UploadView},
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

fn to_upload(view: UploadView) -> rpc::Upload {
    let u = view.upload;
    rpc::Upload {
        upload_id: u.id,
        user_id: u.user_id,
        title: u.title.into(),
        description: u.description.into(),
        total_size: u.total_size,
        chunk_count: u.chunk_count,
        file_md5: u.file_md5.into(),
        state: u.state as i16,
        created_at: u.created_at,
        expires_at: u.expires_at,
        chunks: view
            .chunks
            .into_iter()
            .map(|c| rpc::UploadChunk {
                number: c.number,
                size: c.size,
                md5: c.md5.into(),
            })
            .collect(),
        video_id: u.video_id,
    }
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

    async fn delete_video(
        &self,
        req: rpc::DeleteVideoRequest,
    ) -> Answer<rpc::DeleteVideoResponse, rpc::VideoServiceDeleteVideoException> {
        let r = self.svc.delete(req.caller_id, req.video_id).await;
        to_rpc(
            r.map(|(video, already_deleted)| {
                let deleted_at = video.updated_at;
                let mut video = to_video(VideoItem {
                    video,
                    visit_count: 0,
                });
                video.deleted_at = Some(deleted_at);
                rpc::DeleteVideoResponse {
                    video,
                    already_deleted,
                }
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

    async fn start_upload(
        &self,
        req: rpc::StartUploadRequest,
    ) -> Answer<rpc::StartUploadResponse, rpc::VideoServiceStartUploadException> {
        let r = self
            .svc
            .start_upload(NewUpload {
                caller_id: req.caller_id,
                title: &req.title,
                description: &req.description,
                total_size: req.total_size,
                chunk_count: req.chunk_count,
                file_md5: &req.file_md5,
            })
            .await;
        to_rpc(
            r.map(|v| rpc::StartUploadResponse {
                upload: to_upload(v),
            })
            .map_err(Into::into),
        )
    }

    async fn get_upload(
        &self,
        req: rpc::GetUploadRequest,
    ) -> Answer<rpc::GetUploadResponse, rpc::VideoServiceGetUploadException> {
        let r = self.svc.get_upload(req.caller_id, req.upload_id).await;
        to_rpc(
            r.map(|v| rpc::GetUploadResponse {
                upload: to_upload(v),
            })
            .map_err(Into::into),
        )
    }

    async fn record_chunk(
        &self,
        req: rpc::RecordChunkRequest,
    ) -> Answer<rpc::RecordChunkResponse, rpc::VideoServiceRecordChunkException> {
        let chunk = ChunkRecord {
            number: req.chunk.number,
            size: req.chunk.size,
            md5: req.chunk.md5.to_string(),
        };
        let r = self
            .svc
            .record_chunk(req.caller_id, req.upload_id, chunk)
            .await;
        to_rpc(
            r.map(
                |(already_received, received_count)| rpc::RecordChunkResponse {
                    already_received,
                    received_count,
                },
            )
            .map_err(Into::into),
        )
    }

    async fn complete_upload(
        &self,
        req: rpc::CompleteUploadRequest,
    ) -> Answer<rpc::CompleteUploadResponse, rpc::VideoServiceCompleteUploadException> {
        let r = self
            .svc
            .complete_upload(
                req.caller_id,
                req.upload_id,
                req.video_id,
                &req.video_url,
                &req.cover_url,
            )
            .await;
        to_rpc(
            r.map(|v| rpc::CompleteUploadResponse { video: to_video(v) })
                .map_err(Into::into),
        )
    }

    async fn cancel_upload(
        &self,
        req: rpc::CancelUploadRequest,
    ) -> Answer<rpc::CancelUploadResponse, rpc::VideoServiceCancelUploadException> {
        let r = self.svc.cancel_upload(req.caller_id, req.upload_id).await;
        to_rpc(r.map(|()| rpc::CancelUploadResponse {}).map_err(Into::into))
    }

    async fn expired_uploads(
        &self,
        req: rpc::ExpiredUploadsRequest,
    ) -> Answer<rpc::ExpiredUploadsResponse, rpc::VideoServiceExpiredUploadsException> {
        let r = self.svc.expired_uploads(req.limit).await;
        to_rpc(
            r.map(|upload_ids| rpc::ExpiredUploadsResponse { upload_ids })
                .map_err(Into::into),
        )
    }

    async fn purge_uploads(
        &self,
        req: rpc::PurgeUploadsRequest,
    ) -> Answer<rpc::PurgeUploadsResponse, rpc::VideoServicePurgeUploadsException> {
        let r = self.svc.purge_uploads(&req.upload_ids).await;
        to_rpc(
            r.map(|n| rpc::PurgeUploadsResponse {
                purged: i64::try_from(n).unwrap_or(i64::MAX),
            })
            .map_err(Into::into),
        )
    }
}
