//! `VideoStore` over sea-orm: one implementation for SQLite and MySQL protocol.
//! Visit counts are `fanone_counter` counters in the same database.

use std::{collections::HashMap, sync::Arc};

use fanone_counter::Counters;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};

use super::{
    ChunkAdded, ChunkRecord, Deletion, SearchFilter, StoreError, StoreResult, UploadRecord,
    UploadState, VideoRecord, VideoStore, Window, entity,
    upload_entity::{chunk, upload},
};

/// Counter kind of visits (kinds are numbered per service).
pub const VISIT: i16 = 1;

/// Most ids in one `IN (...)` list.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaVideoStore {
    db: DatabaseConnection,
    counters: Arc<Counters>,
}

impl SeaVideoStore {
    pub fn new(db: DatabaseConnection) -> Self {
        let counters = Arc::new(Counters::new(db.clone()));
        Self { db, counters }
    }

    /// The visit counters, e.g. to start their settler.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// `SELECT COUNT(*)` of a query's rows, flat (no derived table), so a covering
    /// index answers it alone.
    async fn count(&self, q: Select<entity::Entity>) -> StoreResult<u64> {
        let n: Option<i64> = q
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }
}

fn to_record(m: entity::Model) -> VideoRecord {
    VideoRecord {
        id: m.id,
        user_id: m.user_id,
        title: m.title,
        description: m.description,
        video_url: m.video_url,
        cover_url: m.cover_url,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn video_model(v: &VideoRecord) -> entity::ActiveModel {
    entity::ActiveModel {
        id: Set(v.id),
        user_id: Set(v.user_id),
        title: Set(v.title.clone()),
        description: Set(v.description.clone()),
        video_url: Set(v.video_url.clone()),
        cover_url: Set(v.cover_url.clone()),
        created_at: Set(v.created_at),
        updated_at: Set(v.updated_at),
        deleted_at: Set(None),
    }
}

fn to_upload(m: upload::Model) -> Result<UploadRecord, StoreError> {
    let state = UploadState::from_i16(m.state)
        .ok_or_else(|| DbErr::Custom(format!("upload {} has unknown state {}", m.id, m.state)))?;
    Ok(UploadRecord {
        id: m.id,
        user_id: m.user_id,
        title: m.title,
        description: m.description,
        total_size: m.total_size,
        chunk_count: m.chunk_count,
        file_md5: m.file_md5,
        state,
        video_id: m.video_id,
        created_at: m.created_at,
        updated_at: m.updated_at,
        expires_at: m.expires_at,
    })
}

fn to_chunk(m: chunk::Model) -> ChunkRecord {
    ChunkRecord {
        number: m.number,
        size: m.size,
        md5: m.md5,
    }
}

/// Open uploads that have not expired at `now`.
fn open_at(now: i64) -> Condition {
    Condition::all()
        .add(upload::Column::State.eq(UploadState::Open as i16))
        .add(upload::Column::ExpiresAt.gt(now))
}

fn map_insert_err(e: DbErr) -> StoreError {
    if fanone_db::is_unique_violation(&e) {
        StoreError::Duplicate
    } else {
        StoreError::Db(e)
    }
}

/// Live videos only.
fn live() -> Select<entity::Entity> {
    entity::Entity::find().filter(entity::Column::DeletedAt.is_null())
}

/// Newest first; the id breaks ties within one millisecond, so paging is stable.
fn newest_first(q: Select<entity::Entity>) -> Select<entity::Entity> {
    q.order_by_desc(entity::Column::CreatedAt)
        .order_by_desc(entity::Column::Id)
}

fn contains_ci(col: entity::Column, pattern: &str) -> Expr {
    Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.to_owned()).escape('\\'))
}

fn search_condition(f: &SearchFilter) -> Condition {
    let mut cond = Condition::all().add(entity::Column::DeletedAt.is_null());
    if let Some(k) = f.keywords.as_deref().filter(|k| !k.is_empty()) {
        let pattern = fanone_db::like_contains(&k.to_lowercase());
        cond = cond.add(
            Condition::any()
                .add(contains_ci(entity::Column::Title, &pattern))
                .add(contains_ci(entity::Column::Description, &pattern)),
        );
    }
    if let Some(from) = f.from {
        cond = cond.add(entity::Column::CreatedAt.gte(from));
    }
    if let Some(to) = f.to {
        cond = cond.add(entity::Column::CreatedAt.lte(to));
    }
    if let Some(ids) = &f.user_ids {
        cond = cond.add(entity::Column::UserId.is_in(ids.iter().copied()));
    }
    cond
}

impl VideoStore for SeaVideoStore {
    async fn insert(&self, v: &VideoRecord) -> StoreResult<()> {
        entity::Entity::insert(video_model(v))
            .exec_without_returning(&self.db)
            .await
            .map_err(map_insert_err)?;
        Ok(())
    }

