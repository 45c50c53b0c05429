//! CONTRACT.md §4.3 like and comment routes. Handlers are thin: parse, check the
//! video through the video service where the contract acts on one, call the
//! interaction service over Thrift, shape the answer.
//!
//! Choices where the contract is open:
//! - `video_id` and `comment_id` both given: `comment_id` wins (like, publish, list).
//! - `action_type`: `1` like, `2` cancel, as text or JSON number; anything else 10002.
//! - `/comment/delete` answers DELETE and also POST (clients that cannot send a
//!   DELETE body); `comment_id` may come in the body or the query; `video_id` is
//!   accepted and ignored.

use fanone_errno::{Error, from_rpc};
use volo_gen::interaction as rpc;
use volo_http::{
    server::route::{Router, delete, get, post},
    utils::Extension,
};

use crate::{
    auth::{Caller, MaybeCaller},
    compose,
    envelope::{ApiResult, ok, ok_empty},
    extract::{Input, MAX_PAGE_SIZE},
    state::{AppState, State},
    view::{CommentView, ListView},
};

pub fn router() -> Router {
    Router::new()
        .route("/like/action", post(like_action))
        .route("/like/list", get(like_list))
        .route("/comment/publish", post(comment_publish))
        .route("/comment/list", get(comment_list))
        .route(
            "/comment/delete",
            delete(comment_delete).post(comment_delete),
        )
}

/// What a like or a comment is on: `comment_id` wins over `video_id`.
enum On {
    Video(i64),
    Comment(i64),
}

fn target(input: &Input) -> Result<On, crate::envelope::ApiError> {
    if let Some(id) = input.opt_id("comment_id")? {
        return Ok(On::Comment(id));
    }
    if let Some(id) = input.opt_id("video_id")? {
        return Ok(On::Video(id));
    }
    Err(Error::param("video_id or comment_id is required").into())
}

async fn require_video(st: &AppState, id: i64) -> Result<(), Error> {
    if compose::video_exists(st, id).await? {
        Ok(())
    } else {
        Err(Error::not_found("video"))
    }
}

async fn like_action(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    input: Input,
) -> ApiResult {
    let action = match input.opt("action_type").map(str::trim) {
        Some("1") => rpc::LikeActionType::LIKE,
        Some("2") => rpc::LikeActionType::CANCEL,
        _ => return Err(Error::param("action_type must be 1 (like) or 2 (cancel)").into()),
    };
    // the video's existence is checked with the like, in its batch (compose::like)
    let (kind, target_id) = match target(&input)? {
        On::Comment(id) => (rpc::TargetKind::COMMENT, id),
        On::Video(id) => (rpc::TargetKind::VIDEO, id),
    };
    let req = rpc::LikeActionRequest {
        caller_id: uid,
        kind,
        target_id,
        action,
    };
    compose::like(&st, req).await?;
    Ok(ok_empty())
}

async fn like_list(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    input: Input,
) -> ApiResult {
    let user_id = match input.opt_id("user_id")? {
        Some(id) => id,
        // no user_id: the current user, so a token is required
        None => caller.ok_or_else(|| Error::auth("missing token"))?,
    };
    let page = input.page(MAX_PAGE_SIZE)?;
    let r = from_rpc(
        st.interaction
            .like_list(rpc::LikeListRequest { user_id, page })
            .await,
    )?;
    let items = compose::videos_by_ids(&st, caller, r.video_ids).await?;
    Ok(ok(ListView::paged(items, r.total)))
}

async fn comment_publish(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    input: Input,
) -> ApiResult {
    let on = target(&input)?;
    let content = input.required("content")?.to_owned();
    let (video_id, parent_id) = match on {
        On::Comment(id) => (None, Some(id)),
        On::Video(id) => {
            require_video(&st, id).await?;
            (Some(id), None)
        }
    };
    let req = rpc::CommentPublishRequest {
        caller_id: uid,
        video_id,
        parent_id,
        content: content.into(),
    };
    from_rpc(st.interaction.comment_publish(req).await)?;
    Ok(ok_empty())
}

async fn comment_list(Extension(st): Extension<State>, input: Input) -> ApiResult {
    let (video_id, parent_id) = match target(&input)? {
        On::Comment(id) => (None, Some(id)),
        On::Video(id) => (Some(id), None),
    };
    let page = input.page(MAX_PAGE_SIZE)?;
    let r = from_rpc(
        st.interaction
            .comment_list(rpc::CommentListRequest {
                video_id,
                parent_id,
                page,
            })
            .await,
    )?;
    let items = r.comments.into_iter().map(CommentView::from).collect();
    Ok(ok(ListView::paged(items, r.total)))
}

async fn comment_delete(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    input: Input,
) -> ApiResult {
    let comment_id = input
        .opt_id("comment_id")?
        .ok_or_else(|| Error::param("comment_id is required"))?;
    let req = rpc::CommentDeleteRequest {
        caller_id: uid,
        comment_id,
    };
    from_rpc(st.interaction.comment_delete(req).await)?;
    Ok(ok_empty())
}
