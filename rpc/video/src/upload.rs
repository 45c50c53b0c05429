//! Chunked, resumable uploads: the rules over the store. The gateway stores the
//! parts and assembles the file; this service keeps each upload's state, so any
//! gateway replica takes the next chunk, and decides who may use an upload, which
//! chunks count, and when it expires.

use fanone_id::now_ms;

use crate::{
    service::{Result, VideoError, VideoItem, VideoService, validate_description, validate_title},
    store::{ChunkAdded, ChunkRecord, UploadRecord, UploadState, VideoStore},
};

/// The limits of chunked uploads (`[upload]` of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    pub max_bytes: i64,
    pub max_chunk_bytes: i64,
    pub max_chunks: i32,
    pub max_open_per_user: u64,
    /// An open upload without a new chunk for this long expires; a closed one is
    /// kept this long (its status stays readable).
    pub ttl_ms: i64,
}

impl From<&fanone_config::UploadConfig> for UploadLimits {
    fn from(c: &fanone_config::UploadConfig) -> Self {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Self {
            max_bytes: clamp(c.max_bytes),
            max_chunk_bytes: clamp(c.max_chunk_bytes),
            max_chunks: i32::try_from(c.max_chunks).unwrap_or(i32::MAX),
            max_open_per_user: u64::from(c.max_open_per_user),
            ttl_ms: clamp(c.ttl_secs.saturating_mul(1000)),
        }
    }
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self::from(&fanone_config::UploadConfig::default())
    }
}

/// What `start_upload` needs.
#[derive(Debug, Clone, Copy)]
pub struct NewUpload<'a> {
    pub caller_id: i64,
    pub title: &'a str,
    pub description: &'a str,
    pub total_size: i64,
    pub chunk_count: i32,
    pub file_md5: &'a str,
}

/// An upload with the chunks received so far (by number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadView {
    pub upload: UploadRecord,
    pub chunks: Vec<ChunkRecord>,
}

impl UploadView {
    /// The numbers not received yet.
    pub fn missing(&self) -> Vec<i32> {
        let mut have = self.chunks.iter().map(|c| c.number).peekable();
        (1..=self.upload.chunk_count)
            .filter(|n| {
                while have.next_if(|h| h < n).is_some() {}
                have.next_if_eq(n).is_none()
            })
            .collect()
    }
}

/// A checksum as 32 lower-case hex digits.
pub fn normalize_md5(md5: &str) -> Option<String> {
    let md5 = md5.trim();
    (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit())).then(|| md5.to_lowercase())
}

impl<S: VideoStore> VideoService<S> {
    pub async fn start_upload(&self, new: NewUpload<'_>) -> Result<UploadView> {
        let lim = self.upload_limits();
        if new.caller_id <= 0 {
            return Err(VideoError::InvalidInput("an uploader is required"));
        }
        let title = validate_title(new.title)?;
        let description = validate_description(new.description)?;
        if !(1..=lim.max_bytes).contains(&new.total_size) {
            return Err(VideoError::Rejected(format!(
                "total_size must be 1..={} bytes",
                lim.max_bytes
            )));
        }
        if !(1..=lim.max_chunks).contains(&new.chunk_count)
            || i64::from(new.chunk_count) > new.total_size
        {
            return Err(VideoError::Rejected(format!(
                "chunk_count must be 1..={} and at most total_size",
                lim.max_chunks
            )));
        }
        // the chunks must be able to hold the file
        let fewest = (new.total_size + lim.max_chunk_bytes - 1) / lim.max_chunk_bytes;
        if i64::from(new.chunk_count) < fewest {
            return Err(VideoError::Rejected(format!(
                "a chunk holds at most {} bytes: use at least {fewest} chunks",
                lim.max_chunk_bytes
            )));
        }
        let file_md5 = normalize_md5(new.file_md5).ok_or(VideoError::InvalidInput(
            "file_md5 must be 32 hexadecimal digits",
        ))?;
        let now = now_ms();
        let upload = UploadRecord {
            id: self.next_id(),
            user_id: new.caller_id,
            title: title.to_owned(),
            description: description.to_owned(),
            total_size: new.total_size,
            chunk_count: new.chunk_count,
            file_md5,
            state: UploadState::Open,
            video_id: None,
            created_at: now,
            updated_at: now,
            expires_at: now.saturating_add(lim.ttl_ms),
        };
        if !self
            .store()
            .insert_upload(&upload, lim.max_open_per_user, now)
            .await?
        {
            return Err(VideoError::Rejected(format!(
                "at most {} unfinished uploads per user: complete or cancel one",
                lim.max_open_per_user
            )));
        }
        tracing::info!(
            upload_id = upload.id,
            user_id = upload.user_id,
            "upload started"
        );
        Ok(UploadView {
            upload,
            chunks: Vec::new(),
        })
    }

