//! Internal trust (DESIGN.md rule 5): every Thrift call carries a short-lived
//! credential that proves it comes from inside the system, and every server refuses a
//! call without a valid one before any handler runs.
//!
//! The credential is `v1:<caller>:<unix seconds>:<hex HMAC-SHA256>` over
//! `v1:<caller>:<unix seconds>` with the shared `rpc.internal_secret`, sent as the
//! transient TTHeader metainfo key [`METAINFO_KEY`] (on the wire
//! `RPC_TRANSIT_FANONE_CREDENTIAL`, which a Kitex client sets with
//! `metainfo.WithValue(ctx, "FANONE_CREDENTIAL", token)`). It is accepted for
//! `rpc.credential_ttl_secs` either side of the server's clock. See docs/security.md.

use std::{
    fmt,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, Mac};
use metainfo::Forward as _;
use motore::{layer::Layer, service::Service};
use sha2::Sha256;
use volo::context::Context as _;
use volo_thrift::{
    ApplicationException, ApplicationExceptionKind, ServerError,
    context::{ClientContext, ServerContext},
};

/// The metainfo key of the credential (transient: it travels one hop).
pub const METAINFO_KEY: &str = "FANONE_CREDENTIAL";
const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no internal credential")]
    Missing,
    #[error("malformed internal credential")]
    Malformed,
    #[error("internal credential expired or from the future (clock skew?)")]
    Stale,
    #[error("internal credential has a bad signature")]
    BadSignature,
}

/// Issues and checks credentials with one shared secret.
#[derive(Clone)]
pub struct Credential {
    key: Arc<HmacSha256>,
    ttl_secs: u64,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Credential {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        // HMAC takes keys of any length
        let key = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        Self {
            key: Arc::new(key),
            ttl_secs: ttl_secs.max(1),
        }
    }

    /// A credential for `caller` (a component name), valid now.
    pub fn issue(&self, caller: &str) -> String {
        self.issue_at(caller, now_secs())
    }

    fn issue_at(&self, caller: &str, at: u64) -> String {
        let payload = format!("{VERSION}:{caller}:{at}");
        let mut mac = (*self.key).clone();
        mac.update(payload.as_bytes());
        let sig = mac.finalize().into_bytes();
        let mut out = payload;
        out.push(':');
        for b in sig {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// The caller named by a valid credential.
    pub fn verify<'t>(&self, token: Option<&'t str>) -> Result<&'t str, CredentialError> {
        self.verify_at(token, now_secs())
    }

    fn verify_at<'t>(&self, token: Option<&'t str>, now: u64) -> Result<&'t str, CredentialError> {
        let token = token.ok_or(CredentialError::Missing)?;
        if token.len() > 256 {
            return Err(CredentialError::Malformed);
        }
        let (payload, sig_hex) = token.rsplit_once(':').ok_or(CredentialError::Malformed)?;
        let mut parts = payload.splitn(3, ':');
        let (Some(VERSION), Some(caller), Some(at)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CredentialError::Malformed);
        };
        let at: u64 = at.parse().map_err(|_| CredentialError::Malformed)?;
        let sig = decode_hex(sig_hex).ok_or(CredentialError::Malformed)?;
        let mut mac = (*self.key).clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| CredentialError::BadSignature)?;
        if now.abs_diff(at) > self.ttl_secs {
            return Err(CredentialError::Stale);
        }
        Ok(caller)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Client side: puts a fresh credential into every call's metainfo.
#[derive(Clone)]
pub struct CredentialLayer {
    credential: Credential,
    caller: Arc<str>,
}

impl CredentialLayer {
    pub fn new(credential: Credential, caller: &str) -> Self {
        Self {
            credential,
            caller: caller.into(),
        }
    }
}

impl<S> Layer<S> for CredentialLayer {
    type Service = WithCredential<S>;

    fn layer(self, inner: S) -> Self::Service {
        WithCredential { inner, layer: self }
    }
}

