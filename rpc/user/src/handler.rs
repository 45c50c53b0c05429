//! The generated Thrift trait: convert the request, call the domain, convert back.

use std::sync::Arc;

use fanone_errno::to_rpc;
use volo_gen::{base, user as rpc};
use volo_thrift::{MaybeException, ServerError};

use crate::{
    service::{Profile, UserService},
    store::{UserRecord, UserStore},
};

pub struct Handler<S> {
    svc: Arc<UserService<S>>,
}

impl<S> Handler<S> {
    pub fn new(svc: Arc<UserService<S>>) -> Self {
        Self { svc }
    }
}

fn to_user(u: UserRecord) -> base::User {
    from_profile(Profile::from(&u))
}

fn from_profile(p: Profile) -> base::User {
    base::User {
        id: p.id,
        username: p.username.into(),
        avatar_url: p.avatar_url.into(),
        created_at: p.created_at,
        updated_at: p.updated_at,
        deleted_at: None,
        mfa_enabled: p.mfa_enabled,
    }
}

type Answer<T, E> = Result<MaybeException<T, E>, ServerError>;

impl<S: UserStore> rpc::UserService for Handler<S> {
    async fn register(
        &self,
        req: rpc::RegisterRequest,
    ) -> Answer<rpc::RegisterResponse, rpc::UserServiceRegisterException> {
        let r = self.svc.register(&req.username, &req.password).await;
        to_rpc(
            r.map(|user_id| rpc::RegisterResponse { user_id })
                .map_err(Into::into),
        )
    }

    async fn login(
        &self,
        req: rpc::LoginRequest,
    ) -> Answer<rpc::LoginResponse, rpc::UserServiceLoginException> {
        let r = self
            .svc
            .login(&req.username, &req.password, req.code.as_deref())
            .await;
        to_rpc(
            r.map(|u| rpc::LoginResponse { user: to_user(u) })
                .map_err(Into::into),
        )
    }

    async fn get_user(
        &self,
        req: rpc::GetUserRequest,
    ) -> Answer<rpc::GetUserResponse, rpc::UserServiceGetUserException> {
        let r = self.svc.profile(req.user_id).await;
        to_rpc(
            r.map(|p| rpc::GetUserResponse {
                user: from_profile(p),
            })
            .map_err(Into::into),
        )
    }

    async fn m_get_users(
        &self,
        req: rpc::MGetUsersRequest,
    ) -> Answer<rpc::MGetUsersResponse, rpc::UserServiceMGetUsersException> {
        let r = self.svc.mget(&req.user_ids).await;
        to_rpc(
            r.map(|users| rpc::MGetUsersResponse {
                users: users.into_iter().map(from_profile).collect(),
            })
            .map_err(Into::into),
        )
    }

    async fn search_user_ids(
        &self,
        req: rpc::SearchUserIdsRequest,
    ) -> Answer<rpc::SearchUserIdsResponse, rpc::UserServiceSearchUserIdsException> {
        let r = self.svc.search_ids(&req.fragment, req.limit).await;
        to_rpc(
            r.map(|user_ids| rpc::SearchUserIdsResponse { user_ids })
                .map_err(Into::into),
        )
    }

    async fn update_avatar(
        &self,
        req: rpc::UpdateAvatarRequest,
    ) -> Answer<rpc::UpdateAvatarResponse, rpc::UserServiceUpdateAvatarException> {
        let r = self.svc.update_avatar(req.caller_id, &req.avatar_url).await;
        to_rpc(
            r.map(|(u, previous)| rpc::UpdateAvatarResponse {
                user: to_user(u),
                previous_avatar_url: previous.map(Into::into),
            })
            .map_err(Into::into),
        )
    }

    async fn mfa_qrcode(
        &self,
        req: rpc::MfaQrcodeRequest,
    ) -> Answer<rpc::MfaQrcodeResponse, rpc::UserServiceMfaQrcodeException> {
        let r = self.svc.mfa_qrcode(req.caller_id).await;
        to_rpc(
            r.map(|(secret, qrcode)| rpc::MfaQrcodeResponse {
                secret: secret.into(),
                qrcode: qrcode.into(),
            })
            .map_err(Into::into),
        )
    }

    async fn mfa_bind(
        &self,
        req: rpc::MfaBindRequest,
    ) -> Answer<rpc::MfaBindResponse, rpc::UserServiceMfaBindException> {
        let r = self
            .svc
            .mfa_bind(
                req.caller_id,
                &req.secret,
                &req.code,
                req.current_code.as_deref(),
                req.password.as_deref(),
            )
            .await;
        to_rpc(r.map(|()| rpc::MfaBindResponse {}).map_err(Into::into))
    }

    async fn start_session(
        &self,
        req: rpc::StartSessionRequest,
    ) -> Answer<rpc::SessionResponse, rpc::UserServiceStartSessionException> {
        let r = self.svc.start_session(req.user_id, req.expires_at).await;
        to_rpc(
            r.map(|(session_id, generation)| rpc::SessionResponse {
                session_id,
                generation,
            })
            .map_err(Into::into),
        )
    }

    async fn refresh_session(
        &self,
        req: rpc::RefreshSessionRequest,
    ) -> Answer<rpc::SessionResponse, rpc::UserServiceRefreshSessionException> {
        let r = self
            .svc
            .refresh_session(req.user_id, req.session_id, req.generation, req.rotate)
            .await;
        to_rpc(
            r.map(|generation| rpc::SessionResponse {
                session_id: req.session_id,
                generation,
            })
            .map_err(Into::into),
        )
    }

    async fn end_session(
        &self,
        req: rpc::EndSessionRequest,
    ) -> Answer<rpc::EndSessionResponse, rpc::UserServiceEndSessionException> {
        let r = self.svc.end_session(req.user_id, req.session_id).await;
        to_rpc(r.map(|()| rpc::EndSessionResponse {}).map_err(Into::into))
    }
}
