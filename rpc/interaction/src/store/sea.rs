//! `InteractionStore` over sea-orm: one implementation for SQLite and MySQL protocol,
//! unsharded or split over N databases × M tables (`fanone_shard`).
//!
//! Writes run in [`begin_write`] transactions. On SQLite that is `BEGIN IMMEDIATE`:
//! the write lock is taken up front, so writers are serialised and every read inside
//! sees the latest data. On MySQL it is READ COMMITTED with locking reads
//! (`FOR UPDATE`) on the comments a write depends on, which read the latest
//! committed row and hold it until commit — a reply and the deletion of its parent
//! are serialised on the parent's row; READ COMMITTED avoids gap locks, so these
//! writers cannot deadlock on index gaps. A transaction InnoDB still gives up on as a
//! deadlock victim runs again ([`fanone_db::write!`]).
//!
//! **Placement.** Everything about a video lives in the video's slot: its likes, its
//! comments (replies too), the likes of those comments, and every counter they move —
//! so each change is one transaction in one database, and a video's comment page and
//! counts are one slot's queries. A comment named by id alone (reply, like, delete)
//! is found through `comment_homes` (id → video, placed by the comment id), written
//! before the comment. The one list that spans slots is a user's liked videos.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use fanone_counter::Counters;
use fanone_shard::{Place, Shard, Shards};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use super::{
    CommentRecord, InteractionStore, NewComment, Removed, StoreError, Target, Thread, Window,
    counter,
    entity::{comment, home, like},
    group::{Change, LikeWriter},
};

/// Largest id list in one `IN (...)`.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaInteractionStore {
    shards: Shards,
    /// The counters of each slot, by slot.
    counters: Vec<Counters>,
    /// Group commit of likes (`group.rs`); without it each like is a transaction.
    likes: Option<LikeWriter>,
    /// Comment homes seen by this process (a home never changes).
    known_homes: Arc<KnownHomes>,
}

/// Comment id → video id, as read from or written to `comment_homes`. The mapping
/// is immutable, so a copy is never stale and needs no invalidation; at most
/// `KnownHomes::MAX` entries, forgotten all at once when full.
#[derive(Default)]
struct KnownHomes(Mutex<HashMap<i64, i64>>);

impl KnownHomes {
    const MAX: usize = 200_000;

    fn get_many(&self, ids: &[i64]) -> HashMap<i64, i64> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .filter_map(|id| known.get(id).map(|&v| (*id, v)))
            .collect()
    }

    fn put_many(&self, homes: &[(i64, i64)]) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() + homes.len() > Self::MAX {
            known.clear();
        }
        known.extend(homes.iter().copied());
    }
}

/// One slot's tables, as a write transaction sees them.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub(super) shard: Shard<'a>,
    pub(super) counters: &'a Counters,
}

impl SeaInteractionStore {
    pub fn new(shards: Shards) -> Self {
        let counters = Counters::per_slot(&shards);
        Self {
            shards,
            counters,
            likes: None,
            known_homes: Arc::default(),
        }
    }

    /// Write likes and unlikes that arrive together in one transaction per database,
    /// by writer jobs owned by `jobs`.
    pub fn with_group_commit(mut self, jobs: &fanone_jobs::Jobs) -> Self {
        self.likes = Some(LikeWriter::start(self.clone(), jobs));
        self
    }

    /// Every slot's counters (settled together by the service's job).
    pub fn counters(&self) -> &[Counters] {
        &self.counters
    }

    pub(super) fn shards(&self) -> &Shards {
        &self.shards
    }

