//! `ChatStore` over sea-orm: one implementation for SQLite and MySQL protocol,
//! unsharded or split over N databases × M tables (`fanone_shard`).
//!
//! **Placement**: a message lives in its recipient's slot, so the hot paths — a
//! user's unread messages at connect, marking pushed messages read — are one slot's
//! queries; a conversation's history is the union of its two users' slots (one slot
//! when both route to the same one).

use fanone_shard::{Place, Shard, Shards};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use super::{ChatStore, MessageRecord, StoreError, entity};

/// The name of the one sharded table, created per slot.
pub const SHARDED: &[&str] = &["messages"];

#[derive(Clone)]
pub struct SeaChatStore {
    shards: Shards,
}

impl SeaChatStore {
    pub fn new(shards: Shards) -> Self {
        Self { shards }
    }

    /// The slots holding the conversation of `a` and `b` (each user's incoming
    /// messages), once each.
    fn conversation(&self, a: i64, b: i64) -> Vec<Shard<'_>> {
        let (sa, sb) = (self.shards.of(a), self.shards.of(b));
        if sa.slot == sb.slot {
            vec![sa]
        } else {
            vec![sa, sb]
        }
    }

    /// Messages between `lo` and `hi` in one slot.
    fn between(shard: Shard<'_>, lo: i64, hi: i64) -> sea_orm::Select<entity::Entity> {
        entity::Entity::find()
            .on(shard)
            .filter(entity::Column::UserLo.eq(lo))
            .filter(entity::Column::UserHi.eq(hi))
    }
}

fn to_record(m: entity::Model) -> MessageRecord {
    MessageRecord {
        id: m.id,
        from_user_id: m.from_user_id,
        to_user_id: m.to_user_id,
        content: m.content,
        created_at: m.created_at,
        read_at: m.read_at,
    }
}

/// The conversation key of a pair: the same for both directions.
fn pair(a: i64, b: i64) -> (i64, i64) {
    (std::cmp::min(a, b), std::cmp::max(a, b))
}

impl ChatStore for SeaChatStore {
    async fn insert(&self, m: &MessageRecord) -> Result<(), StoreError> {
        let (lo, hi) = pair(m.from_user_id, m.to_user_id);
        let row = entity::ActiveModel {
            id: Set(m.id),
            from_user_id: Set(m.from_user_id),
            to_user_id: Set(m.to_user_id),
            user_lo: Set(lo),
            user_hi: Set(hi),
            content: Set(m.content.clone()),
            created_at: Set(m.created_at),
            read_at: Set(m.read_at),
        };
        let shard = self.shards.of(m.to_user_id);
        entity::Entity::insert(row)
            .on(shard)
            .exec_without_returning(shard.db())
            .await?;
        Ok(())
    }

    async fn history(
        &self,
        a: i64,
        b: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let (lo, hi) = pair(a, b);
        let slots = self.conversation(a, b);
        let (skip, upto) = if slots.len() == 1 {
            (offset, limit)
        } else {
            // each slot's first offset+limit, merged and cut
            (0, offset.saturating_add(limit))
        };
        let mut per_slot = Vec::with_capacity(slots.len());
        for shard in slots {
            per_slot.push(
                Self::between(shard, lo, hi)
                    .order_by_desc(entity::Column::Id)
                    .offset(skip)
                    .limit(upto)
                    .all(shard.db())
                    .await?,
            );
        }
        let rows = if per_slot.len() == 1 {
            per_slot.pop().unwrap_or_default()
        } else {
            fanone_shard::merge_page(per_slot, offset as usize, limit as usize, |x, y| {
                y.id.cmp(&x.id)
            })
        };
        Ok(rows.into_iter().map(to_record).collect())
    }

    async fn count_between(&self, a: i64, b: i64) -> Result<i64, StoreError> {
        let (lo, hi) = pair(a, b);
        let mut n = 0;
        for shard in self.conversation(a, b) {
            n += Self::between(shard, lo, hi).count(shard.db()).await?;
        }
        Ok(n as i64)
    }

    async fn take_unread(
        &self,
        to: i64,
        from: Option<i64>,
        limit: u64,
        now: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let shard = self.shards.of(to);
        // A write transaction (SQLite: the write lock up front, so two concurrent
        // takers queue instead of failing on upgrade). MySQL: FOR UPDATE locks the rows
        // read, so a concurrent taker waits and then, reading the rows' latest
        // versions, skips the ones now read.
        let txn = fanone_db::begin_write(shard.db()).await?;
        let mut q = entity::Entity::find()
            .on(shard)
            .filter(entity::Column::ToUserId.eq(to))
            .filter(entity::Column::ReadAt.is_null());
        if let Some(from) = from {
            q = q.filter(entity::Column::FromUserId.eq(from));
        }
        let rows = q
            .order_by_asc(entity::Column::Id)
            .limit(limit)
            .lock_exclusive()
            .all(&txn)
            .await?;
        if rows.is_empty() {
            txn.rollback().await?;
            return Ok(Vec::new());
        }
        entity::Entity::update_many()
            .on(shard)
            .col_expr(entity::Column::ReadAt, Expr::value(now))
            .filter(Expr::col(entity::Column::Id).is_in(rows.iter().map(|m| m.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|m| MessageRecord {
                read_at: Some(now),
                ..to_record(m)
            })
            .collect())
    }

    async fn mark_read(&self, to: i64, ids: &[i64], now: i64) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let shard = self.shards.of(to);
        let res = entity::Entity::update_many()
            .on(shard)
            .col_expr(entity::Column::ReadAt, Expr::value(now))
            .filter(Expr::col(entity::Column::Id).is_in(ids.iter().copied()))
            .filter(Expr::col(entity::Column::ToUserId).eq(to))
            .filter(Expr::col(entity::Column::ReadAt).is_null())
            .exec(shard.db())
            .await?;
        Ok(res.rows_affected)
    }
}
