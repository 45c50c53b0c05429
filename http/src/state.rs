//! What every handler shares: service clients, token issuer, object store, limits.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use fanone_auth::Jwt;
use fanone_id::Snowflake;
use fanone_storage::LocalStore;
use volo_gen::user::{UserServiceClient, UserServiceClientBuilder};

/// Explicit size limits of the gateway.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest non-file request body (form, JSON) and largest text field.
    pub max_body_bytes: u64,
    pub max_avatar_bytes: u64,
}

impl Limits {
    /// The largest file a route takes; 0 = the route takes no file.
    pub fn file_limit(&self, path: &str) -> u64 {
        match path.trim_end_matches('/') {
            "/user/avatar/upload" => self.max_avatar_bytes,
            _ => 0,
        }
    }
}

/// Addresses of the services the gateway calls.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub user: SocketAddr,
    pub rpc_timeout: Duration,
}

pub struct AppState {
    pub user: UserServiceClient,
    pub jwt: Jwt,
    pub store: LocalStore,
    pub limits: Limits,
    /// Base URL of this gateway as clients see it, without a trailing slash.
    pub public_url: String,
    pub ids: Snowflake,
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
        let user = UserServiceClientBuilder::new("user")
            .address(upstreams.user)
            .rpc_timeout(Some(upstreams.rpc_timeout))
            .build();
        Self {
            user,
            jwt,
            store,
            limits,
            public_url: public_url.trim_end_matches('/').to_owned(),
            ids: Snowflake::new(0),
        }
    }

    /// The public URL of a stored object.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/static/{key}", self.public_url)
    }
}
