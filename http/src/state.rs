//! What every handler shares: service clients, token issuer, object store, limits.

use std::sync::Arc;

use fanone_auth::Jwt;
use fanone_id::Snowflake;
use fanone_rpc::Rpc;
use fanone_storage::LocalStore;
use volo_gen::{
    chat::{ChatServiceClient, ChatServiceClientBuilder},
    image::{ImageServiceClient, ImageServiceClientBuilder},
    interaction::{InteractionServiceClient, InteractionServiceClientBuilder},
    social::{SocialServiceClient, SocialServiceClientBuilder},
    user::{UserServiceClient, UserServiceClientBuilder},
    video::{VideoServiceClient, VideoServiceClientBuilder},
};

/// Explicit size limits of the gateway.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest non-file request body (form, JSON) and largest text field.
    pub max_body_bytes: u64,
    pub max_avatar_bytes: u64,
    pub max_video_bytes: u64,
    pub max_search_image_bytes: u64,
}

impl Limits {
    /// The largest file a route takes; 0 = the route takes no file.
    pub fn file_limit(&self, path: &str) -> u64 {
        match path.trim_end_matches('/') {
            "/user/avatar/upload" => self.max_avatar_bytes,
            "/video/publish" => self.max_video_bytes,
            "/user/image/search" => self.max_search_image_bytes,
            _ => 0,
        }
    }
}

pub struct AppState {
    pub user: UserServiceClient,
    pub video: VideoServiceClient,
    pub interaction: InteractionServiceClient,
    pub social: SocialServiceClient,
    pub chat: ChatServiceClient,
    pub image: ImageServiceClient,
    /// Where uploads announce stored images (for the image service's index).
    pub events: fanone_events::EventBus,
    pub jwt: Jwt,
    pub store: LocalStore,
    pub limits: Limits,
    /// Base URL of this gateway as clients see it, without a trailing slash.
    pub public_url: String,
    pub ids: Snowflake,
    /// Live WebSocket chat connections of this gateway.
    pub hub: Arc<crate::ws::Hub>,
}

pub type State = Arc<AppState>;

impl AppState {
    /// Clients of every service come from `rpc` (discovery, round robin, breaker,
    /// credential); `worker_id` is this gateway's snowflake worker id.
    pub fn new(
        rpc: &Rpc,
        worker_id: u16,
        jwt: Jwt,
        store: LocalStore,
        limits: Limits,
        public_url: String,
        events: fanone_events::EventBus,
    ) -> Self {
        Self {
            user: rpc.client(UserServiceClientBuilder::new("user")),
            video: rpc.client(VideoServiceClientBuilder::new("video")),
            interaction: rpc.client(InteractionServiceClientBuilder::new("interaction")),
            social: rpc.client(SocialServiceClientBuilder::new("social")),
            chat: rpc.client(ChatServiceClientBuilder::new("chat")),
            image: rpc.client(ImageServiceClientBuilder::new("image")),
            events,
            jwt,
            store,
            limits,
            public_url: public_url.trim_end_matches('/').to_owned(),
            ids: Snowflake::new(worker_id),
            hub: Arc::default(),
        }
    }

    /// Announce a stored image (avatar, cover) so the image service indexes it.
    /// Durable once this returns; a failure is logged, not fatal to the upload
    /// (`fanone image reindex` rebuilds the index from the image table).
    pub async fn announce_image(&self, url: &str, kind: &str, owner_id: i64) {
        let event = fanone_events::ImageStored {
            url: url.to_owned(),
            kind: kind.to_owned(),
            owner_id,
        };
        if let Err(e) = self
            .events
            .publish(fanone_events::TOPIC_IMAGE_STORED, &event)
            .await
        {
            tracing::error!(error = %e, url, "image event not published");
        }
    }

    /// The public URL of a stored object.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/static/{key}", self.public_url)
    }
}
