//! CONTRACT.md §4.1 user routes and §2 token routes. Handlers are thin: parse,
//! call the user service over Thrift, shape the answer.

use fanone_auth::{Kind, Session};
use fanone_errno::{Code, Error, from_rpc};
use fanone_storage::sniff_image;
use serde::Serialize;
use volo_gen::user as rpc;
use volo_http::{
    response::Response,
    server::route::{Router, get, post, put},
    utils::Extension,
};

use crate::{
    auth::{
        Caller, ClientAddr, MaybeCaller, access_token, refresh_token, set_token_headers,
        use_refresh_token,
    },
    envelope::{ApiError, ApiResult, ok, ok_empty},
    extract::{Headers, Input},
    state::State,
    view::UserView,
};

pub fn router() -> Router {
    Router::new()
        .route("/user/register", post(register))
        .route("/user/login", post(login))
        .route("/user/info", get(info))
        .route("/user/avatar/upload", put(avatar).post(avatar))
        .route("/auth/mfa/qrcode", get(mfa_qrcode))
        .route("/auth/mfa/bind", post(mfa_bind))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

async fn register(Extension(st): Extension<State>, input: Input) -> ApiResult {
    if !st.features().registration {
        return Err(Error::new(Code::Forbidden, "registration is closed").into());
    }
    let req = rpc::RegisterRequest {
        username: input.required("username")?.to_owned().into(),
        password: input.required("password")?.to_owned().into(),
    };
    from_rpc(st.user.register(req).await)?;
    Ok(ok_empty())
}

/// Login. Failures are throttled per account and per MFA factor by the user
/// service (shared by every gateway) and per client address here.
async fn login(
    Extension(st): Extension<State>,
    ClientAddr(addr): ClientAddr,
    input: Input,
) -> ApiResult {
    let req = rpc::LoginRequest {
        username: input.required("username")?.to_owned().into(),
        password: input.required("password")?.to_owned().into(),
        code: input
            .opt("code")
            .filter(|c| !c.is_empty())
            .map(|c| c.to_owned().into()),
    };
    let addr_key = format!("login-addr:{addr}");
    st.throttle
        .check(&addr_key)
        .await
        .map_err(|b| Error::throttled(b.secs()))?;
    let user = match from_rpc(st.user.login(req).await) {
        Ok(r) => r.user,
        Err(e) => {
            if e.code == Code::BadCredentials || e.msg.contains("invalid") {
                let _ = st.throttle.failed(&addr_key).await;
            }
            return Err(e.into());
        }
    };
    let s = from_rpc(
        st.user
            .start_session(rpc::StartSessionRequest {
                user_id: user.id,
                expires_at: st.jwt.refresh_expiry_ms(),
            })
            .await,
    )?;
    let pair = st.jwt.issue_pair(
        user.id,
        Session {
            id: s.session_id,
            generation: s.generation,
        },
    );
    let mut resp = ok(UserView::from(user));
    set_token_headers(resp.headers_mut(), &pair);
    Ok(resp)
}

async fn info(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    input: Input,
) -> ApiResult {
    let user_id = match input.opt_id("user_id")? {
        Some(id) => id,
        // no user_id: the current user, so a token is required
        None => caller.ok_or_else(|| Error::auth("missing token"))?,
    };
    let user = from_rpc(st.user.get_user(rpc::GetUserRequest { user_id }).await)?.user;
    Ok(ok(UserView::from(user)))
}

async fn avatar(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    mut input: Input,
) -> ApiResult {
    let upload = input.take_file("data")?;
    let Some(kind) = sniff_image(upload.object.head()) else {
        return Err(Error::param("data must be a JPEG, PNG, GIF or WebP image").into());
    };
    let key = format!("avatars/{uid}/{}.{}", st.ids.next_id(), kind.extension());
    st.store
        .commit(upload.object, &key)
        .await
        .map_err(Error::internal)?;
    let req = rpc::UpdateAvatarRequest {
        caller_id: uid,
        avatar_url: st.object_url(&key).into(),
    };
    let r = from_rpc(st.user.update_avatar(req).await)?;
    st.announce_image(&r.user.avatar_url, "avatar", uid).await;
    // the replaced avatar leaves the search index (and, after a grace period, storage)
    if let Some(previous) = r
        .previous_avatar_url
        .filter(|p| !p.is_empty() && *p != r.user.avatar_url)
    {
        st.announce_removed(&previous, fanone_events::REMOVED_AVATAR_REPLACED)
            .await;
    }
    Ok(ok(UserView::from(r.user)))
}

#[derive(Serialize)]
struct MfaView {
    secret: String,
    qrcode: String,
}

async fn mfa_qrcode(Extension(st): Extension<State>, Caller(uid): Caller) -> ApiResult {
    let r = from_rpc(
        st.user
            .mfa_qrcode(rpc::MfaQrcodeRequest { caller_id: uid })
            .await,
    )?;
    Ok(ok(MfaView {
        secret: r.secret.to_string(),
        qrcode: r.qrcode.to_string(),
    }))
}

/// Bind a TOTP secret. Over an already bound factor the contract's two fields are
/// not enough: `current_code` (a code of the bound factor) or `password` is
/// required too (docs/security.md).
async fn mfa_bind(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let opt = |name: &str| {
        input
            .opt(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_owned().into())
    };
    let req = rpc::MfaBindRequest {
        caller_id: uid,
        secret: input.required("secret")?.to_owned().into(),
        code: input.required("code")?.to_owned().into(),
        current_code: opt("current_code"),
        password: opt("password"),
    };
    from_rpc(st.user.mfa_bind(req).await)?;
    Ok(ok_empty())
}

#[derive(Serialize)]
struct TokenView {
    access_token: String,
    refresh_token: String,
}

/// The refresh token of a request: field `refresh_token`, else the header.
fn given_refresh_token(input: &Input, headers: &http::HeaderMap) -> Option<String> {
    input
        .opt("refresh_token")
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| refresh_token(headers))
}

