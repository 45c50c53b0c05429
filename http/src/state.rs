//! What every handler shares: service clients, token issuer, object store, limits.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use fanone_auth::Jwt;
use fanone_id::Snowflake;
use fanone_storage::LocalStore;
use volo_gen::{
    chat::{ChatServiceClient, ChatServiceClientBuilder},
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
}

impl Limits {
    /// The largest file a route takes; 0 = the route takes no file.
    pub fn file_limit(&self, path: &str) -> u64 {
        match path.trim_end_matches('/') {
            "/user/avatar/upload" => self.max_avatar_bytes,
            "/video/publish" => self.max_video_bytes,
            _ => 0,
        }
    }
}

/// Addresses of the services the gateway calls.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub user: SocketAddr,
    pub video: SocketAddr,
    pub interaction: SocketAddr,
    pub social: SocketAddr,
    pub chat: SocketAddr,
    pub rpc_timeout: Duration,
}

pub struct AppState {
    pub user: UserServiceClient,
    pub video: VideoServiceClient,
    pub interaction: InteractionServiceClient,
    pub social: SocialServiceClient,
    pub chat: ChatServiceClient,
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
    pub fn new(
        upstreams: &Upstreams,
        jwt: Jwt,
        store: LocalStore,
        limits: Limits,
        public_url: String,
    ) -> Self {
        let t = Some(upstreams.rpc_timeout);
        Self {
            user: UserServiceClientBuilder::new("user")
                .address(upstreams.user)
                .rpc_timeout(t)
                .build(),
            video: VideoServiceClientBuilder::new("video")
                .address(upstreams.video)
                .rpc_timeout(t)
                .build(),
            interaction: InteractionServiceClientBuilder::new("interaction")
                .address(upstreams.interaction)
                .rpc_timeout(t)
                .build(),
            social: SocialServiceClientBuilder::new("social")
                .address(upstreams.social)
                .rpc_timeout(t)
                .build(),
            chat: ChatServiceClientBuilder::new("chat")
                .address(upstreams.chat)
                .rpc_timeout(t)
                .build(),
            jwt,
            store,
            limits,
            public_url: public_url.trim_end_matches('/').to_owned(),
            ids: Snowflake::new(0),
            hub: Arc::default(),
        }
    }

    /// The public URL of a stored object.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/static/{key}", self.public_url)
    }
}
