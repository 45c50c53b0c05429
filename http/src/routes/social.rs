//! CONTRACT.md §4.4 relation routes. Handlers are thin: parse, check the target user
//! exists (the social service cannot: services never call each other), call the
//! social service, resolve the ids with one `MGetUsers` call.

use fanone_errno::{Error, from_rpc};
use volo_gen::social as rpc;
use volo_http::{
    server::route::{Router, get, post},
    utils::Extension,
};

use crate::{
    auth::Caller,
    compose,
    envelope::{ApiResult, ok, ok_empty},
    extract::{Input, MAX_PAGE_SIZE},
    state::State,
    view::ListView,
};

pub fn router() -> Router {
    Router::new()
        .route("/relation/action", post(relation_action))
        .route("/following/list", get(following))
        .route("/follower/list", get(followers))
        .route("/friends/list", get(friends))
}

/// `action_type`: 1 = follow, 2 = unfollow; 0 is also follow (CONTRACT.md §9.1).
fn parse_action(v: &str) -> Option<rpc::RelationActionType> {
    match v.trim() {
        "0" | "1" => Some(rpc::RelationActionType::FOLLOW),
        "2" => Some(rpc::RelationActionType::UNFOLLOW),
        _ => None,
    }
}

async fn relation_action(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    input: Input,
) -> ApiResult {
    let to_user_id = input
        .opt_id("to_user_id")?
        .ok_or_else(|| Error::param("to_user_id is required"))?;
    let action = parse_action(input.required("action_type")?)
        .ok_or_else(|| Error::param("action_type must be 1 (follow) or 2 (unfollow)"))?;
    // following oneself is refused by the social service; anyone else must exist
    if to_user_id != uid && !compose::user_exists(&st, to_user_id).await? {
        return Err(Error::not_found("user").into());
    }
    let req = rpc::RelationActionRequest {
        caller_id: uid,
        to_user_id,
        action,
    };
    from_rpc(st.social.relation_action(req).await)?;
    Ok(ok_empty())
}

async fn following(Extension(st): Extension<State>, input: Input) -> ApiResult {
    let user_id = required_user(&input)?;
    list(&st, user_id, rpc::ListKind::FOLLOWING, &input).await
}

async fn followers(Extension(st): Extension<State>, input: Input) -> ApiResult {
    let user_id = required_user(&input)?;
    list(&st, user_id, rpc::ListKind::FOLLOWER, &input).await
}

/// Friends (mutual follows) of the current user.
async fn friends(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    list(&st, uid, rpc::ListKind::FRIEND, &input).await
}

fn required_user(input: &Input) -> Result<i64, Error> {
    input
        .opt_id("user_id")
        .map_err(|e| e.0)?
        .ok_or_else(|| Error::param("user_id is required"))
}

async fn list(st: &State, user_id: i64, kind: rpc::ListKind, input: &Input) -> ApiResult {
    let req = rpc::ListRelationsRequest {
        user_id,
        kind,
        page: input.page(MAX_PAGE_SIZE)?,
    };
    let r = from_rpc(st.social.list_relations(req).await)?;
    let items = compose::social_users(st, r.user_ids).await?;
    Ok(ok(ListView::paged(items, r.total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_types() {
        assert_eq!(parse_action("1"), Some(rpc::RelationActionType::FOLLOW));
        assert_eq!(parse_action("0"), Some(rpc::RelationActionType::FOLLOW));
        assert_eq!(parse_action(" 2 "), Some(rpc::RelationActionType::UNFOLLOW));
        for bad in ["3", "-1", "", "follow", "1.0"] {
            assert_eq!(parse_action(bad), None, "{bad}");
        }
    }
}
