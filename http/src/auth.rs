//! Identity at the edge (CONTRACT.md §2): read the token pair once per request,
//! silently renew an expired access token from a valid refresh token, and hand the
//! caller's id to handlers through the `Caller` / `MaybeCaller` extractors.

use fanone_auth::{Kind, Session, TokenError, TokenPair};
use fanone_errno::{Code, Error, from_rpc};
use http::{HeaderMap, HeaderValue, Uri, request::Parts};
use volo::context::Context;
use volo_http::{
    context::ServerContext,
    request::Request,
    response::Response,
    server::{extract::FromContext, middleware::Next},
};

use crate::{envelope::ApiError, state::State};

pub const ACCESS_HEADER: &str = "access-token";
pub const REFRESH_HEADER: &str = "refresh-token";

/// Who is calling, decided once by the middleware.
#[derive(Debug, Clone)]
pub enum Identity {
    User(i64),
    /// No usable token; the reason is what a route that needs one answers.
    Anonymous(&'static str),
}

/// The caller of a route that requires a valid token.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub i64);

/// The caller of a route where a token is optional.
#[derive(Debug, Clone, Copy)]
pub struct MaybeCaller(pub Option<i64>);

impl FromContext for Caller {
    type Rejection = ApiError;

    async fn from_context(cx: &mut ServerContext, _: &mut Parts) -> Result<Self, ApiError> {
        match cx.extensions().get::<Identity>().cloned() {
            Some(Identity::User(id)) => Ok(Caller(id)),
            Some(Identity::Anonymous(why)) => Err(Error::auth(why).into()),
            None => Err(Error::auth("missing token").into()),
        }
    }
}

impl FromContext for MaybeCaller {
    type Rejection = ApiError;

    async fn from_context(cx: &mut ServerContext, _: &mut Parts) -> Result<Self, ApiError> {
        Ok(MaybeCaller(match cx.extensions().get::<Identity>() {
            Some(Identity::User(id)) => Some(*id),
            _ => None,
        }))
    }
}

/// The client's address (the TCP peer; no port). Behind a reverse proxy this is
/// the proxy's address (docs/security.md).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromContext for ClientAddr {
    type Rejection = ApiError;

    async fn from_context(cx: &mut ServerContext, _: &mut Parts) -> Result<Self, ApiError> {
        Ok(ClientAddr(client_addr(cx)))
    }
}

pub fn client_addr(cx: &ServerContext) -> String {
    match cx.rpc_info().caller().address() {
        Some(volo::net::Address::Ip(a)) => a.ip().to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    }
}

/// Middleware: decide the identity, run the route, then attach renewed tokens.
pub async fn identify(cx: &mut ServerContext, req: Request, next: Next) -> Response {
    let state = cx.extensions().get::<State>().cloned();
    let mut renewed = None;
    if let Some(state) = state {
        let (identity, fresh) = resolve(&state, req.headers(), req.uri()).await;
        if let Identity::User(id) = identity {
            tracing::Span::current().record("user.id", id);
        }
        cx.extensions_mut().insert(identity);
        renewed = fresh;
    }
    let Ok(mut resp) = next.run(cx, req).await;
    if let Some(pair) = renewed {
        set_token_headers(resp.headers_mut(), &pair);
    }
    resp
}

/// Put a token pair in the response headers, readable by browser clients.
pub fn set_token_headers(headers: &mut HeaderMap, pair: &TokenPair) {
    for (name, value) in [
        (ACCESS_HEADER, &pair.access),
        (REFRESH_HEADER, &pair.refresh),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Access-Token, Refresh-Token"),
    );
}

