//! Chunked, resumable video upload (the lab's bonus): `POST /video/publish/start`,
//! `/video/publish/uploading`, `/video/publish/complete`, `/video/publish/cancel` and
//! `GET /video/publish/status`.
//!
//! The video service keeps each upload's state (who started it, which chunks
//! arrived, when it expires), so any gateway replica takes the next chunk. Parts are
//! objects of the parts store (`ObjectStore`; a hidden directory of the local store
//! now, never served by `/static`) under `<upload_id>/<number>-<md5>`: a chunk sent
//! twice lands on the same key with the same bytes, other content on another key.

use std::time::Duration;

use fanone_errno::{Code, Error, from_rpc};
use fanone_storage::{ObjectStore, StorageError, TempObject, sniff_video};
use tokio::io::AsyncReadExt;
use volo_gen::video as rpc;
use volo_http::{
    server::route::{Router, get, post},
    utils::Extension,
};

use crate::{
    auth::Caller,
    envelope::{ApiError, ApiResult, ok, ok_empty},
    extract::Input,
    routes::video::{forget_refused, store_video},
    state::{AppState, State},
    view::{UploadView, VideoView},
};

/// Upload states on the wire (`video.Upload.state`).
const OPEN: i16 = 1;
const COMPLETED: i16 = 2;
/// Expired uploads handled per batch of the expiry job.
const EXPIRY_BATCH: i32 = 100;
/// Bytes read from a part at a time while assembling.
const COPY_BUF: usize = 256 << 10;

pub fn router() -> Router {
    Router::new()
        .route("/video/publish/start", post(start))
        .route("/video/publish/uploading", post(uploading))
        .route("/video/publish/complete", post(complete))
        .route("/video/publish/cancel", post(cancel))
        .route("/video/publish/status", get(status))
}

/// The parts of an upload: `<upload_id>`.
fn parts_prefix(upload_id: i64) -> String {
    upload_id.to_string()
}

/// The key of a chunk's part.
fn part_key(upload_id: i64, number: i32, md5: &str) -> String {
    format!("{upload_id}/{number}-{md5}")
}

fn required_id(input: &Input, name: &str) -> Result<i64, ApiError> {
    input
        .opt_id(name)?
        .ok_or_else(|| Error::param(format!("{name} is required")).into())
}

fn required_i64(input: &Input, name: &str) -> Result<i64, ApiError> {
    input
        .opt_i64(name)?
        .ok_or_else(|| Error::param(format!("{name} is required")).into())
}

fn required_i32(input: &Input, name: &str) -> Result<i32, ApiError> {
    i32::try_from(required_i64(input, name)?)
        .map_err(|_| Error::param(format!("{name} is out of range")).into())
}

/// A checksum given by the client, as 32 lower-case hex digits.
fn md5_param(input: &Input, name: &str) -> Result<String, ApiError> {
    let v = input.required(name)?.trim();
    if v.len() != 32 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::param(format!("{name} must be 32 hexadecimal digits")).into());
    }
    Ok(v.to_ascii_lowercase())
}

async fn get_upload(st: &AppState, caller_id: i64, upload_id: i64) -> Result<rpc::Upload, Error> {
    let req = rpc::GetUploadRequest {
        caller_id,
        upload_id,
    };
    Ok(from_rpc(st.video.get_upload(req).await)?.upload)
}

/// An upload of the caller that still takes chunks.
fn must_be_open(u: &rpc::Upload) -> Result<(), Error> {
    match u.state {
        OPEN => Ok(()),
        COMPLETED => Err(Error::new(Code::Duplicate, "upload already completed")),
        _ => Err(Error::new(
            Code::NotFound,
            "upload not found, cancelled or expired",
        )),
    }
}

fn upload_view(st: &AppState, u: rpc::Upload) -> UploadView {
    UploadView::new(u, st.limits().max_chunk_bytes)
}

/// Start an upload: title, description, total size, chunk count and the whole
/// file's MD5. Answers the upload (its id, nothing received yet).
async fn start(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let req = rpc::StartUploadRequest {
        caller_id: uid,
        title: input.required("title")?.to_owned().into(),
        description: input
            .opt("description")
            .unwrap_or_default()
            .to_owned()
            .into(),
        total_size: required_i64(&input, "total_size")?,
        chunk_count: required_i32(&input, "chunk_count")?,
        file_md5: md5_param(&input, "file_md5")?.into(),
    };
    let upload = from_rpc(st.video.start_upload(req).await)?.upload;
    Ok(ok(upload_view(&st, upload)))
}