    async fn by_ids(&self, ids: &[i64]) -> StoreResult<Vec<VideoRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows = live()
                .filter(entity::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(to_record));
        }
        Ok(out)
    }

    async fn list_by_user(&self, user_id: i64, w: Window) -> StoreResult<(Vec<VideoRecord>, u64)> {
        let q = live().filter(entity::Column::UserId.eq(user_id));
        let total = self.count(q.clone()).await?;
        if w.offset >= total {
            return Ok((Vec::new(), total));
        }
        let rows = newest_first(q)
            .offset(w.offset)
            .limit(w.limit)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter().map(to_record).collect(), total))
    }

    async fn ids_by_user(&self, user_id: i64, limit: u64) -> StoreResult<(Vec<i64>, u64)> {
        let q = live().filter(entity::Column::UserId.eq(user_id));
        let total = self.count(q.clone()).await?;
        let ids: Vec<i64> = newest_first(q)
            .select_only()
            .column(entity::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok((ids, total))
    }

    async fn feed(&self, after: Option<i64>, w: Window) -> StoreResult<Vec<VideoRecord>> {
        let mut q = live();
        if let Some(t) = after {
            q = q.filter(entity::Column::CreatedAt.gt(t));
        }
        let rows = newest_first(q)
            .offset(w.offset)
            .limit(w.limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_record).collect())
    }

    async fn search(&self, f: &SearchFilter, w: Window) -> StoreResult<(Vec<VideoRecord>, u64)> {
        if f.user_ids.as_ref().is_some_and(Vec::is_empty) {
            // no uploader can match: skip the `IN ()` that some backends reject
            return Ok((Vec::new(), 0));
        }
        let q = entity::Entity::find().filter(search_condition(f));
        let total = self.count(q.clone()).await?;
        if w.offset >= total {
            return Ok((Vec::new(), total));
        }
        let rows = newest_first(q)
            .offset(w.offset)
            .limit(w.limit)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter().map(to_record).collect(), total))
    }

    async fn newest(&self, limit: u64) -> StoreResult<Vec<(i64, i64)>> {
        Ok(newest_first(live())
            .select_only()
            .column(entity::Column::Id)
            .column(entity::Column::CreatedAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    async fn created_at_of(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(i64, i64)> = live()
                .select_only()
                .column(entity::Column::Id)
                .column(entity::Column::CreatedAt)
                .filter(entity::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    async fn soft_delete(&self, id: i64, author: i64, now: i64) -> StoreResult<Deletion> {
        let Some(row) = entity::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(Deletion::NotFound);
        };
        match (row.user_id == author, row.deleted_at.is_some()) {
            // another user's deleted video is as good as unknown to the caller
            (false, true) => return Ok(Deletion::NotFound),
            (false, false) => return Ok(Deletion::NotAuthor),
            (true, true) => return Ok(Deletion::AlreadyDeleted(to_record(row))),
            (true, false) => {}
        }
        let res = entity::Entity::update_many()
            .col_expr(entity::Column::DeletedAt, Expr::value(now))
            .col_expr(entity::Column::UpdatedAt, Expr::value(now))
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::UserId.eq(author))
            .filter(entity::Column::DeletedAt.is_null())
            .exec(&self.db)
            .await?;
        if res.rows_affected == 1 {
            return Ok(Deletion::Deleted(VideoRecord {
                updated_at: now,
                ..to_record(row)
            }));
        }
        // a concurrent delete of the same video won
        match entity::Entity::find_by_id(id).one(&self.db).await? {
            Some(row) => Ok(Deletion::AlreadyDeleted(to_record(row))),
            None => Ok(Deletion::NotFound),
        }
    }

    async fn add_visit(&self, id: i64) -> StoreResult<bool> {
        let exists = live()
            .select_only()
            .column(entity::Column::Id)
            .filter(entity::Column::Id.eq(id))
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .is_some();
        if exists {
            self.counters.add(&self.db, VISIT, id, 1).await?;
        }
        Ok(exists)
    }

    async fn visit_counts(&self, ids: &[i64]) -> StoreResult<HashMap<i64, i64>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self.counters.get_many(VISIT, ids).await?)
    }

    async fn top_visited(&self, limit: u64) -> StoreResult<Vec<(i64, i64)>> {
        Ok(self.counters.top(VISIT, limit).await?)
    }

    async fn insert_upload(&self, u: &UploadRecord, max_open: u64, now: i64) -> StoreResult<bool> {
        // SQLite: one writer at a time, so the count holds until the insert. MySQL
        // (READ COMMITTED): two starts racing at the limit may both pass.
        fanone_db::write!(&self.db, |txn| {
            let open = upload::Entity::find()
                .filter(upload::Column::UserId.eq(u.user_id))
                .filter(open_at(now))
                .count(txn)
                .await?;
            if open >= max_open {
                return Ok(false);
            }
            let am = upload::ActiveModel {
                id: Set(u.id),
                user_id: Set(u.user_id),
                title: Set(u.title.clone()),
                description: Set(u.description.clone()),
                total_size: Set(u.total_size),
                chunk_count: Set(u.chunk_count),
                file_md5: Set(u.file_md5.clone()),
                state: Set(u.state as i16),
                video_id: Set(u.video_id),
                created_at: Set(u.created_at),
                updated_at: Set(u.updated_at),
                expires_at: Set(u.expires_at),
            };
            upload::Entity::insert(am)
                .exec_without_returning(txn)
                .await
                .map_err(map_insert_err)?;
            Ok(true)
        })
        .await
    }

    async fn upload(&self, id: i64) -> StoreResult<Option<(UploadRecord, Vec<ChunkRecord>)>> {
        let Some(m) = upload::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let chunks = chunk::Entity::find()
            .filter(chunk::Column::UploadId.eq(id))
            .order_by_asc(chunk::Column::Number)
            .all(&self.db)
            .await?;
        Ok(Some((
            to_upload(m)?,
            chunks.into_iter().map(to_chunk).collect(),
        )))
    }

    async fn add_chunk(
        &self,
        upload_id: i64,
        c: &ChunkRecord,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<ChunkAdded> {
        fanone_db::write!(&self.db, |txn| {
            // moving the expiry first also locks the upload's row (MySQL) until commit,
            // so a chunk and the completion or cancellation of its upload serialise
            let moved = upload::Entity::update_many()
                .col_expr(upload::Column::ExpiresAt, Expr::value(expires_at))
                .col_expr(upload::Column::UpdatedAt, Expr::value(now))
                .filter(upload::Column::Id.eq(upload_id))
                .filter(open_at(now))
                .exec(txn)
                .await?;
            if moved.rows_affected == 0 {
                return Ok(ChunkAdded::NotOpen);
            }
            let am = chunk::ActiveModel {
                upload_id: Set(upload_id),
                number: Set(c.number),
                size: Set(c.size),
                md5: Set(c.md5.clone()),
                created_at: Set(now),
            };
            match chunk::Entity::insert(am).exec_without_returning(txn).await {
                Ok(_) => Ok(ChunkAdded::Added),
                Err(e) if fanone_db::is_unique_violation(&e) => {
                    let existing = chunk::Entity::find_by_id((upload_id, c.number))
                        .one(txn)
                        .await?
                        .ok_or_else(|| {
                            DbErr::RecordNotFound("chunk of a unique violation".into())
                        })?;
                    Ok(ChunkAdded::Existing(to_chunk(existing)))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn close_upload(
        &self,
        id: i64,
        state: UploadState,
        video: Option<&VideoRecord>,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        fanone_db::write!(&self.db, |txn| {
            let closed = upload::Entity::update_many()
                .col_expr(upload::Column::State, Expr::value(state as i16))
                .col_expr(upload::Column::VideoId, Expr::value(video.map(|v| v.id)))
                .col_expr(upload::Column::UpdatedAt, Expr::value(now))
                .col_expr(upload::Column::ExpiresAt, Expr::value(expires_at))
                .filter(upload::Column::Id.eq(id))
                .filter(open_at(now))
                .exec(txn)
                .await?;
            if closed.rows_affected == 0 {
                return Ok(false);
            }
            if let Some(v) = video {
                entity::Entity::insert(video_model(v))
                    .exec_without_returning(txn)
                    .await
                    .map_err(map_insert_err)?;
            }
            Ok(true)
        })
        .await
    }

    async fn expired_uploads(&self, now: i64, limit: u64) -> StoreResult<Vec<i64>> {
        Ok(upload::Entity::find()
            .select_only()
            .column(upload::Column::Id)
            .filter(upload::Column::ExpiresAt.lte(now))
            .order_by_asc(upload::Column::ExpiresAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    async fn purge_uploads(&self, ids: &[i64], now: i64) -> StoreResult<u64> {
        let mut purged = 0;
        for ids in ids.chunks(CHUNK) {
            purged += fanone_db::write!(&self.db, |txn| {
                let gone: Vec<i64> = upload::Entity::find()
                    .select_only()
                    .column(upload::Column::Id)
                    .filter(upload::Column::Id.is_in(ids.iter().copied()))
                    .filter(upload::Column::ExpiresAt.lte(now))
                    .into_tuple()
                    .all(txn)
                    .await?;
                if gone.is_empty() {
                    return Ok(0);
                }
                chunk::Entity::delete_many()
                    .filter(chunk::Column::UploadId.is_in(gone.iter().copied()))
                    .exec(txn)
                    .await?;
                Ok::<_, StoreError>(
                    upload::Entity::delete_many()
                        .filter(upload::Column::Id.is_in(gone.iter().copied()))
                        .exec(txn)
                        .await?
                        .rows_affected,
                )
            })
            .await?;
        }
        Ok(purged)
    }
}
