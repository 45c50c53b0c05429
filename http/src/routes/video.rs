//! CONTRACT.md §4.2 video routes. Handlers are thin: parse, call the video service
//! over Thrift, compose like/comment counts in one batch call, shape the answer.
//! Publishing also stores the upload and makes its cover.
//!
//! Extension: `DELETE /video/delete` (also POST, like `/comment/delete`; `video_id`
//! from the body or the query string): the author soft-deletes a video, then its
//! cover is announced removed (`image.removed`) so image search stops finding it.

use std::{path::Path, process::Stdio, time::Duration};

use bytes::Bytes;
use fanone_errno::{Code, Error, from_rpc};
use fanone_storage::{ImageType, TempObject, VideoType, sniff_image, sniff_video};
use volo_gen::{user as urpc, video as rpc};
use volo_http::{
    server::route::{Router, delete, get, post},
    utils::Extension,
};

use crate::{
    auth::{Caller, ClientAddr, MaybeCaller},
    compose,
    envelope::{ApiError, ApiResult, ok, ok_empty},
    extract::{Input, MAX_PAGE_SIZE},
    state::{State, viewer},
    view::ListView,
};

/// Largest page of the feed (CONTRACT.md §4.2).
pub const FEED_MAX_PAGE_SIZE: i64 = 30;
/// Most uploaders a `username` fragment of a search resolves to.
pub const SEARCH_MAX_UPLOADERS: i32 = 1000;
/// Longest time `ffmpeg` may take to grab a cover frame.
const FFMPEG_TIMEOUT: Duration = Duration::from_secs(15);
/// Request times below this are Unix seconds, not milliseconds (CONTRACT.md §1.5).
const MS_THRESHOLD: i64 = 1_000_000_000_000;

pub fn router() -> Router {
    Router::new()
        .route("/video/publish", post(publish))
        .route("/video/list", get(list))
        .route("/video/feed", get(feed))
        .route("/video/popular", get(popular))
        .route("/video/search", post(search))
        .route("/video/visit", get(visit))
        .route("/video/delete", delete(remove).post(remove))
}

/// `DELETE /video/delete`: only the author (10008 otherwise; unknown 10007).
async fn remove(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let video_id = input
        .opt_id("video_id")?
        .ok_or_else(|| Error::param("video_id is required"))?;
    let req = rpc::DeleteVideoRequest {
        caller_id: uid,
        video_id,
    };
    let r = from_rpc(st.video.delete_video(req).await)?;
    // also when it was deleted before: a retry after a failure here announces it
    // again (the image service handles a removal once, however often it arrives)
    st.announce_removed(&r.video.cover_url, fanone_events::REMOVED_VIDEO_DELETED)
        .await;
    if r.already_deleted {
        return Err(Error::not_found("video").into());
    }
    Ok(ok_empty())
}

async fn publish(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    mut input: Input,
) -> ApiResult {
    let upload = input.take_file("data")?;
    let title = input.required("title")?;
    if title.trim().is_empty() {
        return Err(Error::param("title is required").into());
    }
    let Some(kind) = sniff_video(upload.object.head()) else {
        return Err(Error::param("data must be an MP4, MOV, WebM or Matroska video").into());
    };
    let (vid, video_key, cover_key) = store_video(&st, uid, upload.object, kind).await?;
    let req = rpc::PublishRequest {
        caller_id: uid,
        title: title.to_owned().into(),
        description: input
            .opt("description")
            .unwrap_or_default()
            .to_owned()
            .into(),
        video_url: st.object_url(&video_key).into(),
        cover_url: st.object_url(&cover_key).into(),
        video_id: Some(vid),
    };
    if let Err(e) = from_rpc(st.video.publish(req).await) {
        forget_refused(&st, &e, &[&video_key, &cover_key]).await;
        return Err(e.into());
    }
    st.announce_image(&st.object_url(&cover_key), "cover", uid)
        .await;
    Ok(ok_empty())
}

async fn list(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    input: Input,
) -> ApiResult {
    let user_id = input
        .opt_id("user_id")?
        .ok_or_else(|| Error::param("user_id is required"))?;
    let req = rpc::ListByUserRequest {
        user_id,
        page: input.page(MAX_PAGE_SIZE)?,
    };
    let r = from_rpc(st.video.list_by_user(req).await)?;
    let items = compose::videos(&st, caller, r.videos).await?;
    Ok(ok(ListView::paged(items, r.total)))
}