/// One chunk (multipart: `upload_id`, `chunk_number` 1-based, `chunk_md5`, file
/// `data`), in any order. The same chunk again is accepted once; other content under
/// a received number is refused (10009).
async fn uploading(
    Extension(st): Extension<State>,
    Caller(uid): Caller,
    mut input: Input,
) -> ApiResult {
    let upload_id = required_id(&input, "upload_id")?;
    let number = required_i32(&input, "chunk_number")?;
    let md5 = md5_param(&input, "chunk_md5")?;
    let part = input.take_file("data")?.object;
    if part.size() == 0 {
        return Err(Error::param("data (the chunk) is empty").into());
    }
    if part.md5_hex() != md5 {
        return Err(Error::param("chunk_md5 does not match the chunk's bytes").into());
    }
    // the uploader's own upload, open: nothing is stored for anyone else
    let upload = get_upload(&st, uid, upload_id).await?;
    must_be_open(&upload)?;
    if !(1..=upload.chunk_count).contains(&number) {
        return Err(
            Error::param(format!("chunk_number must be 1..={}", upload.chunk_count)).into(),
        );
    }
    if let Some(have) = upload.chunks.iter().find(|c| c.number == number)
        && have.md5 != md5.as_str()
    {
        return Err(Error::new(
            Code::Duplicate,
            format!("chunk {number} was already received with other content"),
        )
        .into());
    }
    // (a chunk received before is stored again: same key, same bytes; this repairs a
    // part lost between storing and recording it)
    let size = i64::try_from(part.size()).unwrap_or(i64::MAX);
    let key = part_key(upload_id, number, &md5);
    ObjectStore::commit(&st.parts, part, &key)
        .await
        .map_err(Error::internal)?;
    let req = rpc::RecordChunkRequest {
        caller_id: uid,
        upload_id,
        chunk: rpc::UploadChunk {
            number,
            size,
            md5: md5.clone().into(),
        },
    };
    let recorded = match from_rpc(st.video.record_chunk(req).await) {
        Ok(r) => r,
        Err(e) => {
            // refused (other content won a race, the upload closed): this key is not
            // the recorded chunk's. After a transport failure it may be: kept.
            if !e.is_unavailable() {
                remove_part(&st, &key).await;
            }
            return Err(e.into());
        }
    };
    Ok(ok(serde_json::json!({
        "upload_id": upload_id.to_string(),
        "chunk_number": number,
        "already_received": recorded.already_received,
        "received_count": recorded.received_count,
        "chunk_count": upload.chunk_count,
    })))
}

/// Check the chunks and the whole-file MD5, assemble by streaming, check the type
/// by its bytes, make the cover, publish. Answers the new video.
async fn complete(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let upload_id = required_id(&input, "upload_id")?;
    let upload = get_upload(&st, uid, upload_id).await?;
    must_be_open(&upload)?;
    let view = upload_view(&st, upload.clone());
    if !view.missing.is_empty() {
        let missing: Vec<String> = view.missing.iter().take(20).map(i32::to_string).collect();
        return Err(Error::param(format!(
            "chunks not received yet: {}{}",
            missing.join(", "),
            if view.missing.len() > 20 { ", ..." } else { "" }
        ))
        .into());
    }
    let file = assemble(&st, &upload).await?;
    if file.md5_hex() != upload.file_md5.as_str() {
        return Err(Error::param("file_md5 does not match the assembled file").into());
    }
    let Some(kind) = sniff_video(file.head()) else {
        return Err(Error::param("the file must be an MP4, MOV, WebM or Matroska video").into());
    };
    let (vid, video_key, cover_key) = store_video(&st, uid, file, kind).await?;
    let req = rpc::CompleteUploadRequest {
        caller_id: uid,
        upload_id,
        video_id: vid,
        video_url: st.object_url(&video_key).into(),
        cover_url: st.object_url(&cover_key).into(),
    };
    let video = match from_rpc(st.video.complete_upload(req).await) {
        Ok(r) => r.video,
        Err(e) => {
            // e.g. completed by a concurrent request
            forget_refused(&st, &e, &[&video_key, &cover_key]).await;
            return Err(e.into());
        }
    };
    remove_parts(&st, upload_id).await;
    st.announce_image(&st.object_url(&cover_key), "cover", uid)
        .await;
    Ok(ok(VideoView::new(video, None)))
}

