//! `InteractionStore` over sea-orm: one implementation for SQLite and MySQL protocol.
//!
//! Writes run in [`begin_write`] transactions. On SQLite that is `BEGIN IMMEDIATE`:
//! the write lock is taken up front, so writers are serialised and every read inside
//! sees the latest data. On MySQL it is READ COMMITTED with locking reads
//! (`FOR UPDATE`) on the comments a write depends on, which read the latest
//! committed row and hold it until commit — a reply and the deletion of its parent
//! are serialised on the parent's row; READ COMMITTED avoids gap locks, so these
//! writers cannot deadlock on index gaps.

use std::collections::{HashMap, HashSet};

use fanone_counter::Counters;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, sea_query::Expr,
};

use super::{
    CommentRecord, InteractionStore, NewComment, Removed, StoreError, Target, Thread, Window,
    counter,
    entity::comment,
    entity::like,
    group::{Change, LikeWriter},
};

/// Largest id list in one `IN (...)`.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaInteractionStore {
    db: DatabaseConnection,
    counters: Counters,
    /// Group commit of likes (`group.rs`); without it each like is a transaction.
    likes: Option<LikeWriter>,
}

impl SeaInteractionStore {
    pub fn new(db: DatabaseConnection, counters: Counters) -> Self {
        Self {
            db,
            counters,
            likes: None,
        }
    }

    /// Write likes and unlikes that arrive together in one transaction, by a writer
    /// job owned by `jobs`.
    pub fn with_group_commit(mut self, jobs: &fanone_jobs::Jobs) -> Self {
        self.likes = Some(LikeWriter::start(self.db.clone(), jobs));
        self
    }

    async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        fanone_db::begin_write(&self.db).await
    }
}

fn to_record(m: comment::Model) -> CommentRecord {
    CommentRecord {
        id: m.id,
        user_id: m.user_id,
        video_id: m.video_id,
        parent_id: m.parent_id,
        content: m.content,
        created_at: m.created_at,
        updated_at: m.updated_at,
        deleted_at: m.deleted_at,
    }
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether comment `id` is live, read inside a write transaction.
async fn comment_is_live<C: ConnectionTrait>(conn: &C, id: i64) -> Result<bool, DbErr> {
    Ok(comment::Entity::find_by_id(id)
        .filter(comment::Column::DeletedAt.is_null())
        .count(conn)
        .await?
        > 0)
}

fn like_filter(user_id: i64, target: Target) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(like::Column::UserId.eq(user_id))
        .add(like::Column::Kind.eq(target.kind()))
        .add(like::Column::TargetId.eq(target.id()))
}

/// Commit on success. On failure roll back before answering, so the write lock
/// (SQLite) or the row locks (MySQL) are gone by the time the caller hears back.
async fn finish<T>(txn: DatabaseTransaction, r: Result<T, StoreError>) -> Result<T, StoreError> {
    match r {
        Ok(v) => {
            txn.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = txn.rollback().await {
                tracing::warn!(error = %rb, "rollback failed");
            }
            Err(e)
        }
    }
}

pub(super) async fn like_in(
    txn: &DatabaseTransaction,
    user_id: i64,
    target: Target,
    now: i64,
) -> Result<(), StoreError> {
    if let Target::Comment(id) = target
        && !comment_is_live(txn, id).await?
    {
        return Err(StoreError::NotFound);
    }
    let row = like::ActiveModel {
        user_id: Set(user_id),
        kind: Set(target.kind()),
        target_id: Set(target.id()),
        created_at: Set(now),
    };
    // the primary key, not a prior read, decides whether this is a second like
    if let Err(e) = like::Entity::insert(row).exec_without_returning(txn).await {
        return Err(if is_unique_violation(&e) {
            StoreError::NoChange
        } else {
            e.into()
        });
    }
    fanone_counter::add(txn, target.like_counter(), target.id(), 1).await?;
    Ok(())
}

