//! `ImageStore` over sea-orm (SQLite and MySQL protocol).

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{ImageRecord, ImageStore, StoreError, entity};

#[derive(Clone)]
pub struct SeaImageStore {
    db: DatabaseConnection,
}

impl SeaImageStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn by_url(&self, url: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::Url.eq(url))
            .one(&self.db)
            .await?
            .map(to_record))
    }
}

fn to_record(m: entity::Model) -> ImageRecord {
    ImageRecord {
        id: m.id,
        url: m.url,
        kind: m.kind,
        owner_id: m.owner_id,
        created_at: m.created_at,
        indexed_at: m.indexed_at,
    }
}

impl ImageStore for SeaImageStore {
    async fn get_or_insert(&self, fresh: &ImageRecord) -> Result<ImageRecord, StoreError> {
        if let Some(found) = self.by_url(&fresh.url).await? {
            return Ok(found);
        }
        let am = entity::ActiveModel {
            id: Set(fresh.id),
            url: Set(fresh.url.clone()),
            kind: Set(fresh.kind),
            owner_id: Set(fresh.owner_id),
            created_at: Set(fresh.created_at),
            indexed_at: Set(None),
        };
        match entity::Entity::insert(am)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(ImageRecord {
                indexed_at: None,
                ..fresh.clone()
            }),
            // a concurrent delivery of the same event inserted it first
            Err(e) if fanone_db::is_unique_violation(&e) => {
                self.by_url(&fresh.url).await?.ok_or(StoreError::Db(e))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn mark_indexed(&self, id: i64, at: i64) -> Result<(), StoreError> {
        entity::Entity::update_many()
            .col_expr(entity::Column::IndexedAt, Expr::value(at))
            .filter(entity::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn by_ids(&self, ids: &[i64]) -> Result<Vec<ImageRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(entity::Entity::find()
            .filter(entity::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    async fn page_after(&self, after: i64, limit: u64) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::Id.gt(after))
            .order_by_asc(entity::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(entity::Entity::find().count(&self.db).await?)
    }
}