    pub(super) fn at(&self, slot: usize) -> At<'_> {
        At {
            shard: self.shards.at(slot),
            counters: &self.counters[slot],
        }
    }

    /// The slot of everything about video `video`.
    fn of_video(&self, video: i64) -> At<'_> {
        self.at(self.shards.layout().slot_of(video))
    }

    /// The slot a like on `target` lives in (a comment's: its video's). `None` for a
    /// comment without a home (never stored).
    async fn slot_of_target(&self, target: Target) -> Result<Option<usize>, DbErr> {
        let video = match target {
            Target::Video(v) => Some(v),
            Target::Comment(c) => self.home(c).await?,
        };
        Ok(video.map(|v| self.shards.layout().slot_of(v)))
    }

    /// The video of comment `id` (unsharded: no lookup, every row is in slot 0).
    async fn home(&self, id: i64) -> Result<Option<i64>, DbErr> {
        Ok(self.homes(&[id]).await?.get(&id).copied())
    }

    /// The videos of comments `ids`, one query per slot of the homes. Unsharded the
    /// answer is a placeholder video (0) for each id: slot 0 holds everything.
    async fn homes(&self, ids: &[i64]) -> Result<HashMap<i64, i64>, DbErr> {
        if !self.shards.layout().is_sharded() {
            return Ok(ids.iter().map(|&id| (id, 0)).collect());
        }
        let mut out = self.known_homes.get_many(ids);
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !out.contains_key(id))
            .collect();
        for (shard, ids) in self.shards.group(missing, |&id| id) {
            for chunk in ids.chunks(CHUNK) {
                let rows: Vec<(i64, i64)> = home::Entity::find()
                    .on(shard)
                    .select_only()
                    .column(home::Column::Id)
                    .column(home::Column::VideoId)
                    .filter(home::Column::Id.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(shard.db())
                    .await?;
                self.known_homes.put_many(&rows);
                out.extend(rows);
            }
        }
        Ok(out)
    }

    /// Record where comment `id` lives (sharded only), before the comment itself:
    /// a committed comment always has a home; a home whose comment never committed
    /// leads to nothing.
    async fn set_home(&self, id: i64, video: i64) -> Result<(), DbErr> {
        if !self.shards.layout().is_sharded() {
            return Ok(());
        }
        self.known_homes.put_many(&[(id, video)]);
        let shard = self.shards.of(id);
        let row = home::ActiveModel {
            id: Set(id),
            video_id: Set(video),
        };
        match home::Entity::insert(row)
            .on(shard)
            .exec_without_returning(shard.db())
            .await
        {
            Err(e) if !fanone_db::is_unique_violation(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// `ids` (of comments) grouped by the slot of their video; unknown ones dropped.
    async fn comments_by_slot(&self, ids: &[i64]) -> Result<Vec<(usize, Vec<i64>)>, DbErr> {
        let homes = self.homes(ids).await?;
        let layout = self.shards.layout();
        let mut by: HashMap<usize, Vec<i64>> = HashMap::new();
        for &id in ids {
            if let Some(&video) = homes.get(&id) {
                by.entry(layout.slot_of(video)).or_default().push(id);
            }
        }
        Ok(by.into_iter().collect())
    }

    /// `ids` of `kind` grouped by slot: videos by their own id, comments by home.
    async fn by_slot(&self, kind: i16, ids: &[i64]) -> Result<Vec<(usize, Vec<i64>)>, DbErr> {
        if kind == Target::Video(0).kind() {
            Ok(self
                .shards
                .group(ids.iter().copied(), |&id| id)
                .into_iter()
                .map(|(s, ids)| (s.slot, ids))
                .collect())
        } else {
            self.comments_by_slot(ids).await
        }
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

/// Whether comment `id` is live, read inside a write transaction on its slot.
async fn comment_is_live<C: ConnectionTrait>(conn: &C, at: At<'_>, id: i64) -> Result<bool, DbErr> {
    Ok(comment::Entity::find_by_id(id)
        .on(at.shard)
        .filter(comment::Column::DeletedAt.is_null())
        .count(conn)
        .await?
        > 0)
}

pub(super) async fn like_in(
    txn: &DatabaseTransaction,
    at: At<'_>,
    user_id: i64,
    target: Target,
    now: i64,
) -> Result<(), StoreError> {
    if let Target::Comment(id) = target
        && !comment_is_live(txn, at, id).await?
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
    if let Err(e) = like::Entity::insert(row)
        .on(at.shard)
        .exec_without_returning(txn)
        .await
    {
        return Err(if fanone_db::is_unique_violation(&e) {
            StoreError::NoChange
        } else {
            e.into()
        });
    }
    at.counters
        .add(txn, target.like_counter(), target.id(), 1)
        .await?;
    Ok(())
}

pub(super) async fn unlike_in(
    txn: &DatabaseTransaction,
    at: At<'_>,
    user_id: i64,
    target: Target,
) -> Result<(), StoreError> {
    if let Target::Comment(id) = target
        && !comment_is_live(txn, at, id).await?
    {
        return Err(StoreError::NotFound);
    }
    // unqualified columns: a delete cannot alias a shard's table
    let res = like::Entity::delete_many()
        .on(at.shard)
        .filter(Expr::col(like::Column::UserId).eq(user_id))
        .filter(Expr::col(like::Column::Kind).eq(target.kind()))
        .filter(Expr::col(like::Column::TargetId).eq(target.id()))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NoChange);
    }
    at.counters
        .add(txn, target.like_counter(), target.id(), -1)
        .await?;
    Ok(())
}

async fn insert_comment_in(
    txn: &DatabaseTransaction,
    at: At<'_>,
    c: &NewComment,
) -> Result<CommentRecord, StoreError> {
    let (video_id, parent_id) = match c.thread {
        Thread::Video(video_id) => (video_id, 0),
        Thread::Reply(parent_id) => {
            // lock the parent: its deletion cannot interleave with this reply
            let parent = comment::Entity::find_by_id(parent_id)
                .on(at.shard)
                .lock_exclusive()
                .one(txn)
                .await?
                .filter(|p| p.deleted_at.is_none())
                .ok_or(StoreError::NotFound)?;
            (parent.video_id, parent_id)
        }
    };
    insert_row(txn, at, c, video_id, parent_id).await
}

async fn insert_row(
    txn: &DatabaseTransaction,
    at: At<'_>,
    c: &NewComment,
    video_id: i64,
    parent_id: i64,
) -> Result<CommentRecord, StoreError> {
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
        .on(at.shard)
        .exec_without_returning(txn)
        .await?;
    let mut changes = vec![(counter::VIDEO_COMMENTS, video_id, 1)];
    if parent_id != 0 {
        changes.push((counter::COMMENT_REPLIES, parent_id, 1));
    }
    at.counters.add_many(txn, &changes).await?;
    Ok(to_record(row))
}

async fn delete_in(
    txn: &DatabaseTransaction,
    at: At<'_>,
    author: i64,
    id: i64,
    now: i64,
) -> Result<Removed, StoreError> {
    let root = comment::Entity::find_by_id(id)
        .on(at.shard)
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
                .on(at.shard)
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
            .on(at.shard)
            .col_expr(comment::Column::DeletedAt, Expr::value(now))
            .col_expr(comment::Column::UpdatedAt, Expr::value(now))
            .filter(Expr::col(comment::Column::Id).is_in(chunk.iter().copied()))
            .filter(Expr::col(comment::Column::DeletedAt).is_null())
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
    at.counters.add_many(txn, &changes).await?;
    Ok(Removed {
        video_id: root.video_id,
        comments: count as u64,
    })
}

impl InteractionStore for SeaInteractionStore {
    async fn like(&self, user_id: i64, target: Target, now: i64) -> Result<(), StoreError> {
        let slot = self
            .slot_of_target(target)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(w) = &self.likes {
            return w.write(slot, user_id, target, Change::Like { now }).await;
        }
        let at = self.at(slot);
        fanone_db::write!(at.shard.db(), |txn| like_in(txn, at, user_id, target, now)
            .await)
        .await
    }

    async fn unlike(&self, user_id: i64, target: Target) -> Result<(), StoreError> {
        let slot = self
            .slot_of_target(target)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(w) = &self.likes {
            return w.write(slot, user_id, target, Change::Unlike).await;
        }
        let at = self.at(slot);
        fanone_db::write!(at.shard.db(), |txn| unlike_in(txn, at, user_id, target)
            .await)
        .await
    }

    /// Spans every slot (likes live with their videos): one query per slot, its
    /// first `offset + limit` rows each carrying the slot's total (a window count),
    /// merged.
    async fn liked_videos(&self, user_id: i64, w: Window) -> Result<(Vec<i64>, i64), StoreError> {
        let kind = Target::Video(0).kind();
        let upto = std::cmp::max(w.offset.saturating_add(w.limit), 1);
        let per_slot = self
            .shards
            .scatter(|shard| async move {
                like::Entity::find()
                    .on(shard)
                    .select_only()
                    .column(like::Column::CreatedAt)
                    .column(like::Column::TargetId)
                    .column_as(Expr::cust("COUNT(*) OVER ()"), "total")
                    .filter(like::Column::UserId.eq(user_id))
                    .filter(like::Column::Kind.eq(kind))
                    .order_by_desc(like::Column::CreatedAt)
                    .order_by_desc(like::Column::TargetId)
                    .limit(upto)
                    .into_tuple::<(i64, i64, i64)>()
                    .all(shard.db())
                    .await
            })
            .await?;
        let total = per_slot
            .iter()
            .map(|rows| rows.first().map_or(0, |r| r.2))
            .sum();
        // newest like first, ties: higher video id first
        let page =
            fanone_shard::merge_page(per_slot, w.offset as usize, w.limit as usize, |a, b| {
                (b.0, b.1).cmp(&(a.0, a.1))
            });
        Ok((page.into_iter().map(|(_, id, _)| id).collect(), total))
    }

    async fn liked_among(
        &self,
        user_id: i64,
        kind: i16,
        targets: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        let mut out = HashSet::new();
        for (slot, targets) in self.by_slot(kind, targets).await? {
            let shard = self.shards.at(slot);
            for chunk in targets.chunks(CHUNK) {
                let ids: Vec<i64> = like::Entity::find()
                    .on(shard)
                    .select_only()
                    .column(like::Column::TargetId)
                    .filter(like::Column::UserId.eq(user_id))
                    .filter(like::Column::Kind.eq(kind))
                    .filter(like::Column::TargetId.is_in(chunk.iter().copied()))
                    .into_tuple()
                    .all(shard.db())
                    .await?;
                out.extend(ids);
            }
        }
        Ok(out)
    }

    async fn insert_comment(&self, c: &NewComment) -> Result<CommentRecord, StoreError> {
        let video = match c.thread {
            Thread::Video(v) => v,
            Thread::Reply(parent) => self.home(parent).await?.ok_or(StoreError::NotFound)?,
        };
        self.set_home(c.id, video).await?;
        let at = self.of_video(video);
        fanone_db::write!(at.shard.db(), |txn| insert_comment_in(txn, at, c).await).await
    }

    async fn comment(&self, id: i64) -> Result<Option<CommentRecord>, StoreError> {
        let Some(video) = self.home(id).await? else {
            return Ok(None);
        };
        let at = self.of_video(video);
        Ok(comment::Entity::find_by_id(id)
            .on(at.shard)
            .filter(comment::Column::DeletedAt.is_null())
            .one(at.shard.db())
            .await?
            .map(to_record))
    }

    async fn top_level(
        &self,
        video_id: i64,
        w: Window,
    ) -> Result<(Vec<CommentRecord>, i64), StoreError> {
        let shard = self.of_video(video_id).shard;
        let live = || {
            comment::Entity::find()
                .on(shard)
                .filter(comment::Column::VideoId.eq(video_id))
                .filter(comment::Column::ParentId.eq(0))
                .filter(comment::Column::DeletedAt.is_null())
        };
        let rows = live()
            .order_by_desc(comment::Column::Id)
            .offset(w.offset)
            .limit(w.limit)
            .all(shard.db())
            .await?;
        let total = live().count(shard.db()).await?;
        Ok((rows.into_iter().map(to_record).collect(), total as i64))
    }

    async fn replies(
        &self,
        parent_id: i64,
        w: Window,
    ) -> Result<(Vec<CommentRecord>, i64), StoreError> {
        let Some(video) = self.home(parent_id).await? else {
            return Ok((Vec::new(), 0));
        };
        let shard = self.of_video(video).shard;
        let live = || {
            comment::Entity::find()
                .on(shard)
                .filter(comment::Column::ParentId.eq(parent_id))
                .filter(comment::Column::DeletedAt.is_null())
        };
        let rows = live()
            .order_by_asc(comment::Column::Id)
            .offset(w.offset)
            .limit(w.limit)
            .all(shard.db())
            .await?;
        let total = live().count(shard.db()).await?;
        Ok((rows.into_iter().map(to_record).collect(), total as i64))
    }

    async fn delete_comment(&self, author: i64, id: i64, now: i64) -> Result<Removed, StoreError> {
        let video = self.home(id).await?.ok_or(StoreError::NotFound)?;
        let at = self.of_video(video);
        fanone_db::write!(at.shard.db(), |txn| delete_in(txn, at, author, id, now)
            .await)
        .await
    }

    async fn counts(&self, kind: i16, ids: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
        let kind_of_target = match kind {
            counter::VIDEO_LIKES | counter::VIDEO_COMMENTS => Target::Video(0).kind(),
            _ => Target::Comment(0).kind(),
        };
        let mut out = HashMap::with_capacity(ids.len());
        for (slot, ids) in self.by_slot(kind_of_target, ids).await? {
            out.extend(self.counters[slot].get_many(kind, &ids).await?);
        }
        Ok(out)
    }

    async fn settle(&self) -> Result<u64, StoreError> {
        Ok(fanone_counter::settle_all(&self.counters).await?)
    }
}