pub(super) async fn unlike_in(
    txn: &DatabaseTransaction,
    user_id: i64,
    target: Target,
) -> Result<(), StoreError> {
    if let Target::Comment(id) = target
        && !comment_is_live(txn, id).await?
    {
        return Err(StoreError::NotFound);
    }
    let res = like::Entity::delete_many()
        .filter(like_filter(user_id, target))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NoChange);
    }
    fanone_counter::add(txn, target.like_counter(), target.id(), -1).await?;
    Ok(())
}

async fn insert_comment_in(
    txn: &DatabaseTransaction,
    c: &NewComment,
) -> Result<CommentRecord, StoreError> {
    let (video_id, parent_id) = match c.thread {
        Thread::Video(video_id) => (video_id, 0),
        Thread::Reply(parent_id) => {
            // lock the parent: its deletion cannot interleave with this reply
            let parent = comment::Entity::find_by_id(parent_id)
                .lock_exclusive()
                .one(txn)
                .await?
                .filter(|p| p.deleted_at.is_none())
                .ok_or(StoreError::NotFound)?;
            (parent.video_id, parent_id)
        }
    };
    let row = comment::Model {
        id: c.id,
        user_id: c.user_id,
        video_id,
        parent_id,
        content: c.content.clone(),
        created_at: c.now,
        updated_at: c.now,
        deleted_at: None,
    };
    comment::Entity::insert(comment::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    let mut changes = vec![(counter::VIDEO_COMMENTS, video_id, 1)];
    if parent_id != 0 {
        changes.push((counter::COMMENT_REPLIES, parent_id, 1));
    }
    fanone_counter::add_many(txn, &changes).await?;
    Ok(to_record(row))
}

async fn delete_in(
    txn: &DatabaseTransaction,
    author: i64,
    id: i64,
    now: i64,
) -> Result<Removed, StoreError> {
    let root = comment::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .filter(|c| c.deleted_at.is_none())
        .ok_or(StoreError::NotFound)?;
    if root.user_id != author {
        return Err(StoreError::NotAuthor);
    }
    // every live descendant, level by level, each locked as it is found
    let mut removed = vec![root.id];
    let mut replies_lost: HashMap<i64, i64> = HashMap::new();
    let mut level = vec![root.id];
    while !level.is_empty() {
        let mut next = Vec::new();
        for chunk in level.chunks(CHUNK) {
            let children: Vec<(i64, i64)> = comment::Entity::find()
                .select_only()
                .column(comment::Column::Id)
                .column(comment::Column::ParentId)
                .filter(comment::Column::ParentId.is_in(chunk.iter().copied()))
                .filter(comment::Column::DeletedAt.is_null())
                .lock_exclusive()
                .into_tuple()
                .all(txn)
                .await?;
            for (child, parent) in children {
                // keeps every child_count equal to its live replies, also on
                // the (now deleted) comments of the subtree
                *replies_lost.entry(parent).or_default() -= 1;
                next.push(child);
            }
        }
        removed.extend_from_slice(&next);
        level = next;
    }
    for chunk in removed.chunks(CHUNK) {
        comment::Entity::update_many()
            .col_expr(comment::Column::DeletedAt, Expr::value(now))
            .col_expr(comment::Column::UpdatedAt, Expr::value(now))
            .filter(comment::Column::Id.is_in(chunk.iter().copied()))
            .filter(comment::Column::DeletedAt.is_null())
            .exec(txn)
            .await?;
    }
    let count = removed.len() as i64;
    if root.parent_id != 0 {
        *replies_lost.entry(root.parent_id).or_default() -= 1;
    }
    let mut changes: Vec<(i16, i64, i64)> = replies_lost
        .into_iter()
        .map(|(parent, d)| (counter::COMMENT_REPLIES, parent, d))
        .collect();
    changes.push((counter::VIDEO_COMMENTS, root.video_id, -count));
    fanone_counter::add_many(txn, &changes).await?;
    Ok(Removed {
        video_id: root.video_id,
        comments: count as u64,
    })
}

impl InteractionStore for SeaInteractionStore {
    async fn like(&self, user_id: i64, target: Target, now: i64) -> Result<(), StoreError> {
        if let Some(w) = &self.likes {
            return w.write(user_id, target, Change::Like { now }).await;
        }
        let txn = self.begin_write().await?;
        let r = like_in(&txn, user_id, target, now).await;
        finish(txn, r).await
    }

    async fn unlike(&self, user_id: i64, target: Target) -> Result<(), StoreError> {
        if let Some(w) = &self.likes {
            return w.write(user_id, target, Change::Unlike).await;
        }
        let txn = self.begin_write().await?;
        let r = unlike_in(&txn, user_id, target).await;
        finish(txn, r).await
    }

    async fn liked_videos(&self, user_id: i64, w: Window) -> Result<(Vec<i64>, i64), StoreError> {
        let kind = Target::Video(0).kind();
        let mine = || {
            like::Entity::find()
                .filter(like::Column::UserId.eq(user_id))
                .filter(like::Column::Kind.eq(kind))
        };
        let ids: Vec<i64> = mine()
            .select_only()
            .column(like::Column::TargetId)
            .order_by_desc(like::Column::CreatedAt)
            .order_by_desc(like::Column::TargetId)
            .offset(w.offset)
            .limit(w.limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        let total = mine().count(&self.db).await?;
        Ok((ids, total as i64))
    }

    async fn liked_among(
        &self,
        user_id: i64,
        kind: i16,
        targets: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        let mut out = HashSet::new();
        for chunk in targets.chunks(CHUNK) {
            let ids: Vec<i64> = like::Entity::find()
                .select_only()
                .column(like::Column::TargetId)
                .filter(like::Column::UserId.eq(user_id))
                .filter(like::Column::Kind.eq(kind))
                .filter(like::Column::TargetId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(ids);
        }
        Ok(out)
    }

    async fn insert_comment(&self, c: &NewComment) -> Result<CommentRecord, StoreError> {
        let txn = self.begin_write().await?;
        let r = insert_comment_in(&txn, c).await;
        finish(txn, r).await
    }

    async fn comment(&self, id: i64) -> Result<Option<CommentRecord>, StoreError> {
        Ok(comment::Entity::find_by_id(id)
            .filter(comment::Column::DeletedAt.is_null())
            .one(&self.db)
            .await?
            .map(to_record))
    }

    async fn top_level(
        &self,
        video_id: i64,
        w: Window,
    ) -> Result<(Vec<CommentRecord>, i64), StoreError> {
        let live = || {
            comment::Entity::find()
                .filter(comment::Column::VideoId.eq(video_id))
                .filter(comment::Column::ParentId.eq(0))
                .filter(comment::Column::DeletedAt.is_null())
        };
        let rows = live()
            .order_by_desc(comment::Column::Id)
            .offset(w.offset)
            .limit(w.limit)
            .all(&self.db)
            .await?;
        let total = live().count(&self.db).await?;
        Ok((rows.into_iter().map(to_record).collect(), total as i64))
    }

    async fn replies(
        &self,
        parent_id: i64,
        w: Window,
    ) -> Result<(Vec<CommentRecord>, i64), StoreError> {
        let live = || {
            comment::Entity::find()
                .filter(comment::Column::ParentId.eq(parent_id))
                .filter(comment::Column::DeletedAt.is_null())
        };
        let rows = live()
            .order_by_asc(comment::Column::Id)
            .offset(w.offset)
            .limit(w.limit)
            .all(&self.db)
            .await?;
        let total = live().count(&self.db).await?;
        Ok((rows.into_iter().map(to_record).collect(), total as i64))
    }

    async fn delete_comment(&self, author: i64, id: i64, now: i64) -> Result<Removed, StoreError> {
        let txn = self.begin_write().await?;
        let r = delete_in(&txn, author, id, now).await;
        finish(txn, r).await
    }

    async fn counts(&self, kind: i16, ids: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
        Ok(self.counters.get_many(kind, ids).await?)
    }

    async fn settle(&self) -> Result<u64, StoreError> {
        Ok(self.counters.settle().await?)
    }
}
