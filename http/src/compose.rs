//! Answers that need several services, built with one batch call per service
//! (DESIGN.md rule 1): never a call per list item.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
};

use fanone_errno::{Error, Result, from_rpc};
use volo_gen::{
    base,
    interaction::{self as irpc, InteractionServiceClient},
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
        async move { live_videos(&video, video_ids).await }
    })
}

/// Which of `video_ids` are live videos: one `MGetVideos`.
async fn live_videos(video: &VideoServiceClient, video_ids: Vec<i64>) -> Result<Vec<i64>> {
    let req = vrpc::MGetVideosRequest { video_ids };
    let found = from_rpc(video.m_get_videos(req).await)?.videos;
    Ok(found.iter().map(|v| v.id).collect())
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

/// A like or its cancel (`POST /like/action`), done together with those of
/// concurrent requests ([`Likes`]): the answer `LikeAction` would give.
pub async fn like(st: &AppState, req: irpc::LikeActionRequest) -> Result<()> {
    st.likes.call(req).await.map_err(batch_error)?
}

/// The likes of concurrent requests, coalesced (`fanone_batch`): per batch one
/// `MGetVideos` (a like of an unknown video is answered 10007 without going
/// further) and one `LikeActions` for the rest, each like answered on its own. Under
/// load a gateway sends a few calls per batch of likes instead of two per like; an
/// idle gateway sends a like at once.
pub type Likes = fanone_batch::Coalescer<irpc::LikeActionRequest, Result<()>, Error>;

/// Likes per batch (the interaction service takes up to 500 in one call).
const LIKE_BATCH: usize = 256;
/// Batches of likes in flight at once per gateway: two, so that one is written
/// while the next one is checked and sent (there are two interaction replicas).
const LIKE_IN_FLIGHT: usize = 2;

/// [`Likes`] over the video service's `MGetVideos` and interaction's `LikeActions`.
pub fn likes(video: VideoServiceClient, interaction: InteractionServiceClient) -> Likes {
    fanone_batch::Coalescer::new(
        "like_action",
        LIKE_BATCH,
        LIKE_IN_FLIGHT,
        move |items: Vec<irpc::LikeActionRequest>| {
            let (video, interaction) = (video.clone(), interaction.clone());
            async move { like_batch(&video, &interaction, items).await }
        },
    )
}

async fn like_batch(
    video: &VideoServiceClient,
    interaction: &InteractionServiceClient,
    items: Vec<irpc::LikeActionRequest>,
) -> Result<Vec<Result<()>>> {
    let on_video = |i: &irpc::LikeActionRequest| i.kind == irpc::TargetKind::VIDEO;
    let mut video_ids: Vec<i64> = items
        .iter()
        .filter(|i| on_video(i))
        .map(|i| i.target_id)
        .collect();
    video_ids.sort_unstable();
    video_ids.dedup();
    let found: Result<HashSet<i64>> = if video_ids.is_empty() {
        Ok(HashSet::new())
    } else {
        live_videos(video, video_ids).await.map(HashSet::from_iter)
    };
    // likes of unknown videos are answered here (and all video likes when the check
    // failed); the others go on to the interaction service, in order
    let early: Vec<Option<Error>> = items
        .iter()
        .map(|i| match &found {
            _ if !on_video(i) => None,
            Ok(videos) if videos.contains(&i.target_id) => None,
            Ok(_) => Some(Error::not_found("video")),
            Err(e) => Some(e.clone()),
        })
        .collect();
    let send: Vec<irpc::LikeActionRequest> = items
        .into_iter()
        .zip(&early)
        .filter(|(_, e)| e.is_none())
        .map(|(i, _)| i)
        .collect();
    let sent = send.len();
    let done = if sent == 0 {
        Ok(Vec::new())
    } else {
        let req = irpc::LikeActionsRequest { items: send };
        from_rpc(interaction.like_actions(req).await).map(|r| r.results)
    };
    let mut done = match done {
        Ok(done) if done.len() == sent => Ok(done.into_iter()),
        Ok(done) => Err(Error::internal(format!(
            "LikeActions answered {} of {sent} likes",
            done.len()
        ))),
        Err(e) => Err(e),
    };
    Ok(early
        .into_iter()
        .map(|early| match (early, &mut done) {
            (Some(e), _) => Err(e),
            (None, Ok(done)) => match done.next().and_then(|r| r.err) {
                None => Ok(()),
                Some(e) => Err(e.into()),
            },
            (None, Err(e)) => Err(e.clone()),
        })
        .collect())
}

fn batch_error(e: fanone_batch::Error<Error>) -> Error {
    match e {
        fanone_batch::Error::Call(e) => e,
        e @ fanone_batch::Error::NoAnswer(_) => Error::internal(e),
    }
}
