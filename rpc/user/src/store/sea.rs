//! `UserStore` over sea-orm: one implementation for SQLite and MySQL protocol.

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func},
};

use super::{SessionRecord, StoreError, UserRecord, UserStore, entity, session_entity as sess};

#[derive(Clone)]
pub struct SeaUserStore {
    db: DatabaseConnection,
}

impl SeaUserStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_record(m: entity::Model) -> UserRecord {
    UserRecord {
        id: m.id,
        username: m.username,
        password_hash: m.password_hash,
        avatar_url: m.avatar_url,
        mfa_secret: m.mfa_secret,
        mfa_last_step: m.mfa_last_step,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn to_session(m: sess::Model) -> SessionRecord {
    SessionRecord {
        id: m.id,
        user_id: m.user_id,
        generation: m.generation,
        previous_generation: m.previous_generation,
        rotated_at: m.rotated_at,
        revoked_at: m.revoked_at,
        expires_at: m.expires_at,
        created_at: m.created_at,
    }
}

fn map_insert_err(e: DbErr) -> StoreError {
    if fanone_db::is_unique_violation(&e) {
        StoreError::Duplicate
    } else {
        StoreError::Db(e)
    }
}

impl UserStore for SeaUserStore {
    async fn insert(&self, u: &UserRecord) -> Result<(), StoreError> {
        let am = entity::ActiveModel {
            id: Set(u.id),
            username: Set(u.username.clone()),
            password_hash: Set(u.password_hash.clone()),
            avatar_url: Set(u.avatar_url.clone()),
            mfa_secret: Set(u.mfa_secret.clone()),
            mfa_last_step: Set(u.mfa_last_step),
            created_at: Set(u.created_at),
            updated_at: Set(u.updated_at),
            deleted_at: Set(None),
        };
        entity::Entity::insert(am)
            .exec_without_returning(&self.db)
            .await
            .map_err(map_insert_err)?;
        Ok(())
    }

    async fn by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        Ok(entity::Entity::find_by_id(id)
            .filter(entity::Column::DeletedAt.is_null())
            .one(&self.db)
            .await?
            .map(to_record))
    }

    async fn by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::Username.eq(username))
            .filter(entity::Column::DeletedAt.is_null())
            .one(&self.db)
            .await?
            .map(to_record))
    }

    async fn by_ids(&self, ids: &[i64]) -> Result<Vec<UserRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(entity::Entity::find()
            .filter(entity::Column::Id.is_in(ids.iter().copied()))
            .filter(entity::Column::DeletedAt.is_null())
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    async fn ids_by_username_fragment(
        &self,
        fragment: &str,
        limit: u64,
    ) -> Result<Vec<i64>, StoreError> {
        let pattern = fanone_db::like_contains(&fragment.to_lowercase());
        let rows: Vec<i64> = entity::Entity::find()
            .select_only()
            .column(entity::Column::Id)
            .filter(
                Expr::expr(Func::lower(Expr::col(entity::Column::Username)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')),
            )
            .filter(entity::Column::DeletedAt.is_null())
            .order_by_asc(entity::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows)
    }

    async fn set_avatar(&self, id: i64, url: &str, now: i64) -> Result<Option<String>, StoreError> {
        // compare-and-set on the URL read: a concurrent update in between makes it
        // miss, and it reads again (each success replaced exactly the URL it answers)
        loop {
            let previous: Option<String> = entity::Entity::find()
                .select_only()
                .column(entity::Column::AvatarUrl)
                .filter(entity::Column::Id.eq(id))
                .filter(entity::Column::DeletedAt.is_null())
                .into_tuple()
                .one(&self.db)
                .await?;
            let Some(previous) = previous else {
                return Ok(None);
            };
            let mut update = entity::Entity::update_many()
                .col_expr(entity::Column::AvatarUrl, Expr::value(url))
                .col_expr(entity::Column::UpdatedAt, Expr::value(now))
                .filter(entity::Column::Id.eq(id))
                .filter(entity::Column::DeletedAt.is_null());
            if previous != url {
                update = update.filter(entity::Column::AvatarUrl.eq(previous.as_str()));
            }
            // the same URL again changes nothing MySQL counts: no compare needed
            let res = update.exec(&self.db).await?;
            if res.rows_affected == 1 || previous == url {
                return Ok(Some(previous));
            }
        }
    }

    async fn set_mfa(
        &self,
        id: i64,
        secret: &str,
        step: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let res = entity::Entity::update_many()
            .col_expr(entity::Column::MfaSecret, Expr::value(secret))
            .col_expr(entity::Column::MfaLastStep, Expr::value(step))
            .col_expr(entity::Column::UpdatedAt, Expr::value(now))
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::DeletedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    async fn advance_mfa_step(&self, id: i64, step: i64) -> Result<bool, StoreError> {
        let res = entity::Entity::update_many()
            .col_expr(entity::Column::MfaLastStep, Expr::value(step))
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::MfaLastStep.lt(step))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let am = sess::ActiveModel {
            id: Set(s.id),
            user_id: Set(s.user_id),
            generation: Set(s.generation),
            previous_generation: Set(s.previous_generation),
            rotated_at: Set(s.rotated_at),
            revoked_at: Set(s.revoked_at),
            expires_at: Set(s.expires_at),
            created_at: Set(s.created_at),
        };
        sess::Entity::insert(am)
            .exec_without_returning(&self.db)
            .await
            .map_err(map_insert_err)?;
        Ok(())
    }

    async fn session(&self, id: i64) -> Result<Option<SessionRecord>, StoreError> {
        Ok(sess::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_session))
    }

    async fn rotate_session(
        &self,
        id: i64,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let res = sess::Entity::update_many()
            .col_expr(sess::Column::PreviousGeneration, Expr::value(from))
            .col_expr(sess::Column::Generation, Expr::value(to))
            .col_expr(sess::Column::RotatedAt, Expr::value(now))
            .filter(sess::Column::Id.eq(id))
            .filter(sess::Column::Generation.eq(from))
            .filter(sess::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    async fn revoke_session(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let res = sess::Entity::update_many()
            .col_expr(sess::Column::RevokedAt, Expr::value(now))
            .filter(sess::Column::Id.eq(id))
            .filter(sess::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }
}
