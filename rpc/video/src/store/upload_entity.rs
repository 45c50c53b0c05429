//! The `uploads` and `upload_chunks` tables (chunked, resumable uploads).

pub mod upload {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "uploads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub user_id: i64,
        pub title: String,
        pub description: String,
        pub total_size: i64,
        pub chunk_count: i32,
        pub file_md5: String,
        pub state: i16,
        pub video_id: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod chunk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "upload_chunks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub upload_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub number: i32,
        pub size: i64,
        pub md5: String,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