async fn feed(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    input: Input,
) -> ApiResult {
    let req = rpc::FeedRequest {
        latest_time: time_ms(&input, "latest_time", false)?,
        page: input.page(FEED_MAX_PAGE_SIZE)?,
    };
    let videos = from_rpc(st.video.feed(req).await)?.videos;
    let items = compose::videos(&st, caller, videos).await?;
    Ok(ok(ListView::items(items)))
}

async fn popular(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    input: Input,
) -> ApiResult {
    let req = rpc::PopularRequest {
        page: input.page(MAX_PAGE_SIZE)?,
    };
    let r = from_rpc(st.video.popular(req).await)?;
    let items = compose::videos(&st, caller, r.videos).await?;
    Ok(ok(ListView::paged(items, r.total)))
}

async fn search(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    input: Input,
) -> ApiResult {
    // official `keywords`; `keyword` as used by the clone and several clients
    let keywords = input
        .opt("keywords")
        .filter(|k| !k.trim().is_empty())
        .or_else(|| input.opt("keyword"))
        .unwrap_or_default();
    let page = input.page(MAX_PAGE_SIZE)?;
    let from_date = time_ms(&input, "from_date", false)?;
    let to_date = time_ms(&input, "to_date", true)?;
    let user_ids = match input.opt("username").map(str::trim) {
        None | Some("") => None,
        Some(fragment) => {
            let req = urpc::SearchUserIdsRequest {
                fragment: fragment.to_owned().into(),
                limit: SEARCH_MAX_UPLOADERS,
            };
            Some(from_rpc(st.user.search_user_ids(req).await)?.user_ids)
        }
    };
    let req = rpc::SearchRequest {
        keywords: keywords.to_owned().into(),
        from_date,
        to_date,
        user_ids,
        page,
    };
    let r = from_rpc(st.video.search(req).await)?;
    let items = compose::videos(&st, caller, r.videos).await?;
    Ok(ok(ListView::paged(items, r.total)))
}

/// Extension (CONTRACT.md §4.2): count one visit of a video — once per viewer (the
/// user, else the client address) and video per `limits.visit_interval_secs`.
/// A repeated visit answers success without counting.
async fn visit(
    Extension(st): Extension<State>,
    MaybeCaller(caller): MaybeCaller,
    ClientAddr(addr): ClientAddr,
    input: Input,
) -> ApiResult {
    let video_id = input
        .opt_id("video_id")?
        .ok_or_else(|| Error::param("video_id is required"))?;
    if !st.visit(video_id, &viewer(caller, &addr)).await? {
        // not counted again, but an unknown video is still an error
        from_rpc(
            st.video
                .m_get_videos(rpc::MGetVideosRequest {
                    video_ids: vec![video_id],
                })
                .await,
        )?
        .videos
        .first()
        .ok_or_else(|| Error::not_found("video"))?;
    }
    Ok(ok_empty())
}

/// A request time in Unix ms (CONTRACT.md §1.5), if given.
fn time_ms(input: &Input, name: &str, end_of_second: bool) -> Result<Option<i64>, ApiError> {
    match input.opt_i64(name)? {
        None => Ok(None),
        Some(t) if t < 0 => Err(Error::param(format!("{name} must not be negative")).into()),
        Some(t) => Ok(Some(to_ms(t, end_of_second))),
    }
}

/// Values below 10^12 are Unix seconds. `end_of_second`: a time in seconds covers
/// its whole second (for an inclusive upper bound).
fn to_ms(t: i64, end_of_second: bool) -> i64 {
    if t >= MS_THRESHOLD {
        t
    } else {
        t * 1000 + if end_of_second { 999 } else { 0 }
    }
}

