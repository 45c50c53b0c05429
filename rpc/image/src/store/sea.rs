//! `ImageStore` over sea-orm (SQLite and MySQL protocol).

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, sea_query::Expr,
};

use super::{ImageRecord, ImageStore, StoreError, content_entity, entity};

/// Most ids in one `IN (...)` list.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct SeaImageStore {
    db: DatabaseConnection,
}

impl SeaImageStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Insert `fresh` unless its URL has a row; the row either way.
    async fn insert_or_get(&self, fresh: &ImageRecord) -> Result<ImageRecord, StoreError> {
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
            content_hash: Set(None),
            content_id: Set(None),
            removed_at: Set(fresh.removed_at),
            purged_at: Set(None),
        };
        match entity::Entity::insert(am)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(ImageRecord {
                indexed_at: None,
                content_hash: None,
                content_id: None,
                purged_at: None,
                ..fresh.clone()
            }),
            // a concurrent delivery of an event of the same URL inserted it first
            Err(e) if fanone_db::is_unique_violation(&e) => {
                self.by_url(&fresh.url).await?.ok_or(StoreError::Db(e))
            }
            Err(e) => Err(e.into()),
        }
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
        content_hash: m.content_hash,
        content_id: m.content_id,
        removed_at: m.removed_at,
        purged_at: m.purged_at,
    }
}

fn live() -> Select<entity::Entity> {
    entity::Entity::find().filter(entity::Column::RemovedAt.is_null())
}

impl ImageStore for SeaImageStore {
    async fn get_or_insert(&self, fresh: &ImageRecord) -> Result<ImageRecord, StoreError> {
        self.insert_or_get(&ImageRecord {
            removed_at: None,
            ..fresh.clone()
        })
        .await
    }

    async fn tombstone(&self, fresh: &ImageRecord, at: i64) -> Result<ImageRecord, StoreError> {
        let row = self
            .insert_or_get(&ImageRecord {
                removed_at: Some(at),
                ..fresh.clone()
            })
            .await?;
        if row.removed_at.is_some() {
            return Ok(row);
        }
        // only the first removal sets the time: the grace period runs from it
        entity::Entity::update_many()
            .col_expr(entity::Column::RemovedAt, Expr::value(at))
            .filter(entity::Column::Id.eq(row.id))
            .filter(entity::Column::RemovedAt.is_null())
            .exec(&self.db)
            .await?;
        self.by_url(&fresh.url)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("image {}", row.id)).into())
    }

    async fn by_url(&self, url: &str) -> Result<Option<ImageRecord>, StoreError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::Url.eq(url))
            .one(&self.db)
            .await?
            .map(to_record))
    }

    async fn content_id(&self, sha256: &str, fresh_id: i64, at: i64) -> Result<i64, StoreError> {
        let find = || async {
            content_entity::Entity::find()
                .filter(content_entity::Column::Sha256.eq(sha256))
                .one(&self.db)
                .await
        };
        if let Some(c) = find().await? {
            return Ok(c.id);
        }
        let am = content_entity::ActiveModel {
            id: Set(fresh_id),
            sha256: Set(sha256.to_owned()),
            created_at: Set(at),
            layout: Set(None),
        };
        match content_entity::Entity::insert(am)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(fresh_id),
            // the same bytes indexed concurrently: theirs won
            Err(e) if fanone_db::is_unique_violation(&e) => {
                find().await?.map(|c| c.id).ok_or(StoreError::Db(e))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn set_layout(&self, content_id: i64, layout: &[u8]) -> Result<(), StoreError> {
        content_entity::Entity::update_many()
            .col_expr(content_entity::Column::Layout, Expr::value(layout.to_vec()))
            .filter(content_entity::Column::Id.eq(content_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn layouts(&self, content_ids: &[i64]) -> Result<HashMap<i64, Vec<u8>>, StoreError> {
        let mut out = HashMap::new();
        for chunk in content_ids.chunks(CHUNK) {
            let rows: Vec<(i64, Option<Vec<u8>>)> = content_entity::Entity::find()
                .select_only()
                .column(content_entity::Column::Id)
                .column(content_entity::Column::Layout)
                .filter(content_entity::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(
                rows.into_iter()
                    .filter_map(|(id, layout)| Some((id, layout?))),
            );
        }
        Ok(out)
    }

    async fn set_content(&self, id: i64, sha256: &str, content_id: i64) -> Result<(), StoreError> {
        entity::Entity::update_many()
            .col_expr(entity::Column::ContentHash, Expr::value(sha256))
            .col_expr(entity::Column::ContentId, Expr::value(content_id))
            .filter(entity::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
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
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows = entity::Entity::find()
                .filter(entity::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(to_record));
        }
        Ok(out)
    }

    async fn live_by_contents(&self, content_ids: &[i64]) -> Result<Vec<ImageRecord>, StoreError> {
        let mut out = Vec::new();
        for chunk in content_ids.chunks(CHUNK) {
            let rows = live()
                .filter(entity::Column::ContentId.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(to_record));
        }
        out.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        Ok(out)
    }

    async fn live_contents(&self, content_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::new();
        for chunk in content_ids.chunks(CHUNK) {
            let ids: Vec<Option<i64>> = live()
                .select_only()
                .column(entity::Column::ContentId)
                .filter(entity::Column::ContentId.is_in(chunk.iter().copied()))
                .distinct()
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(ids.into_iter().flatten());
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn page_after(
        &self,
        after: i64,
        limit: u64,
        live_only: bool,
    ) -> Result<Vec<ImageRecord>, StoreError> {
        let q = if live_only {
            live()
        } else {
            entity::Entity::find()
        };
        Ok(q.filter(entity::Column::Id.gt(after))
            .order_by_asc(entity::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    async fn count(&self, live_only: bool) -> Result<u64, StoreError> {
        let q = if live_only {
            live()
        } else {
            entity::Entity::find()
        };
        Ok(q.count(&self.db).await?)
    }

    async fn reapable(&self, before: i64, limit: u64) -> Result<Vec<ImageRecord>, StoreError> {
        Ok(entity::Entity::find()
            .filter(entity::Column::PurgedAt.is_null())
            .filter(entity::Column::RemovedAt.lte(before))
            .order_by_asc(entity::Column::RemovedAt)
            .order_by_asc(entity::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect())
    }

    async fn mark_purged(&self, id: i64, at: i64) -> Result<(), StoreError> {
        entity::Entity::update_many()
            .col_expr(entity::Column::PurgedAt, Expr::value(at))
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::RemovedAt.is_not_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
