//! `GET|HEAD /static/{key}`: committed objects (avatars, covers, videos) with
//! single-range support, so players can seek. A GET of a video from its first byte
//! counts one play (a visit, once per viewer and interval) in the background.
//!
//! Keys arrive percent-encoded and are decoded once; the store refuses any key that
//! could leave its root or that no file can have. Unknown keys answer 404 in the
//! envelope (code 10007).

use fanone_errno::Code;
use fanone_storage::{StorageError, parse_range};
use http::{HeaderValue, Method, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use volo_http::{
    body::Body,
    response::Response,
    server::{
        param::PathParams,
        route::{Router, get},
    },
    utils::Extension,
};

use crate::{
    auth::{ClientAddr, MaybeCaller},
    envelope,
    extract::Headers,
    state::{State, viewer},
};

pub fn router() -> Router {
    Router::new().route("/static/{*key}", get(object).head(object))
}

/// [`serve`], labelled with the route template (one metrics series for all keys).
async fn object(
    st: Extension<State>,
    method: Method,
    headers: Headers,
    caller: MaybeCaller,
    addr: ClientAddr,
    raw: PathParams<String>,
) -> Response {
    let mut resp = serve(st, method, headers, caller, addr, raw).await;
    resp.extensions_mut().insert(crate::Route("/static/{key}"));
    resp
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

fn not_found() -> Response {
    envelope::render::<()>(
        StatusCode::NOT_FOUND,
        Code::NotFound.as_i32(),
        "object not found",
        None,
    )
}

fn content_type(key: &str) -> &'static str {
    match key
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp4" | "m4v") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        _ => "application/octet-stream",
    }
}

/// The video id of a key `videos/<uid>/<vid>.<ext>`.
fn played_video(key: &str) -> Option<i64> {
    let (uid, file) = key.strip_prefix("videos/")?.split_once('/')?;
    fanone_id::parse(uid)?;
    let (vid, ext) = file.split_once('.')?;
    if ext.is_empty() || ext.contains('/') {
        return None;
    }
    fanone_id::parse(vid)
}

/// Fire and forget: the file answer never waits for, or fails with, the count.
fn count_play(st: &State, video_id: i64, viewer: String) {
    let st = st.clone();
    tokio::spawn(async move {
        if let Err(e) = st.visit(video_id, &viewer).await {
            tracing::debug!(video_id, error = %e, "play not counted");
        }
    });
}

async fn serve(
    Extension(st): Extension<State>,
    method: Method,
    Headers(headers): Headers,
    MaybeCaller(caller): MaybeCaller,
    ClientAddr(addr): ClientAddr,
    PathParams(raw): PathParams<String>,
) -> Response {
    let Ok(key) = percent_encoding::percent_decode_str(&raw).decode_utf8() else {
        return not_found();
    };
    let key = key.into_owned();
    let (mut file, len) = match st.store.open_object(&key).await {
        Ok(f) => f,
        Err(StorageError::NotFound | StorageError::BadKey(_)) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, key, "object read failed");
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match parse_range(range_header, len) {
        Ok(r) => r,
        Err(_) => {
            let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    // a play starts at byte 0; later ranges are the same play seeking or buffering
    if method == Method::GET
        && range.is_none_or(|r| r.start == 0)
        && let Some(video_id) = played_video(&key)
    {
        count_play(&st, video_id, viewer(caller, &addr));
    }
    let (code, start, count) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.len()),
        None => (StatusCode::OK, 0, len),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
        use futures::TryStreamExt;
        let stream = ReaderStream::new(file.take(count))
            .map_ok(http_body::Frame::data)
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
        Body::from_stream(stream)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&key)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // the type is ours (by extension, uploads checked by bytes): never sniff
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // keys are unique per upload, so objects never change
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&count.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if code == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::played_video;

    #[test]
    fn only_video_keys_count_as_plays() {
        assert_eq!(played_video("videos/7/123.mp4"), Some(123));
        assert_eq!(played_video("videos/7/123.webm"), Some(123));
        for key in [
            "covers/7/123.jpg",
            "avatars/7/123.png",
            "videos/7/123",
            "videos/7/123.",
            "videos/x/123.mp4",
            "videos/7/abc.mp4",
            "videos/7/8/123.mp4",
            "videos/123.mp4",
        ] {
            assert_eq!(played_video(key), None, "{key}");
        }
    }
}