    /// An upload of the caller, whatever its state, unless it has been purged or
    /// (open) has expired.
    pub async fn get_upload(&self, caller_id: i64, upload_id: i64) -> Result<UploadView> {
        let (upload, chunks) = self
            .store()
            .upload(upload_id)
            .await?
            .ok_or(VideoError::UploadNotFound)?;
        if upload.state == UploadState::Open && upload.expires_at <= now_ms() {
            return Err(VideoError::UploadNotFound);
        }
        if upload.user_id != caller_id {
            return Err(VideoError::NotUploader);
        }
        Ok(UploadView { upload, chunks })
    }

    /// An open upload of the caller.
    async fn open_upload(&self, caller_id: i64, upload_id: i64) -> Result<UploadView> {
        let view = self.get_upload(caller_id, upload_id).await?;
        match view.upload.state {
            UploadState::Open => Ok(view),
            UploadState::Completed => Err(VideoError::UploadCompleted),
            UploadState::Cancelled => Err(VideoError::UploadNotFound),
        }
    }

    /// Record a chunk the gateway stored. Returns whether that number had already
    /// been received (with the same content), and how many chunks are received.
    pub async fn record_chunk(
        &self,
        caller_id: i64,
        upload_id: i64,
        chunk: ChunkRecord,
    ) -> Result<(bool, i32)> {
        let view = self.open_upload(caller_id, upload_id).await?;
        let u = &view.upload;
        if !(1..=u.chunk_count).contains(&chunk.number) {
            return Err(VideoError::Rejected(format!(
                "chunk_number must be 1..={}",
                u.chunk_count
            )));
        }
        let md5 = normalize_md5(&chunk.md5).ok_or(VideoError::InvalidInput(
            "chunk_md5 must be 32 hexadecimal digits",
        ))?;
        let others: i64 = view
            .chunks
            .iter()
            .filter(|c| c.number != chunk.number)
            .map(|c| c.size)
            .sum();
        if chunk.size <= 0 || others.saturating_add(chunk.size) > u.total_size {
            return Err(VideoError::Rejected(format!(
                "chunk {} of {} bytes does not fit: the file has {} bytes",
                chunk.number, chunk.size, u.total_size
            )));
        }
        let chunk = ChunkRecord { md5, ..chunk };
        let now = now_ms();
        let received = i32::try_from(view.chunks.len()).unwrap_or(i32::MAX);
        match self
            .store()
            .add_chunk(
                upload_id,
                &chunk,
                now,
                now.saturating_add(self.upload_limits().ttl_ms),
            )
            .await?
        {
            ChunkAdded::Added => Ok((false, received + 1)),
            ChunkAdded::Existing(c) if c.md5 == chunk.md5 && c.size == chunk.size => {
                Ok((true, received))
            }
            ChunkAdded::Existing(c) => Err(VideoError::ChunkConflict(c.number)),
            // closed or expired between the read and the write
            ChunkAdded::NotOpen => Err(VideoError::UploadNotFound),
        }
    }

