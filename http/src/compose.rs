//! Answers that need several services, built with one batch call per service
//! (DESIGN.md rule 1): never a call per list item.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
};

use fanone_errno::{Error, Result, from_rpc};
use volo_gen::{
    base, interaction as irpc,
    user::{self as urpc, UserServiceClient},
    video::{self as vrpc, VideoServiceClient},
};

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

/// Whether a video exists (for routes that act on one: every like and comment asks).
/// Concurrent checks share one `MGetVideos` call ([`Exists`]).
pub async fn video_exists(st: &AppState, id: i64) -> Result<bool> {
    st.videos_exist.call(id).await.map_err(batch_error)
}

/// Whether a user exists (every follow asks); concurrent checks share one
/// `MGetUsers` call ([`Exists`]).
pub async fn user_exists(st: &AppState, id: i64) -> Result<bool> {
    st.users_exist.call(id).await.map_err(batch_error)
}

/// Existence checks of single ids from concurrent requests, coalesced into one
/// batch call of the owning service (`fanone_batch`): under load a like asks
/// "does video 7 exist" thousands of times a second, and one `MGetVideos` answers
/// the checks that arrived while the previous one ran. An idle gateway sends a
/// check at once, alone.
pub type Exists = fanone_batch::Coalescer<i64, bool, Error>;

/// Ids per existence call (the services take up to 500).
const EXISTS_BATCH: usize = 128;
/// Existence calls in flight at once per service: one, so that the checks arriving
/// meanwhile wait for it and go together (with two, about 3 shared a call under
/// the cluster like benchmark).
const EXISTS_IN_FLIGHT: usize = 1;

/// [`Exists`] over the video service's `MGetVideos`.
pub fn videos_exist(video: VideoServiceClient) -> Exists {
    exists("video_exists", move |video_ids| {
        let video = video.clone();
        async move {
            let req = vrpc::MGetVideosRequest { video_ids };
            let found = from_rpc(video.m_get_videos(req).await)?.videos;
            Ok(found.iter().map(|v| v.id).collect())
        }
    })
}

/// [`Exists`] over the user service's `MGetUsers`.
pub fn users_exist(user: UserServiceClient) -> Exists {
    exists("user_exists", move |user_ids| {
        let user = user.clone();
        async move {
            let req = urpc::MGetUsersRequest { user_ids };
            let found = from_rpc(user.m_get_users(req).await)?.users;
            Ok(found.iter().map(|u| u.id).collect())
        }
    })
}

/// [`Exists`] over `lookup`, which gets distinct ids and returns the ones found.
fn exists<F, Fut>(name: &'static str, lookup: F) -> Exists
where
    F: Fn(Vec<i64>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<i64>>> + Send + 'static,
{
    fanone_batch::Coalescer::new(
        name,
        EXISTS_BATCH,
        EXISTS_IN_FLIGHT,
        move |ids: Vec<i64>| {
            let mut distinct = ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let found = lookup(distinct);
            async move {
                let found: HashSet<i64> = found.await?.into_iter().collect();
                Ok(ids.iter().map(|id| found.contains(id)).collect())
            }
        },
    )
}

fn batch_error(e: fanone_batch::Error<Error>) -> Error {
    match e {
        fanone_batch::Error::Call(e) => e,
        e @ fanone_batch::Error::NoAnswer(_) => Error::internal(e),
    }
}