async fn resolve(state: &State, headers: &HeaderMap, uri: &Uri) -> (Identity, Option<TokenPair>) {
    let access = access_token(headers).or_else(|| query_token(uri, &["token", "access_token"]));
    let refresh = refresh_token(headers).or_else(|| query_token(uri, &["refresh_token"]));
    let access_err = match access.as_deref().map(|t| state.jwt.verify(t, Kind::Access)) {
        Some(Ok(id)) => return (Identity::User(id), None),
        Some(Err(e)) => Some(e),
        None => None,
    };
    if let Some(refresh) = refresh
        && state.jwt.verify(&refresh, Kind::Refresh).is_ok()
    {
        // silent refresh: the session must still be live (the user service keeps
        // it, so logout and reuse detection hold across gateways); no rotation, so
        // clients that keep sending the refresh token they got at login keep working
        match use_refresh_token(state, &refresh, false).await {
            Ok((id, pair)) => {
                tracing::debug!(user_id = id, "access token renewed from refresh token");
                return (Identity::User(id), Some(pair));
            }
            Err(e) if e.code == Code::AuthFailed => {
                return (Identity::Anonymous("session ended; log in again"), None);
            }
            Err(_) => return (Identity::Anonymous("service unavailable"), None),
        }
    }
    let why = match access_err {
        None => "missing token",
        Some(TokenError::Expired) => "token expired",
        Some(_) => "invalid token",
    };
    (Identity::Anonymous(why), None)
}

/// Trade a refresh token for a new access token (and, with `rotate`, a refresh
/// token of a new generation; else the current one). The user service decides
/// whether the session is live and detects reuse.
pub async fn use_refresh_token(
    state: &State,
    refresh: &str,
    rotate: bool,
) -> Result<(i64, TokenPair), Error> {
    let v = state
        .jwt
        .verify_claims(refresh, Kind::Refresh)
        .map_err(|e| Error::auth(e.to_string()))?;
    if v.session.id == 0 {
        return Err(Error::auth("refresh token has no session; log in again"));
    }
    let r = from_rpc(
        state
            .user
            .refresh_session(volo_gen::user::RefreshSessionRequest {
                user_id: v.user_id,
                session_id: v.session.id,
                generation: v.session.generation,
                rotate,
            })
            .await,
    )?;
    let session = Session {
        id: v.session.id,
        generation: r.generation,
    };
    let refresh = if r.generation == v.session.generation {
        refresh.to_owned()
    } else {
        state.jwt.issue(v.user_id, Kind::Refresh, session)
    };
    Ok((
        v.user_id,
        TokenPair {
            access: state.jwt.issue(v.user_id, Kind::Access, session),
            refresh,
        },
    ))
}

fn header_token(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .map(strip_bearer)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    })
}

fn strip_bearer(v: &str) -> &str {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

/// `Access-Token`, `access_token`, or `Authorization: Bearer ...`.
pub fn access_token(headers: &HeaderMap) -> Option<String> {
    header_token(headers, &[ACCESS_HEADER, "access_token", "authorization"])
}

/// `Refresh-Token` or `refresh_token`.
pub fn refresh_token(headers: &HeaderMap) -> Option<String> {
    header_token(headers, &[REFRESH_HEADER, "refresh_token"])
}

/// Tokens in the query string are accepted only on the WebSocket handshake,
/// where browsers cannot set headers.
fn query_token(uri: &Uri, names: &[&str]) -> Option<String> {
    if uri.path().trim_end_matches('/') != "/ws" {
        return None;
    }
    let q = uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .ok()?
        .into_iter()
        .find(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc "), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bear"), "Bear");
    }

    #[test]
    fn header_variants() {
        let mut h = HeaderMap::new();
        h.insert("access_token", HeaderValue::from_static("a1"));
        h.insert("refresh_token", HeaderValue::from_static("r1"));
        assert_eq!(access_token(&h).as_deref(), Some("a1"));
        assert_eq!(refresh_token(&h).as_deref(), Some("r1"));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer a2"));
        assert_eq!(access_token(&h).as_deref(), Some("a2"));
    }

    #[test]
    fn query_tokens_only_for_ws() {
        let ws: Uri = "/ws?token=t1".parse().unwrap();
        let other: Uri = "/user/info?token=t1".parse().unwrap();
        assert_eq!(query_token(&ws, &["token"]).as_deref(), Some("t1"));
        assert_eq!(query_token(&other, &["token"]), None);
    }
}