/// Stream the parts in order into one temporary object (MD5 computed on the way).
async fn assemble(st: &AppState, upload: &rpc::Upload) -> Result<TempObject, ApiError> {
    let limit = u64::try_from(upload.total_size).unwrap_or(0);
    let mut file = st.store.begin(limit).await.map_err(Error::internal)?;
    let mut buf = vec![0u8; COPY_BUF];
    for chunk in &upload.chunks {
        let key = part_key(upload.upload_id, chunk.number, &chunk.md5);
        let (mut part, _) = match ObjectStore::read(&st.parts, &key).await {
            Ok(p) => p,
            Err(StorageError::NotFound) => {
                tracing::warn!(upload_id = upload.upload_id, key, "recorded part missing");
                return Err(Error::param(format!(
                    "chunk {} is missing from storage: send it again",
                    chunk.number
                ))
                .into());
            }
            Err(e) => return Err(Error::internal(e).into()),
        };
        loop {
            let n = part.read(&mut buf).await.map_err(Error::internal)?;
            if n == 0 {
                break;
            }
            file.write(&buf[..n]).await.map_err(|e| match e {
                StorageError::TooLarge { .. } => {
                    Error::param("the chunks hold more bytes than total_size")
                }
                e => Error::internal(e),
            })?;
        }
    }
    if file.size() != limit {
        return Err(Error::param("the chunks do not add up to total_size").into());
    }
    Ok(file)
}

/// Give up an upload: its parts are removed.
async fn cancel(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let upload_id = required_id(&input, "upload_id")?;
    let req = rpc::CancelUploadRequest {
        caller_id: uid,
        upload_id,
    };
    from_rpc(st.video.cancel_upload(req).await)?;
    remove_parts(&st, upload_id).await;
    Ok(ok_empty())
}

/// Where an upload stands: the chunks received and missing, to resume after a
/// broken connection.
async fn status(Extension(st): Extension<State>, Caller(uid): Caller, input: Input) -> ApiResult {
    let upload_id = required_id(&input, "upload_id")?;
    let upload = get_upload(&st, uid, upload_id).await?;
    Ok(ok(upload_view(&st, upload)))
}

async fn remove_part(st: &AppState, key: &str) {
    if let Err(e) = ObjectStore::delete(&st.parts, key).await {
        tracing::warn!(error = %e, key, "could not remove a refused part");
    }
}

/// Best effort: what is left is removed by the expiry job.
async fn remove_parts(st: &AppState, upload_id: i64) {
    if let Err(e) = ObjectStore::delete_prefix(&st.parts, &parts_prefix(upload_id)).await {
        tracing::warn!(error = %e, upload_id, "could not remove the parts of an upload");
    }
}

/// Remove expired uploads every `every` (a job of the gateway; 0 = off): their parts
/// first, then their state in the video service. Several gateways may run it: both
/// steps are idempotent.
pub fn expire_every(jobs: &fanone_jobs::Jobs, state: &State, every: Duration) {
    let state = state.clone();
    jobs.every("upload-expiry", every, move || {
        let state = state.clone();
        async move { expire(&state).await }
    });
}

/// One run of the expiry job; how many uploads were purged.
pub async fn expire(st: &AppState) -> Result<i64, Error> {
    let mut purged = 0;
    loop {
        let req = rpc::ExpiredUploadsRequest {
            limit: EXPIRY_BATCH,
        };
        let ids = from_rpc(st.video.expired_uploads(req).await)?.upload_ids;
        let mut removed = Vec::with_capacity(ids.len());
        for id in &ids {
            match ObjectStore::delete_prefix(&st.parts, &parts_prefix(*id)).await {
                Ok(()) => removed.push(*id),
                Err(e) => tracing::warn!(error = %e, upload_id = id, "parts not removed"),
            }
        }
        let mut batch = 0;
        if !removed.is_empty() {
            let req = rpc::PurgeUploadsRequest {
                upload_ids: removed,
            };
            batch = from_rpc(st.video.purge_uploads(req).await)?.purged;
            purged += batch;
        }
        // a full batch that made no progress is retried at the next run
        if ids.len() < EXPIRY_BATCH as usize || batch == 0 {
            break;
        }
    }
    if purged > 0 {
        tracing::info!(purged, "expired uploads removed");
    }
    Ok(purged)
}
