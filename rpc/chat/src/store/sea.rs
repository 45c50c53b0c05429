//! `ChatStore` over sea-orm: one implementation for SQLite and MySQL protocol.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sea_query::Expr,
};

use super::{ChatStore, MessageRecord, StoreError, entity};

#[derive(Clone)]
pub struct SeaChatStore {
    db: DatabaseConnection,
}

impl SeaChatStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
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
    (a.min(b), a.max(b))
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
        entity::Entity::insert(row)
            .exec_without_returning(&self.db)
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
        Ok(entity::Entity::find()
            .filter(entity::Column::UserLo.eq(lo))
            .filter(entity::Column::UserHi.eq(hi))
            .order_by_desc(entity::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    async fn count_between(&self, a: i64, b: i64) -> Result<i64, StoreError> {
        let (lo, hi) = pair(a, b);
        let n = entity::Entity::find()
            .filter(entity::Column::UserLo.eq(lo))
            .filter(entity::Column::UserHi.eq(hi))
            .count(&self.db)
            .await?;
        Ok(n as i64)
    }

    async fn take_unread(
        &self,
        to: i64,
        from: Option<i64>,
        limit: u64,
        now: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        // SQLite: take the write lock up front (BEGIN IMMEDIATE), so two concurrent
        // takers queue instead of failing on upgrade. MySQL: FOR UPDATE locks the rows
        // read, so a concurrent taker waits and then finds them read.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let mut q = entity::Entity::find()
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
            .col_expr(entity::Column::ReadAt, Expr::value(now))
            .filter(entity::Column::Id.is_in(rows.iter().map(|m| m.id)))
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
        let res = entity::Entity::update_many()
            .col_expr(entity::Column::ReadAt, Expr::value(now))
            .filter(entity::Column::Id.is_in(ids.iter().copied()))
            .filter(entity::Column::ToUserId.eq(to))
            .filter(entity::Column::ReadAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected)
    }
}