/// Commit an uploaded video as `videos/<uid>/<vid>.<ext>` under a new id and make
/// its cover. Returns `(vid, video_key, cover_key)`; on failure nothing is left.
pub(crate) async fn store_video(
    st: &State,
    uid: i64,
    file: TempObject,
    kind: VideoType,
) -> Result<(i64, String, String), ApiError> {
    let vid = st.ids.next_id();
    let video_key = format!("videos/{uid}/{vid}.{}", kind.extension());
    st.store
        .commit(file, &video_key)
        .await
        .map_err(Error::internal)?;
    match make_cover(st, &video_key, uid, vid).await {
        Ok(cover_key) => Ok((vid, video_key, cover_key)),
        Err(e) => {
            forget(st, &[&video_key]).await;
            Err(e)
        }
    }
}

/// After the video service answered a publish with `e`: a refusal means nothing
/// refers to the objects, so they are deleted. After no answer (unavailable) or an
/// internal error the video may exist, so they are kept.
pub(crate) async fn forget_refused(st: &State, e: &Error, keys: &[&str]) {
    if !e.is_unavailable() && e.code != Code::Internal {
        forget(st, keys).await;
    }
}

/// Store a cover for the video at `video_key`: its first frame when `ffmpeg` is
/// available and understands the file, else a generated placeholder. Returns its key.
async fn make_cover(st: &State, video_key: &str, uid: i64, vid: i64) -> Result<String, ApiError> {
    let path = st.store.path_of(video_key).map_err(Error::internal)?;
    let (key, bytes) = match first_frame(&path).await {
        Some(jpeg) => (format!("covers/{uid}/{vid}.jpg"), jpeg),
        None => {
            let png = tokio::task::spawn_blocking(move || placeholder_cover(vid))
                .await
                .map_err(Error::internal)?
                .map_err(Error::internal)?;
            (format!("covers/{uid}/{vid}.png"), png)
        }
    };
    st.store
        .put(&key, Bytes::from(bytes))
        .await
        .map_err(Error::internal)?;
    Ok(key)
}

/// The first frame as JPEG, via `ffmpeg` (if on PATH), within `FFMPEG_TIMEOUT`.
async fn first_frame(path: &Path) -> Option<Vec<u8>> {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-ss",
        "0",
        "-i",
    ])
    .arg(path)
    .args(["-frames:v", "1", "-f", "image2", "-c:v", "mjpeg", "pipe:1"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    let out = match tokio::time::timeout(FFMPEG_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "ffmpeg unavailable; placeholder cover");
            return None;
        }
        Err(_) => {
            tracing::warn!(path = %path.display(), "ffmpeg timed out; placeholder cover");
            return None;
        }
    };
    if out.status.success() && sniff_image(&out.stdout) == Some(ImageType::Jpeg) {
        Some(out.stdout)
    } else {
        tracing::debug!(status = %out.status, "ffmpeg found no frame; placeholder cover");
        None
    }
}

/// A 320×180 PNG gradient whose hue depends on the video id.
fn placeholder_cover(vid: i64) -> Result<Vec<u8>, image::ImageError> {
    const W: u32 = 320;
    const H: u32 = 180;
    let seed = vid.unsigned_abs();
    let base = [
        (seed % 200) as u32 + 40,
        ((seed / 200) % 200) as u32 + 40,
        ((seed / 40_000) % 200) as u32 + 40,
    ];
    let img = image::RgbImage::from_fn(W, H, |x, y| {
        let shade = 255 - (x + y) * 150 / (W + H);
        image::Rgb(base.map(|c| (c * shade / 255) as u8))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Delete objects nothing refers to (best effort).
async fn forget(st: &State, keys: &[&str]) {
    for key in keys {
        if let Err(e) = st.store.delete(key).await {
            tracing::warn!(error = %e, key, "could not delete an orphaned object");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_is_a_png() {
        let png = placeholder_cover(1_234_567_890_123).unwrap();
        assert_eq!(sniff_image(&png), Some(ImageType::Png));
        assert_ne!(png, placeholder_cover(42).unwrap(), "hue follows the id");
    }

    #[test]
    fn seconds_or_milliseconds() {
        assert_eq!(to_ms(1_700_000_000_123, false), 1_700_000_000_123);
        assert_eq!(to_ms(1_700_000_000_123, true), 1_700_000_000_123);
        assert_eq!(to_ms(1_700_000_000, false), 1_700_000_000_000);
        assert_eq!(to_ms(1_700_000_000, true), 1_700_000_000_999);
        assert_eq!(to_ms(0, false), 0);
    }
}
