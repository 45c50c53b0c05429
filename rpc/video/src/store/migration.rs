//! Schema of the video service, for SQLite and MySQL-protocol servers alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateVideos),
            Box::new(fanone_counter::CreateCounterTables),
            Box::new(CreateUploads),
        ]
    }
}

/// Named explicitly: `DeriveMigrationName` takes the file name, which would clash
/// as soon as a second migration lives in this file.
struct CreateVideos;

impl MigrationName for CreateVideos {
    fn name(&self) -> &str {
        "m0001_create_videos"
    }
}

#[derive(DeriveIden)]
enum Videos {
    Table,
    Id,
    UserId,
    Title,
    Description,
    VideoUrl,
    CoverUrl,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateVideos {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Videos::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Videos::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Videos::UserId).big_integer().not_null())
                // lengths in characters (MySQL VARCHAR counts characters)
                .col(ColumnDef::new(Videos::Title).string_len(100).not_null())
                .col(
                    ColumnDef::new(Videos::Description)
                        .string_len(1000)
                        .not_null()
                        .default(""),
                )
                .col(ColumnDef::new(Videos::VideoUrl).string_len(1024).not_null())
                .col(ColumnDef::new(Videos::CoverUrl).string_len(1024).not_null())
                .col(ColumnDef::new(Videos::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Videos::UpdatedAt).big_integer().not_null())
                .col(ColumnDef::new(Videos::DeletedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        // a user's live videos, newest first, and their count (index-only): one
        // range in created_at order; `id` breaks ties within a millisecond
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_videos_user_live")
                .table(Videos::Table)
                .col(Videos::UserId)
                .col(Videos::DeletedAt)
                .col(Videos::CreatedAt)
                .col(Videos::Id)
                .to_owned(),
        )
        .await?;
        // all live videos in created_at order: the feed (created_at > ?), the newest
        // videos of the popular ranking (covering), date ranges and counts of searches
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_videos_live")
                .table(Videos::Table)
                .col(Videos::DeletedAt)
                .col(Videos::CreatedAt)
                .col(Videos::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Videos::Table).to_owned())
            .await
    }
}

/// Chunked uploads: one row per upload, one per received chunk.
struct CreateUploads;

impl MigrationName for CreateUploads {
    fn name(&self) -> &str {
        "m0002_create_uploads"
    }
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    UserId,
    Title,
    Description,
    TotalSize,
    ChunkCount,
    FileMd5,
    State,
    VideoId,
    CreatedAt,
    UpdatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum UploadChunks {
    Table,
    UploadId,
    Number,
    Size,
    Md5,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateUploads {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Uploads::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Uploads::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Uploads::UserId).big_integer().not_null())
                .col(ColumnDef::new(Uploads::Title).string_len(100).not_null())
                .col(
                    ColumnDef::new(Uploads::Description)
                        .string_len(1000)
                        .not_null()
                        .default(""),
                )
                .col(ColumnDef::new(Uploads::TotalSize).big_integer().not_null())
                .col(ColumnDef::new(Uploads::ChunkCount).integer().not_null())
                .col(ColumnDef::new(Uploads::FileMd5).string_len(32).not_null())
                .col(ColumnDef::new(Uploads::State).small_integer().not_null())
                .col(ColumnDef::new(Uploads::VideoId).big_integer().null())
                .col(ColumnDef::new(Uploads::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Uploads::UpdatedAt).big_integer().not_null())
                .col(ColumnDef::new(Uploads::ExpiresAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        // a user's open uploads that have not expired (the per-user limit)
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_uploads_user_state")
                .table(Uploads::Table)
                .col(Uploads::UserId)
                .col(Uploads::State)
                .col(Uploads::ExpiresAt)
                .to_owned(),
        )
        .await?;
        // the expiry job: the oldest expiries first
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_uploads_expires")
                .table(Uploads::Table)
                .col(Uploads::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UploadChunks::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(UploadChunks::UploadId)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(UploadChunks::Number).integer().not_null())
                .col(ColumnDef::new(UploadChunks::Size).big_integer().not_null())
                .col(ColumnDef::new(UploadChunks::Md5).string_len(32).not_null())
                .col(
                    ColumnDef::new(UploadChunks::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                // one row per chunk number: the key decides a chunk sent twice
                .primary_key(
                    Index::create()
                        .col(UploadChunks::UploadId)
                        .col(UploadChunks::Number),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(UploadChunks::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Uploads::Table).to_owned())
            .await
    }
}