    /// Publish the video the gateway assembled from the upload's chunks and close
    /// the upload, in one transaction.
    pub async fn complete_upload(
        &self,
        caller_id: i64,
        upload_id: i64,
        video_id: i64,
        video_url: &str,
        cover_url: &str,
    ) -> Result<VideoItem> {
        let view = self.open_upload(caller_id, upload_id).await?;
        let missing = view.missing();
        if !missing.is_empty() {
            return Err(VideoError::Rejected(format!(
                "chunks not received yet: {}",
                list(&missing)
            )));
        }
        let u = &view.upload;
        let received: i64 = view.chunks.iter().map(|c| c.size).sum();
        if received != u.total_size {
            return Err(VideoError::Rejected(format!(
                "the chunks hold {received} bytes, the file {} bytes",
                u.total_size
            )));
        }
        let video = self.new_video_record(
            caller_id,
            Some(video_id),
            &u.title,
            &u.description,
            video_url,
            cover_url,
        )?;
        let now = now_ms();
        let kept = now.saturating_add(self.upload_limits().ttl_ms);
        if !self
            .store()
            .close_upload(upload_id, UploadState::Completed, Some(&video), now, kept)
            .await
            .map_err(|e| self.map_insert(e))?
        {
            // completed or cancelled by a concurrent request
            return Err(VideoError::UploadCompleted);
        }
        tracing::info!(upload_id, video_id, user_id = caller_id, "upload completed");
        Ok(VideoItem {
            video,
            visit_count: 0,
        })
    }

    pub async fn cancel_upload(&self, caller_id: i64, upload_id: i64) -> Result<()> {
        self.open_upload(caller_id, upload_id).await?;
        let now = now_ms();
        let kept = now.saturating_add(self.upload_limits().ttl_ms);
        if !self
            .store()
            .close_upload(upload_id, UploadState::Cancelled, None, now, kept)
            .await?
        {
            return Err(VideoError::UploadNotFound);
        }
        tracing::info!(upload_id, user_id = caller_id, "upload cancelled");
        Ok(())
    }

    /// Uploads past their expiry, at most `limit`.
    pub async fn expired_uploads(&self, limit: i32) -> Result<Vec<i64>> {
        let limit = u64::try_from(limit.clamp(1, 1000)).unwrap_or(1);
        Ok(self.store().expired_uploads(now_ms(), limit).await?)
    }

    /// Forget uploads past their expiry (the gateway removed their parts).
    pub async fn purge_uploads(&self, ids: &[i64]) -> Result<u64> {
        if ids.len() > 1000 {
            return Err(VideoError::InvalidInput("too many ids in one batch"));
        }
        Ok(self.store().purge_uploads(ids, now_ms()).await?)
    }
}

/// `1, 2, 5` (at most 20 numbers, then `...`).
fn list(numbers: &[i32]) -> String {
    let mut s = numbers
        .iter()
        .take(20)
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if numbers.len() > 20 {
        s.push_str(", ...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(count: i32, have: &[i32]) -> UploadView {
        UploadView {
            upload: UploadRecord {
                id: 1,
                user_id: 1,
                title: "t".into(),
                description: String::new(),
                total_size: 100,
                chunk_count: count,
                file_md5: "0".repeat(32),
                state: UploadState::Open,
                video_id: None,
                created_at: 0,
                updated_at: 0,
                expires_at: 0,
            },
            chunks: have
                .iter()
                .map(|&number| ChunkRecord {
                    number,
                    size: 1,
                    md5: "0".repeat(32),
                })
                .collect(),
        }
    }

    #[test]
    fn missing_chunks() {
        assert_eq!(view(4, &[]).missing(), vec![1, 2, 3, 4]);
        assert_eq!(view(4, &[2, 4]).missing(), vec![1, 3]);
        assert_eq!(view(3, &[1, 2, 3]).missing(), Vec::<i32>::new());
        assert_eq!(list(&(1..=25).collect::<Vec<_>>()).matches(',').count(), 20);
    }

    #[test]
    fn md5_digits() {
        assert_eq!(
            normalize_md5(" 5EB63BBBE01EEED093CB22BB8F5ACDC3 ").as_deref(),
            Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
        );
        assert!(normalize_md5("5eb63bbbe01eeed093cb22bb8f5acdc").is_none());
        assert!(normalize_md5("zeb63bbbe01eeed093cb22bb8f5acdc3").is_none());
    }
}
