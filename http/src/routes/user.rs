//! CONTRACT.md §4.1 user routes and §2 token routes. Handlers are thin: parse,
//! call the user service over Thrift, shape the answer.

use fanone_auth::{Kind, TokenPair};
use fanone_errno::{Error, from_rpc};
use fanone_storage::sniff_image;
use serde::Serialize;
use volo_gen::user as rpc;
use volo_http::{
    response::Response,
    server::route::{Router, get, post, put},
    utils::Extension,
};

use crate::{
    auth::{Caller, MaybeCaller, refresh_token, set_token_headers},
    envelope::{ApiResult, ok, ok_empty},
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
}

async fn register(Extension(st): Extension<State>, input: Input) -> ApiResult {
    let req = rpc::RegisterRequest {
        username: input.required("username")?.to_owned().into(),
        password: input.required("password")?.to_owned().into(),
    };
    from_rpc(st.user.register(req).await)?;
    Ok(ok_empty())
}

async fn login(Extension(st): Extension<State>, input: Input) -> ApiResult {
    let req = rpc::LoginRequest {
        username: input.required("username")?.to_owned().into(),
        password: input.required("password")?.to_owned().into(),
        code: input
            .opt("code")
            .filter(|c| !c.is_empty())
            .map(|c| c.to_owned().into()),
    };
    let user = from_rpc(st.user.login(req).await)?.user;
    let pair = st.jwt.issue_pair(user.id);
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
    let user = from_rpc(st.user.update_avatar(req).await)?.user;
    st.announce_image(&user.avatar_url, "avatar", uid).await;
    Ok(ok(UserView::from(user)))
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

async fn mfa_bind(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let req = rpc::MfaBindRequest {
        caller_id: uid,
        secret: input.required("secret")?.to_owned().into(),
        code: input.required("code")?.to_owned().into(),
    };
    from_rpc(st.user.mfa_bind(req).await)?;
    Ok(ok_empty())
}

#[derive(Serialize)]
struct TokenView {
    access_token: String,
    refresh_token: String,
}

/// Extension (CONTRACT.md §2.3): trade a valid refresh token for a new pair.
async fn refresh(
    Extension(st): Extension<State>,
    Headers(headers): Headers,
    input: Input,
) -> ApiResult {
    let token = input
        .opt("refresh_token")
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| refresh_token(&headers))
        .ok_or_else(|| Error::auth("missing refresh token"))?;
    let uid = st
        .jwt
        .verify(&token, Kind::Refresh)
        .map_err(|e| Error::auth(e.to_string()))?;
    let pair: TokenPair = st.jwt.issue_pair(uid);
    let mut resp: Response = ok(TokenView {
        access_token: pair.access.clone(),
        refresh_token: pair.refresh.clone(),
    });
    set_token_headers(resp.headers_mut(), &pair);
    Ok(resp)
}