/// Extension (CONTRACT.md §2.3): trade a valid refresh token for a new pair. The
/// refresh token is rotated (a new generation); the old one is taken only for
/// `auth.refresh_reuse_grace_secs`, and later use of it revokes the session.
async fn refresh(
    Extension(st): Extension<State>,
    Headers(headers): Headers,
    input: Input,
) -> ApiResult {
    let token = given_refresh_token(&input, &headers)
        .ok_or_else(|| Error::auth("missing refresh token"))?;
    let (_, pair) = use_refresh_token(&st, &token, true).await?;
    let mut resp: Response = ok(TokenView {
        access_token: pair.access.clone(),
        refresh_token: pair.refresh.clone(),
    });
    set_token_headers(resp.headers_mut(), &pair);
    Ok(resp)
}

/// Extension: end the session of a token pair — its refresh tokens stop working at
/// once, on every gateway. Takes the refresh token (field or header) or, without
/// one, the session of the access token. Access tokens already issued stay valid
/// until they expire (`auth.access_ttl_secs`).
async fn logout(
    Extension(st): Extension<State>,
    Headers(headers): Headers,
    input: Input,
) -> ApiResult {
    let verified = match given_refresh_token(&input, &headers) {
        Some(t) => st.jwt.verify_claims(&t, Kind::Refresh),
        None => {
            let t = access_token(&headers).ok_or_else(|| Error::auth("missing token"))?;
            st.jwt.verify_claims(&t, Kind::Access)
        }
    }
    .map_err(|e| ApiError::from(Error::auth(e.to_string())))?;
    if verified.session.id == 0 {
        return Err(Error::auth("token has no session").into());
    }
    from_rpc(
        st.user
            .end_session(rpc::EndSessionRequest {
                user_id: verified.user_id,
                session_id: verified.session.id,
            })
            .await,
    )?;
    Ok(ok_empty())
}
