//! The `messages` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub from_user_id: i64,
    pub to_user_id: i64,
    /// `min(from, to)`: with `user_hi`, the conversation key of both directions.
    pub user_lo: i64,
    /// `max(from, to)`.
    pub user_hi: i64,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
