//! The `images` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "images")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    #[sea_orm(unique)]
    pub url: String,
    pub kind: i16,
    pub owner_id: i64,
    pub created_at: i64,
    pub indexed_at: Option<i64>,
    pub content_hash: Option<String>,
    pub content_id: Option<i64>,
    pub removed_at: Option<i64>,
    pub purged_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
