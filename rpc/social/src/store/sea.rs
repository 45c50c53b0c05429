//! `SocialStore` over sea-orm: one implementation for SQLite and MySQL protocol,
//! unsharded or split over N databases × M tables (`fanone_shard`).
//!
//! **Placement**: an edge `a → b` lives in the follower's slot (`a`), with both
//! counter increments it causes, so a follow is one transaction in one database and
//! a user's following list and count are one slot's queries. What spans slots:
//! the followers list and count (every slot may hold followers of `b`: one query per
//! slot, merged), and the friends list (the edges back to `a` are checked in the
//! slots of the people `a` follows: one batched query per slot, cost growing with
//! `a`'s following count).

use std::collections::HashMap;

use fanone_counter::Counters;
use fanone_shard::{Place, Shards};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    sea_query::{Expr, ExprTrait},
};

use super::{SocialStore, StoreError, counter_kind, entity};

/// The tables split across shards, created per slot.
pub const SHARDED: &[&str] = &["follows", "counters", "counter_events"];

/// Largest id list in one `IN (...)`.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaSocialStore {
    shards: Shards,
    /// The counters of each slot, by slot.
    counters: Vec<Counters>,
}

impl SeaSocialStore {
    pub fn new(shards: Shards) -> Self {
        let counters = Counters::per_slot(&shards);
        Self { shards, counters }
    }

    /// Every slot's counters (settled together by the service's job).
    pub fn counters(&self) -> &[Counters] {
        &self.counters
    }

    /// Every edge out of `user` with its time, newest first.
    async fn all_following(&self, user: i64) -> Result<Vec<(i64, i64)>, DbErr> {
        let shard = self.shards.of(user);
        entity::Entity::find()
            .on(shard)
            .select_only()
            .column(entity::Column::FolloweeId)
            .column(entity::Column::CreatedAt)
            .filter(entity::Column::FollowerId.eq(user))
            .into_tuple()
            .all(shard.db())
            .await
    }

    /// The friends of `user` with the time each friendship began (the later follow).
    async fn all_friends(&self, user: i64) -> Result<Vec<(i64, i64)>, DbErr> {
        let out: HashMap<i64, i64> = self.all_following(user).await?.into_iter().collect();
        let mut friends = Vec::new();
        for (shard, ids) in self.shards.group(out.keys().copied(), |&id| id) {
            for chunk in ids.chunks(CHUNK) {
                let back: Vec<(i64, i64)> = entity::Entity::find()
                    .on(shard)
                    .select_only()
                    .column(entity::Column::FollowerId)
                    .column(entity::Column::CreatedAt)
                    .filter(entity::Column::FollowerId.is_in(chunk.iter().copied()))
                    .filter(entity::Column::FolloweeId.eq(user))
                    .into_tuple()
                    .all(shard.db())
                    .await?;
                friends.extend(
                    back.into_iter()
                        .map(|(f, t)| (f, std::cmp::max(t, out[&f]))),
                );
            }
        }
        Ok(friends)
    }
}

fn map_insert_err(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
        _ => StoreError::Db(e),
    }
}

/// Newest first; ties: higher id first.
fn newest_first(a: &(i64, i64), b: &(i64, i64)) -> std::cmp::Ordering {
    (b.1, b.0).cmp(&(a.1, a.0))
}

impl SocialStore for SeaSocialStore {
    async fn follow(&self, follower: i64, followee: i64, now: i64) -> Result<(), StoreError> {
        let shard = self.shards.of(follower);
        fanone_db::write!(shard.db(), |txn| {
            let row = entity::ActiveModel {
                follower_id: Set(follower),
                followee_id: Set(followee),
                created_at: Set(now),
            };
            // the primary key decides: a second follow fails here and rolls back
            entity::Entity::insert(row)
                .on(shard)
                .exec_without_returning(txn)
                .await
                .map_err(map_insert_err)?;
            self.counters[shard.slot]
                .add_many(
                    txn,
                    &[
                        (counter_kind::FOLLOWING, follower, 1),
                        (counter_kind::FOLLOWERS, followee, 1),
                    ],
                )
                .await?;
            Ok(())
        })
        .await
    }

