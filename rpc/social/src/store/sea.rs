//! `SocialStore` over sea-orm: one implementation for SQLite and MySQL protocol.

use fanone_counter::Counters;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, Statement,
    TransactionTrait, Value,
};

use super::{SocialStore, StoreError, counter_kind, entity};

#[derive(Clone)]
pub struct SeaSocialStore {
    db: DatabaseConnection,
    counters: Counters,
}

impl SeaSocialStore {
    pub fn new(db: DatabaseConnection) -> Self {
        let counters = Counters::new(db.clone());
        Self { db, counters }
    }

    /// The counters of this database (for settling in tests and jobs).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    async fn ids(
        &self,
        key: entity::Column,
        value: entity::Column,
        user: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(entity::Entity::find()
            .select_only()
            .column(value)
            .filter(key.eq(user))
            .order_by_desc(entity::Column::CreatedAt)
            .order_by_desc(value)
            .offset(offset)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}

fn map_insert_err(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Duplicate,
        _ => StoreError::Db(e),
    }
}

/// `a` follows `f` (the friend) and `f` follows `a`: the reverse edge `b` is found by
/// the primary key. The friendship is as new as the later of the two follows.
const FRIENDS_FROM: &str = "FROM follows a \
     JOIN follows b ON b.follower_id = a.followee_id AND b.followee_id = a.follower_id \
     WHERE a.follower_id = ?";

fn edge(follower: i64, followee: i64) -> Condition {
    Condition::all()
        .add(entity::Column::FollowerId.eq(follower))
        .add(entity::Column::FolloweeId.eq(followee))
}

impl SocialStore for SeaSocialStore {
    async fn follow(&self, follower: i64, followee: i64, now: i64) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        let row = entity::ActiveModel {
            follower_id: Set(follower),
            followee_id: Set(followee),
            created_at: Set(now),
        };
        // the primary key decides: a second follow fails here and rolls back
        entity::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(map_insert_err)?;
        fanone_counter::add_many(
            &txn,
            &[
                (counter_kind::FOLLOWING, follower, 1),
                (counter_kind::FOLLOWERS, followee, 1),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn unfollow(&self, follower: i64, followee: i64) -> Result<(), StoreError> {
        let txn = self.db.begin().await?;
        let res = entity::Entity::delete_many()
            .filter(entity::Column::FollowerId.eq(follower))
            .filter(entity::Column::FolloweeId.eq(followee))
            .exec(&txn)
            .await?;
        if res.rows_affected == 0 {
            txn.rollback().await?;
            return Err(StoreError::Missing);
        }
        fanone_counter::add_many(
            &txn,
            &[
                (counter_kind::FOLLOWING, follower, -1),
                (counter_kind::FOLLOWERS, followee, -1),
            ],
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    async fn following(&self, user: i64, offset: u64, limit: u64) -> Result<Vec<i64>, StoreError> {
        self.ids(
            entity::Column::FollowerId,
            entity::Column::FolloweeId,
            user,
            offset,
            limit,
        )
        .await
    }

    async fn followers(&self, user: i64, offset: u64, limit: u64) -> Result<Vec<i64>, StoreError> {
        self.ids(
            entity::Column::FolloweeId,
            entity::Column::FollowerId,
            user,
            offset,
            limit,
        )
        .await
    }

    async fn friends(&self, user: i64, offset: u64, limit: u64) -> Result<Vec<i64>, StoreError> {
        let sql = format!(
            "SELECT a.followee_id AS id, \
               CASE WHEN a.created_at > b.created_at THEN a.created_at ELSE b.created_at END AS since \
             {FRIENDS_FROM} ORDER BY since DESC, id DESC LIMIT ? OFFSET ?"
        );
        let values: [Value; 3] = [user.into(), (limit as i64).into(), (offset as i64).into()];
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await?;
        rows.into_iter()
            .map(|r| r.try_get::<i64>("", "id").map_err(StoreError::from))
            .collect()
    }

    async fn count(&self, kind: i16, user: i64) -> Result<i64, StoreError> {
        Ok(self.counters.get(kind, user).await?)
    }

    async fn count_friends(&self, user: i64) -> Result<i64, StoreError> {
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n {FRIENDS_FROM}"),
                [user.into()],
            ))
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64>("", "n")?,
            None => 0,
        })
    }

    async fn mutual(&self, a: i64, b: i64) -> Result<bool, StoreError> {
        if a == b {
            return Ok(false);
        }
        let n = entity::Entity::find()
            .filter(Condition::any().add(edge(a, b)).add(edge(b, a)))
            .count(&self.db)
            .await?;
        Ok(n == 2)
    }
}
