//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::to_rpc;
use fanone_vector::VectorStore;
use volo_gen::image as rpc;
use volo_thrift::{MaybeException, ServerError};

use crate::{service::ImageService, store::ImageStore};

pub struct Handler<S, V> {
    svc: Arc<ImageService<S, V>>,
}

impl<S, V> Handler<S, V> {
    pub fn new(svc: Arc<ImageService<S, V>>) -> Self {
        Self { svc }
    }
}

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl<S: ImageStore, V: VectorStore> rpc::ImageService for Handler<S, V> {
    async fn index_image(
        &self,
        req: rpc::IndexImageRequest,
    ) -> Answer<rpc::IndexImageResponse, rpc::ImageServiceIndexImageException> {
        let r = self
            .svc
            .index(&req.url, req.kind.inner() as i16, req.owner_id, None)
            .await;
        to_rpc(
            r.map(|image_id| rpc::IndexImageResponse { image_id })
                .map_err(Into::into),
        )
    }

    async fn search_image(
        &self,
        req: rpc::SearchImageRequest,
    ) -> Answer<rpc::SearchImageResponse, rpc::ImageServiceSearchImageException> {
        let r = self.svc.search(req.data.to_vec(), req.top_k).await;
        to_rpc(
            r.map(|found| rpc::SearchImageResponse {
                hits: found
                    .into_iter()
                    .map(|f| rpc::ImageHit {
                        image_id: f.image_id,
                        url: f.url.into(),
                        score: f64::from(f.score),
                        urls: Some(f.urls.into_iter().map(Into::into).collect()),
                    })
                    .collect(),
            })
            .map_err(Into::into),
        )
    }
}
