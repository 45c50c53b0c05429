//! What every handler shares: service clients, token issuer, object store, limits.

use std::{sync::Arc, time::Duration};

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
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest non-file request body (form, JSON) and largest text field.
    pub max_body_bytes: u64,
    pub max_avatar_bytes: u64,
    pub max_video_bytes: u64,
    pub max_search_image_bytes: u64,
    /// Largest chunk of a chunked upload (`/video/publish/uploading`).
    pub max_chunk_bytes: u64,
    /// A request body that sends nothing for this long is abandoned.
    pub body_idle_timeout: Duration,
    /// A viewer counts one visit of a video per this interval.
    pub visit_interval: Duration,
    /// Live WebSocket connections of one user on this gateway.
    pub ws_max_per_user: usize,
    /// Back-off of failed logins per client address.
    pub client_backoff: fanone_limit::Backoff,
}

impl Limits {
    /// The largest file a route takes; 0 = the route takes no file.
    pub fn file_limit(&self, path: &str) -> u64 {
        match path.trim_end_matches('/') {
            "/user/avatar/upload" => self.max_avatar_bytes,
            "/video/publish" => self.max_video_bytes,
            "/user/image/search" => self.max_search_image_bytes,
            "/video/publish/uploading" => self.max_chunk_bytes,
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
    /// Existence checks of single videos and users, concurrent ones sharing one
    /// batch call (`compose::video_exists`, `compose::user_exists`).
    pub videos_exist: crate::compose::Exists,
    pub users_exist: crate::compose::Exists,
    /// Likes of concurrent requests, sent together (`compose::like`).
    pub likes: crate::compose::Likes,
    /// Where uploads announce stored images (for the image service's index).
    pub events: fanone_events::EventBus,
    pub jwt: Jwt,
    pub store: LocalStore,
    /// Parts of chunked uploads (`.uploads` in the store: never served by `/static`).
    pub parts: LocalStore,
    /// Limits as configured at start; the sizes are overridden by `live`.
    limits: Limits,
    /// Run-time settings the config center may change (sizes, feature switches).
    live: Arc<arc_swap::ArcSwap<fanone_config::Live>>,
    /// Base URL of this gateway as clients see it, without a trailing slash.
    pub public_url: String,
    pub ids: Snowflake,
    /// Live WebSocket chat connections of this gateway.
    pub hub: Arc<crate::ws::Hub>,
    /// Failed logins per client address, and once-per-interval visit claims (in Redis
    /// when there is one, so every gateway shares them).
    pub throttle: fanone_limit::Throttle,
}

pub type State = Arc<AppState>;

/// Who views a video, for visit counting: the user if known, else the address.
pub fn viewer(user: Option<i64>, addr: &str) -> String {
    match user {
        Some(id) => format!("u:{id}"),
        None => format!("a:{addr}"),
    }
}

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
        let client_backoff = limits.client_backoff;
        let user = rpc.client(UserServiceClientBuilder::new("user"));
        let video = rpc.client(VideoServiceClientBuilder::new("video"));
        let interaction = rpc.client(InteractionServiceClientBuilder::new("interaction"));
        Self {
            videos_exist: crate::compose::videos_exist(video.clone()),
            users_exist: crate::compose::users_exist(user.clone()),
            likes: crate::compose::likes(video.clone(), interaction.clone()),
            user,
            video,
            interaction,
            social: rpc.client(SocialServiceClientBuilder::new("social")),
            chat: rpc.client(ChatServiceClientBuilder::new("chat")),
            image: rpc.client(ImageServiceClientBuilder::new("image")),
            events,
            jwt,
            parts: store.hidden("uploads"),
            store,
            limits,
            live: rpc.live().clone(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            ids: Snowflake::new(worker_id),
            hub: Arc::default(),
            throttle: fanone_limit::Throttle::new(Default::default(), client_backoff),
        }
    }

    /// Keep the failed-login counts and visit claims in `store` (Redis in a cluster,
    /// so every gateway shares them) instead of this process's memory.
    pub fn with_limit_store(mut self, store: fanone_limit::AnyStore) -> Self {
        self.throttle = fanone_limit::Throttle::new(store, self.limits.client_backoff);
        self
    }

    /// The limits in force now (sizes may have changed at run time).
    pub fn limits(&self) -> Limits {
        let live = self.live.load();
        Limits {
            max_body_bytes: live.max_body_bytes,
            max_avatar_bytes: live.max_avatar_bytes,
            max_video_bytes: live.max_video_bytes,
            max_search_image_bytes: live.max_search_image_bytes,
            ..self.limits
        }
    }

    /// The feature switches in force now.
    pub fn features(&self) -> fanone_config::Features {
        self.live.load().features.clone()
    }

    /// Announce a stored image (avatar, cover) so the image service indexes it.
    /// Durable once this returns; a failure is logged, not fatal to the upload
    /// (`fanone image reindex` rebuilds the index from the image table).
    pub async fn announce_image(&self, url: &str, kind: &str, owner_id: i64) {
        let event = fanone_events::ImageStored {
            url: url.to_owned(),
            kind: kind.to_owned(),
            owner_id,
            stored_at: fanone_id::now_ms(),
        };
        if let Err(e) = self
            .events
            .publish(fanone_events::TOPIC_IMAGE_STORED, &event)
            .await
        {
            tracing::error!(error = %e, url, "image event not published");
        }
    }

    /// Announce that a stored image was taken down (`reason`: a replaced avatar, a
    /// deleted video's cover), after the write that caused it, so the image service
    /// drops it from the index and later deletes its object. Durable once this
    /// returns; a failure is logged, not fatal to the request (the image then stays
    /// searchable: the image service only knows of removals announced to it).
    pub async fn announce_removed(&self, url: &str, reason: &str) {
        let event = fanone_events::ImageRemoved {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Err(e) = self
            .events
            .publish(fanone_events::TOPIC_IMAGE_REMOVED, &event)
            .await
        {
            tracing::error!(error = %e, url, reason, "image removal event not published");
        }
    }

    /// Count one visit of `video_id` by `viewer` (`u:<id>` or `a:<address>`), at
    /// most once per viewer and video per `visit_interval`. Returns whether it
    /// counted.
    pub async fn visit(&self, video_id: i64, viewer: &str) -> Result<bool, fanone_errno::Error> {
        let key = format!("visit:{video_id}:{viewer}");
        if !self
            .throttle
            .first_in(&key, self.limits().visit_interval)
            .await
        {
            return Ok(false);
        }
        fanone_errno::from_rpc(
            self.video
                .visit(volo_gen::video::VisitRequest { video_id })
                .await,
        )?;
        Ok(true)
    }

    /// The public URL of a stored object.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/static/{key}", self.public_url)
    }
}
