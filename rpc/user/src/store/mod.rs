//! Persistence of accounts behind a small trait, so the domain logic does not know SQL.

mod entity;
mod migration;
mod sea;
mod session_entity;

use std::future::Future;

pub use migration::Migrator;
pub use sea::SeaUserStore;

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub avatar_url: String,
    /// Base32 TOTP secret once MFA is bound.
    pub mfa_secret: Option<String>,
    /// Last TOTP time step accepted (replay protection).
    pub mfa_last_step: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A refresh-token family: created at login, moved to a new generation on each
/// explicit refresh, revoked at logout or on reuse of an old refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub user_id: i64,
    /// The generation the newest refresh token carries.
    pub generation: i64,
    /// The generation before the last rotation (0 = none), taken for a short grace.
    pub previous_generation: i64,
    pub rotated_at: i64,
    pub revoked_at: Option<i64>,
    pub expires_at: i64,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique key already taken")]
    Duplicate,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

pub trait UserStore: Send + Sync + 'static {
    /// Insert a new account; `Duplicate` when the username is taken.
    fn insert(&self, user: &UserRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn by_id(&self, id: i64)
    -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    fn by_username(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// The accounts among `ids` that exist, in no particular order.
    fn by_ids(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Vec<UserRecord>, StoreError>> + Send;

    /// Ids of accounts whose username contains `fragment` (case-insensitive), oldest first.
    fn ids_by_username_fragment(
        &self,
        fragment: &str,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Set the avatar and answer the one it replaced (`""` when there was none),
    /// read and replaced atomically: of two updates racing, each answers the URL it
    /// replaced. `None` when the account does not exist.
    fn set_avatar(
        &self,
        id: i64,
        url: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Bind (or re-bind) MFA with `secret`, recording `step` as used.
    fn set_mfa(
        &self,
        id: i64,
        secret: &str,
        step: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn insert_session(
        &self,
        session: &SessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn session(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Atomically move a live session from generation `from` to `to`. False when
    /// the generation already moved on or the session is revoked.
    fn rotate_session(
        &self,
        id: i64,
        from: i64,
        to: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revoke a session; false when it does not exist or was already revoked.
    fn revoke_session(
        &self,
        id: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Atomically record `step` as used if it is newer than the last one.
    /// False means the code was already used (a replay).
    fn advance_mfa_step(
        &self,
        id: i64,
        step: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
