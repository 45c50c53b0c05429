//! The rules of the user domain, over the `UserStore` trait.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::Engine;
use std::time::Duration;

use fanone_errno::{Code, Error};
use fanone_id::{Snowflake, now_ms};
use fanone_limit::{AnyStore, Backoff, Throttle};
use totp_rs::{Secret, Totp};

use crate::store::{SessionRecord, StoreError, UserRecord, UserStore};

/// What others may read of an account (no password hash, no MFA secret): the value
/// the profile cache holds, under `user:profile:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub id: i64,
    pub username: String,
    pub avatar_url: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub mfa_enabled: bool,
}

impl From<&UserRecord> for Profile {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            avatar_url: u.avatar_url.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            mfa_enabled: u.mfa_secret.is_some(),
        }
    }
}

pub const USERNAME_MAX_CHARS: usize = 32;
pub const PASSWORD_MIN_CHARS: usize = 6;
pub const PASSWORD_MAX_CHARS: usize = 64;
/// Largest batch accepted by `MGetUsers`.
pub const MGET_MAX: usize = 500;
/// Name (key prefix) of the profile cache.
const PROFILE_CACHE: &str = "user:profile";
const TOTP_STEP_SECS: u64 = 30;
const TOTP_ISSUER: &str = "FanOne";

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    InvalidInput(&'static str),
    #[error("username already exists")]
    UsernameTaken,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("MFA code required")]
    MfaRequired,
    #[error("MFA code invalid")]
    MfaInvalid,
    #[error("user not found")]
    NotFound,
    #[error("too many failed attempts, retry after {0} s")]
    Throttled(u64),
    #[error(
        "MFA is already bound: send current_code (a code of the bound authenticator) or password to replace it"
    )]
    RebindNeedsProof,
    #[error("{0}")]
    Session(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing: {0}")]
    Hash(String),
}

