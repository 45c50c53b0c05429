//! Answers that need several services, built with one batch call per service
//! (DESIGN.md rule 1): never a call per list item.

use std::collections::HashMap;

use fanone_errno::{Result, from_rpc};
use volo_gen::{base, interaction as irpc, user as urpc, video as vrpc};

use crate::{
    state::AppState,
    view::{SocialUserView, VideoView},
};

/// Videos with their like/comment counts: one `MGetVideoStats` call for all of them.
pub async fn videos(
    st: &AppState,
    caller: Option<i64>,
    videos: Vec<base::Video>,
) -> Result<Vec<VideoView>> {
    if videos.is_empty() {
        return Ok(Vec::new());
    }
    let req = irpc::MGetVideoStatsRequest {
        caller_id: caller.unwrap_or(0),
        video_ids: videos.iter().map(|v| v.id).collect(),
    };
    // counts decorate a list; without the interaction service the list still answers
    // (counts 0) rather than failing the page — see docs/operations.md, degradation
    let stats: HashMap<i64, base::VideoStats> =
        match from_rpc(st.interaction.m_get_video_stats(req).await) {
            Ok(r) => r.stats.into_iter().map(|s| (s.video_id, s)).collect(),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(
                    videos = videos.len(),
                    "interaction service unavailable: answering the list without counts (degraded)"
                );
                HashMap::new()
            }
            Err(e) => return Err(e),
        };
    Ok(videos
        .into_iter()
        .map(|v| {
            let s = stats.get(&v.id);
            VideoView::new(v, s)
        })
        .collect())
}

/// Videos by id (keeping the order of `ids`, skipping unknown ones), with counts:
/// one `MGetVideos` and one `MGetVideoStats` call.
pub async fn videos_by_ids(
    st: &AppState,
    caller: Option<i64>,
    ids: Vec<i64>,
) -> Result<Vec<VideoView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = from_rpc(
        st.video
            .m_get_videos(vrpc::MGetVideosRequest { video_ids: ids })
            .await,
    )?
    .videos;
    videos(st, caller, found).await
}

/// Users by id for the social lists: one `MGetUsers` call.
pub async fn social_users(st: &AppState, ids: Vec<i64>) -> Result<Vec<SocialUserView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let users = from_rpc(
        st.user
            .m_get_users(urpc::MGetUsersRequest { user_ids: ids })
            .await,
    )?
    .users;
    Ok(users.into_iter().map(SocialUserView::from).collect())
}

/// Whether a video exists (for routes that act on one).
pub async fn video_exists(st: &AppState, id: i64) -> Result<bool> {
    let found = from_rpc(
        st.video
            .m_get_videos(vrpc::MGetVideosRequest {
                video_ids: vec![id],
            })
            .await,
    )?
    .videos;
    Ok(!found.is_empty())
}

/// Whether a user exists.
pub async fn user_exists(st: &AppState, id: i64) -> Result<bool> {
    let found = from_rpc(
        st.user
            .m_get_users(urpc::MGetUsersRequest { user_ids: vec![id] })
            .await,
    )?
    .users;
    Ok(!found.is_empty())
}
