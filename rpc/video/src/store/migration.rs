//! Schema of the video service, for SQLite and MySQL-protocol servers alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateVideos),
            Box::new(fanone_counter::CreateCounterTables),
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