/// The one mapping of user errors to contract codes.
impl From<UserError> for Error {
    fn from(e: UserError) -> Self {
        match e {
            UserError::InvalidInput(msg) => Error::param(msg),
            UserError::UsernameTaken => Error::new(Code::UserExists, e.to_string()),
            UserError::BadCredentials => Error::new(Code::BadCredentials, e.to_string()),
            UserError::MfaRequired | UserError::MfaInvalid => Error::new(Code::Mfa, e.to_string()),
            UserError::NotFound => Error::not_found("user"),
            UserError::Throttled(secs) => Error::throttled(secs),
            UserError::RebindNeedsProof => Error::new(Code::Mfa, e.to_string()),
            UserError::Session(msg) => Error::auth(msg),
            UserError::Store(_) | UserError::Hash(_) => Error::internal(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, UserError>;

pub struct UserService<S> {
    store: S,
    ids: Snowflake,
    /// A real hash to verify against when the username is unknown, so that the
    /// answer time does not reveal which usernames exist.
    dummy_hash: String,
    /// Failed passwords per account and failed MFA codes per user, enforced here
    /// (where they are checked) so every gateway shares the count.
    throttle: Throttle,
    /// How long a rotated-out refresh token is still taken.
    refresh_grace_ms: i64,
    /// Profiles by id (`user:profile`), invalidated by every change of one.
    profiles: fanone_cache::Cache<Profile>,
}

/// The throttle key of an account's password failures (known or not).
fn account_key(username: &str) -> String {
    format!("login:{}", username.to_lowercase())
}

/// The throttle key of a user's MFA code failures.
fn mfa_key(id: i64) -> String {
    format!("mfa:{id}")
}

impl<S: UserStore> UserService<S> {
    pub fn new(store: S, node_id: u16) -> Self {
        Self::with_limits(store, node_id, Backoff::default(), Duration::from_secs(30))
    }

    pub fn with_limits(store: S, node_id: u16, backoff: Backoff, refresh_grace: Duration) -> Self {
        let dummy_hash = hash_password("not-a-real-password").unwrap_or_default();
        Self {
            store,
            ids: Snowflake::new(node_id),
            dummy_hash,
            throttle: Throttle::new(AnyStore::default(), backoff),
            refresh_grace_ms: i64::try_from(refresh_grace.as_millis()).unwrap_or(i64::MAX),
            profiles: fanone_cache::Caches::off().cache(PROFILE_CACHE),
        }
    }

    /// Count failed passwords and MFA codes in `store` (Redis in a cluster, so every
    /// replica sees every failure) instead of this process's memory.
    pub fn with_limit_store(mut self, store: AnyStore) -> Self {
        self.throttle = Throttle::new(store, *self.throttle.policy());
        self
    }

    /// Read profiles through `caches` (see `fanone_cache`).
    pub fn with_cache(mut self, caches: &fanone_cache::Caches) -> Self {
        self.profiles = caches.cache(PROFILE_CACHE);
        self
    }

    async fn check(&self, key: &str) -> Result<()> {
        self.throttle
            .check(key)
            .await
            .map_err(|b| UserError::Throttled(b.secs()))
    }

    /// The password of `username` is `password`; failures are counted per account
    /// (unknown names too, so the answers do not reveal which names exist).
    async fn check_password(&self, username: &str, password: &str) -> Result<UserRecord> {
        let key = account_key(username);
        self.check(&key).await?;
        let user = self.store.by_username(username).await?;
        let hash = user
            .as_ref()
            .map_or(self.dummy_hash.clone(), |u| u.password_hash.clone());
        let ok = verify_blocking(password.to_owned(), hash).await?;
        match user {
            Some(u) if ok => {
                self.throttle.succeeded(&key).await;
                Ok(u)
            }
            _ => {
                let _ = self.throttle.failed(&key).await;
                tracing::info!(username, "login failed");
                Err(UserError::BadCredentials)
            }
        }
    }

    /// `code` is a fresh code of `secret` for `user_id`; failures are counted per user.
    async fn check_code(&self, user_id: i64, secret: &str, code: &str) -> Result<()> {
        let key = mfa_key(user_id);
        self.check(&key).await?;
        let fresh = match check_totp(secret, code.trim()) {
            // a code of a time step already used is a replay
            Some(step) => self.store.advance_mfa_step(user_id, step).await?,
            None => false,
        };
        if fresh {
            self.throttle.succeeded(&key).await;
            Ok(())
        } else {
            let _ = self.throttle.failed(&key).await;
            tracing::info!(user_id, "MFA code refused");
            Err(UserError::MfaInvalid)
        }
    }

    pub async fn register(&self, username: &str, password: &str) -> Result<i64> {
        validate_username(username)?;
        validate_password(password)?;
        if self.store.by_username(username).await?.is_some() {
            return Err(UserError::UsernameTaken);
        }
        let hash = hash_blocking(password.to_owned()).await?;
        let now = now_ms();
        let user = UserRecord {
            id: self.ids.next_id(),
            username: username.to_owned(),
            password_hash: hash,
            avatar_url: String::new(),
            mfa_secret: None,
            mfa_last_step: 0,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert(&user).await {
            Ok(()) => {
                tracing::info!(user_id = user.id, "user registered");
                Ok(user.id)
            }
            // lost a race with a concurrent registration of the same name
            Err(StoreError::Duplicate) => Err(UserError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn login(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<UserRecord> {
        if username.is_empty() || password.is_empty() {
            return Err(UserError::InvalidInput(
                "username and password are required",
            ));
        }
        let user = self.check_password(username, password).await?;
        if let Some(secret) = &user.mfa_secret {
            let code = code.map(str::trim).filter(|c| !c.is_empty());
            let Some(code) = code else {
                return Err(UserError::MfaRequired);
            };
            self.check_code(user.id, secret, code).await?;
        }
        Ok(user)
    }

    pub async fn get(&self, id: i64) -> Result<UserRecord> {
        self.store.by_id(id).await?.ok_or(UserError::NotFound)
    }

    /// The public profile of `id`, through the cache.
    pub async fn profile(&self, id: i64) -> Result<Profile> {
        self.profiles
            .get(id, |ids| self.load_profiles(ids))
            .await?
            .ok_or(UserError::NotFound)
    }

    /// Profiles for `ids`, in the order asked, skipping unknown ids and repeats;
    /// through the cache.
    pub async fn mget(&self, ids: &[i64]) -> Result<Vec<Profile>> {
        if ids.len() > MGET_MAX {
            return Err(UserError::InvalidInput("too many ids in one batch"));
        }
        let found = self
            .profiles
            .get_many(ids, |ids| self.load_profiles(ids))
            .await?;
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        Ok(ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| found.get(id).cloned())
            .collect())
    }

    async fn load_profiles(
        &self,
        ids: Vec<i64>,
    ) -> std::result::Result<std::collections::HashMap<i64, Profile>, StoreError> {
        Ok(self
            .store
            .by_ids(&ids)
            .await?
            .iter()
            .map(|u| (u.id, Profile::from(u)))
            .collect())
    }

    pub async fn search_ids(&self, fragment: &str, limit: i32) -> Result<Vec<i64>> {
        let fragment = fragment.trim();
        if fragment.is_empty() {
            return Ok(Vec::new());
        }
        let limit = u64::try_from(limit.clamp(1, 10_000)).unwrap_or(1);
        Ok(self.store.ids_by_username_fragment(fragment, limit).await?)
    }

    /// Set the avatar; the user and the avatar URL it replaced (if there was one
    /// and it was another).
    pub async fn update_avatar(&self, id: i64, url: &str) -> Result<(UserRecord, Option<String>)> {
        if url.is_empty() || url.len() > 1024 {
            return Err(UserError::InvalidInput("avatar url must be 1..=1024 bytes"));
        }
        let Some(previous) = self.store.set_avatar(id, url, now_ms()).await? else {
            return Err(UserError::NotFound);
        };
        self.profiles.invalidate(&[id]).await;
        let previous = Some(previous).filter(|p| !p.is_empty() && p != url);
        Ok((self.get(id).await?, previous))
    }

    /// A fresh secret and its QR code. Binding happens only in `mfa_bind`.
    pub async fn mfa_qrcode(&self, id: i64) -> Result<(String, String)> {
        let user = self.get(id).await?;
        let secret = Secret::generate();
        let totp = totp(secret.clone(), Some(&user.username))?;
        let png = totp
            .to_qr_png()
            .map_err(|e| UserError::Hash(format!("qr: {e}")))?;
        let qrcode = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        );
        Ok((secret.to_base32(), qrcode))
    }

    /// Bind `secret` (proven by `code`). Over a bound factor, also a proof of the
    /// account: `current_code` of the bound factor, or the `password`.
    pub async fn mfa_bind(
        &self,
        id: i64,
        secret: &str,
        code: &str,
        current_code: Option<&str>,
        password: Option<&str>,
    ) -> Result<()> {
        let secret = secret.trim().to_ascii_uppercase();
        if secret.is_empty() || code.trim().is_empty() {
            return Err(UserError::InvalidInput("secret and code are required"));
        }
        let user = self.get(id).await?;
        if let Some(bound) = &user.mfa_secret {
            let current_code = current_code.map(str::trim).filter(|c| !c.is_empty());
            let password = password.filter(|p| !p.is_empty());
            match (current_code, password) {
                (Some(c), _) => self.check_code(id, bound, c).await?,
                (None, Some(pw)) => drop(self.check_password(&user.username, pw).await?),
                (None, None) => return Err(UserError::RebindNeedsProof),
            }
        }
        let step = check_totp(&secret, code.trim()).ok_or(UserError::MfaInvalid)?;
        let bound = self.store.set_mfa(id, &secret, step, now_ms()).await?;
        self.profiles.invalidate(&[id]).await;
        if !bound {
            return Err(UserError::NotFound);
        }
        tracing::info!(user_id = id, "MFA bound");
        Ok(())
    }
}

/// Refresh-token sessions (docs/security.md): one family per login, rotated on
/// explicit refresh, revoked at logout or when a rotated-out token comes back.
impl<S: UserStore> UserService<S> {
    /// A new session; returns (session id, first generation).
    pub async fn start_session(&self, user_id: i64, expires_at: i64) -> Result<(i64, i64)> {
        self.get(user_id).await?;
        let now = now_ms();
        let s = SessionRecord {
            id: self.ids.next_id(),
            user_id,
            generation: self.ids.next_id(),
            previous_generation: 0,
            rotated_at: now,
            revoked_at: None,
            expires_at,
            created_at: now,
        };
        self.store.insert_session(&s).await?;
        Ok((s.id, s.generation))
    }

    /// Use a refresh token of (`session_id`, `generation`). Returns the generation
    /// the client should hold now: a new one when `rotate`, else the current one.
    /// A generation rotated out more than the grace ago is reuse (a stolen or
    /// replayed token): the whole session is revoked.
    pub async fn refresh_session(
        &self,
        user_id: i64,
        session_id: i64,
        generation: i64,
        rotate: bool,
    ) -> Result<i64> {
        let now = now_ms();
        let s = self
            .store
            .session(session_id)
            .await?
            .filter(|s| s.user_id == user_id)
            .ok_or(UserError::Session("unknown session; log in again"))?;
        if s.revoked_at.is_some() {
            return Err(UserError::Session("session ended; log in again"));
        }
        if s.expires_at <= now {
            return Err(UserError::Session("session expired; log in again"));
        }
        if generation == s.generation {
            if !rotate {
                return Ok(generation);
            }
            let next = self.ids.next_id();
            if self
                .store
                .rotate_session(session_id, generation, next, now)
                .await?
            {
                return Ok(next);
            }
            // a concurrent refresh rotated it first: answer like a reuse in grace
            let s = self
                .store
                .session(session_id)
                .await?
                .ok_or(UserError::Session("unknown session; log in again"))?;
            return match s.revoked_at {
                None => Ok(s.generation),
                Some(_) => Err(UserError::Session("session ended; log in again")),
            };
        }
        if generation == s.previous_generation && now - s.rotated_at <= self.refresh_grace_ms {
            return Ok(s.generation);
        }
        self.store.revoke_session(session_id, now).await?;
        tracing::warn!(
            user_id,
            session_id,
            "reuse of a rotated refresh token: session revoked"
        );
        Err(UserError::Session(
            "refresh token was already used; session revoked, log in again",
        ))
    }

    /// Logout: the session's refresh tokens stop working.
    pub async fn end_session(&self, user_id: i64, session_id: i64) -> Result<()> {
        match self.store.session(session_id).await? {
            Some(s) if s.user_id == user_id => {
                self.store.revoke_session(session_id, now_ms()).await?;
                Ok(())
            }
            _ => Err(UserError::Session("unknown session")),
        }
    }
}

fn validate_username(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 {
        return Err(UserError::InvalidInput("username is required"));
    }
    if n > USERNAME_MAX_CHARS {
        return Err(UserError::InvalidInput(
            "username must be at most 32 characters",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(UserError::InvalidInput(
            "username may contain only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(())
}

fn validate_password(pw: &str) -> Result<()> {
    let n = pw.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&n) {
        return Err(UserError::InvalidInput(
            "password must be 6 to 64 characters",
        ));
    }
    if pw.chars().any(char::is_control) {
        return Err(UserError::InvalidInput(
            "password must not contain control characters",
        ));
    }
    Ok(())
}

fn hash_password(pw: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Argon2 is CPU-bound by design: keep it off the async workers.
async fn hash_blocking(pw: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| UserError::Hash(e.to_string()))?
}

async fn verify_blocking(pw: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .map_err(|e| UserError::Hash(e.to_string()))
}

fn totp(secret: Secret, account: Option<&str>) -> Result<Totp> {
    let mut b = totp_rs::Builder::new()
        .with_secret(secret)
        .with_step_duration(TOTP_STEP_SECS)
        .with_skew(1);
    if let Some(account) = account {
        b = b
            .with_account_name(account.to_owned())
            .with_issuer(Some(TOTP_ISSUER));
    }
    b.build()
        .map_err(|_| UserError::InvalidInput("secret must be base32 of at least 128 bits"))
}

/// The time step a code matches (±1 step of skew), if any.
fn check_totp(secret_b32: &str, code: &str) -> Option<i64> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    let totp = totp(secret, None).ok()?;
    let now = fanone_id::now_ms().max(0) as u64 / 1000;
    totp.check(code, now)
        .and_then(|counter| i64::try_from(counter).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "Bob_1", "a.b-c", "张三", "x"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "with space",
            "a'; DROP TABLE users;--",
            "tab\t",
            &"x".repeat(33),
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(validate_password("secret1").is_ok());
        assert!(validate_password("short").is_err());
        assert!(validate_password(&"p".repeat(65)).is_err());
        assert!(validate_password("new\nline").is_err());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash_password("hunter22").unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"hunter22", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"hunter23", &parsed)
                .is_err()
        );
    }

    #[test]
    fn totp_codes_check() {
        let secret = Secret::generate().to_base32();
        let t = totp(Secret::try_from_base32(&secret).unwrap(), None).unwrap();
        let code = t.generate_current().to_string();
        assert!(check_totp(&secret, &code).is_some());
        assert!(check_totp(&secret, "000000").is_none() || code == "000000");
        assert!(check_totp("not base32!", &code).is_none());
        assert!(
            check_totp("GEZDGNBV", &code).is_none(),
            "too short a secret"
        );
    }
}