#[derive(Clone)]
pub struct WithCredential<S> {
    inner: S,
    layer: CredentialLayer,
}

impl<S, Req> Service<ClientContext, Req> for WithCredential<S>
where
    S: Service<ClientContext, Req> + Send + Sync,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;

    async fn call(&self, cx: &mut ClientContext, req: Req) -> Result<S::Response, S::Error> {
        let token = self.layer.credential.issue(&self.layer.caller);
        metainfo::METAINFO.with(|m| m.borrow_mut().set_transient(METAINFO_KEY, token));
        self.inner.call(cx, req).await
    }
}

/// Server side: refuses a call without a valid credential before any handler runs.
#[derive(Clone)]
pub struct RequireCredentialLayer {
    credential: Credential,
}

impl RequireCredentialLayer {
    pub fn new(credential: Credential) -> Self {
        Self { credential }
    }
}

impl<S> Layer<S> for RequireCredentialLayer {
    type Service = RequireCredential<S>;

    fn layer(self, inner: S) -> Self::Service {
        RequireCredential {
            inner,
            credential: self.credential,
        }
    }
}

#[derive(Clone)]
pub struct RequireCredential<S> {
    inner: S,
    credential: Credential,
}

impl<S, Req> Service<ServerContext, Req> for RequireCredential<S>
where
    S: Service<ServerContext, Req, Error = ServerError> + Send + Sync,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = ServerError;

    async fn call(&self, cx: &mut ServerContext, req: Req) -> Result<S::Response, ServerError> {
        let token = metainfo::METAINFO
            .try_with(|m| m.borrow().get_upstream(METAINFO_KEY))
            .ok()
            .flatten();
        if let Err(e) = self.credential.verify(token.as_deref()) {
            tracing::warn!(
                peer = ?cx.rpc_info().caller().address(),
                method = %cx.rpc_info().method(),
                error = %e,
                "thrift call refused: not an internal caller"
            );
            return Err(ServerError::Application(ApplicationException::new(
                ApplicationExceptionKind::UNKNOWN,
                format!("refused: {e}"),
            )));
        }
        // the credential is for this hop only: handlers never see it
        metainfo::METAINFO.with(|m| m.borrow_mut().del_upstream(METAINFO_KEY));
        self.inner.call(cx, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_credentials_verify_and_name_the_caller() {
        let c = Credential::new(b"0123456789abcdef0123456789abcdef", 60);
        let t = c.issue_at("gateway", 1_000_000);
        assert_eq!(c.verify_at(Some(&t), 1_000_030), Ok("gateway"));
        assert_eq!(c.verify_at(Some(&t), 999_950), Ok("gateway"), "clock skew");
    }

    #[test]
    fn forged_stale_and_malformed_credentials_are_refused() {
        let c = Credential::new(b"0123456789abcdef0123456789abcdef", 60);
        let other = Credential::new(b"another-secret-another-secret-00", 60);
        let t = other.issue_at("gateway", 1_000_000);
        assert_eq!(
            c.verify_at(Some(&t), 1_000_000),
            Err(CredentialError::BadSignature)
        );
        let t = c.issue_at("gateway", 1_000_000);
        assert_eq!(
            c.verify_at(Some(&t), 1_000_061),
            Err(CredentialError::Stale)
        );
        // a changed caller or time invalidates the signature
        let forged = t.replacen("gateway", "gatewaz", 1);
        assert_eq!(
            c.verify_at(Some(&forged), 1_000_000),
            Err(CredentialError::BadSignature)
        );
        assert_eq!(c.verify_at(None, 0), Err(CredentialError::Missing));
        for bad in [
            "",
            "v1",
            "v1:a:b:c",
            "v2:gw:1:00",
            "v1:gw:x:00",
            &"a".repeat(300),
        ] {
            assert_eq!(
                c.verify_at(Some(bad), 0),
                Err(CredentialError::Malformed),
                "{bad}"
            );
        }
    }
}