    async fn unfollow(&self, follower: i64, followee: i64) -> Result<(), StoreError> {
        let shard = self.shards.of(follower);
        fanone_db::write!(shard.db(), |txn| {
            // unqualified columns: a delete cannot alias a shard's table
            let res = entity::Entity::delete_many()
                .on(shard)
                .filter(Expr::col(entity::Column::FollowerId).eq(follower))
                .filter(Expr::col(entity::Column::FolloweeId).eq(followee))
                .exec(txn)
                .await?;
            if res.rows_affected == 0 {
                return Err(StoreError::Missing);
            }
            self.counters[shard.slot]
                .add_many(
                    txn,
                    &[
                        (counter_kind::FOLLOWING, follower, -1),
                        (counter_kind::FOLLOWERS, followee, -1),
                    ],
                )
                .await?;
            Ok(())
        })
        .await
    }

    async fn following(&self, user: i64, offset: u64, limit: u64) -> Result<Vec<i64>, StoreError> {
        let shard = self.shards.of(user);
        Ok(entity::Entity::find()
            .on(shard)
            .select_only()
            .column(entity::Column::FolloweeId)
            .filter(entity::Column::FollowerId.eq(user))
            .order_by_desc(entity::Column::CreatedAt)
            .order_by_desc(entity::Column::FolloweeId)
            .offset(offset)
            .limit(limit)
            .into_tuple()
            .all(shard.db())
            .await?)
    }

    async fn followers(&self, user: i64, offset: u64, limit: u64) -> Result<Vec<i64>, StoreError> {
        let upto = offset.saturating_add(limit);
        let per_slot = self
            .shards
            .scatter(|shard| async move {
                entity::Entity::find()
                    .on(shard)
                    .select_only()
                    .column(entity::Column::FollowerId)
                    .column(entity::Column::CreatedAt)
                    .filter(entity::Column::FolloweeId.eq(user))
                    .order_by_desc(entity::Column::CreatedAt)
                    .order_by_desc(entity::Column::FollowerId)
                    .limit(upto)
                    .into_tuple::<(i64, i64)>()
                    .all(shard.db())
                    .await
            })
            .await?;
        let page =
            fanone_shard::merge_page(per_slot, offset as usize, limit as usize, newest_first);
        Ok(page.into_iter().map(|(id, _)| id).collect())
    }

    async fn friends(&self, user: i64, offset: u64, limit: u64) -> Result<Vec<i64>, StoreError> {
        let all = self.all_friends(user).await?;
        let page =
            fanone_shard::merge_page(vec![all], offset as usize, limit as usize, newest_first);
        Ok(page.into_iter().map(|(id, _)| id).collect())
    }

    /// FOLLOWING: the user's own slot. FOLLOWERS: counted where each follower lives,
    /// so the sum over every slot.
    async fn count(&self, kind: i16, user: i64) -> Result<i64, StoreError> {
        if kind == counter_kind::FOLLOWING {
            let slot = self.shards.layout().slot_of(user);
            return Ok(self.counters[slot].get(kind, user).await?);
        }
        let per_slot =
            futures::future::try_join_all(self.counters.iter().map(|c| c.get(kind, user))).await?;
        Ok(per_slot.into_iter().sum())
    }

    async fn count_friends(&self, user: i64) -> Result<i64, StoreError> {
        Ok(self.all_friends(user).await?.len() as i64)
    }

    async fn mutual(&self, a: i64, b: i64) -> Result<bool, StoreError> {
        if a == b {
            return Ok(false);
        }
        for (from, to) in [(a, b), (b, a)] {
            let shard = self.shards.of(from);
            let n = entity::Entity::find_by_id((from, to))
                .on(shard)
                .count(shard.db())
                .await?;
            if n == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
