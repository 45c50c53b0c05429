//! Schema of the interaction service, for SQLite and MySQL-protocol servers alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(fanone_counter::CreateCounterTables),
            Box::new(CreateLikesAndComments),
            Box::new(CreateCommentHomes),
        ]
    }
}

/// The tables split across shards (`fanone_shard`), created per slot from these.
pub const SHARDED: &[&str] = &[
    "likes",
    "comments",
    "comment_homes",
    "counters",
    "counter_events",
];

/// Named explicitly: `DeriveMigrationName` takes the file name, which would not be
/// unique once a second migration lives in this file.
struct CreateLikesAndComments;

impl MigrationName for CreateLikesAndComments {
    fn name(&self) -> &str {
        "m0001_create_likes_and_comments"
    }
}

#[derive(DeriveIden)]
enum Likes {
    Table,
    UserId,
    Kind,
    TargetId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    UserId,
    VideoId,
    ParentId,
    Content,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLikesAndComments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Likes::Table)
                .if_not_exists()
                .col(ColumnDef::new(Likes::UserId).big_integer().not_null())
                .col(ColumnDef::new(Likes::Kind).small_integer().not_null())
                .col(ColumnDef::new(Likes::TargetId).big_integer().not_null())
                .col(ColumnDef::new(Likes::CreatedAt).big_integer().not_null())
                // one like per user and target: the key decides duplicates; it also
                // answers "did the caller like these videos" (user, kind, target IN)
                .primary_key(
                    Index::create()
                        .col(Likes::UserId)
                        .col(Likes::Kind)
                        .col(Likes::TargetId),
                )
                .to_owned(),
        )
        .await?;
        // like list: a user's video likes, newest first
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_likes_user_recent")
                .table(Likes::Table)
                .col(Likes::UserId)
                .col(Likes::Kind)
                .col(Likes::CreatedAt)
                .col(Likes::TargetId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Comments::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Comments::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Comments::UserId).big_integer().not_null())
                .col(ColumnDef::new(Comments::VideoId).big_integer().not_null())
                .col(
                    ColumnDef::new(Comments::ParentId)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(ColumnDef::new(Comments::Content).text().not_null())
                .col(ColumnDef::new(Comments::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Comments::UpdatedAt).big_integer().not_null())
                .col(ColumnDef::new(Comments::DeletedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        // top-level comments of a video (parent_id = 0), live ones, by id (= time)
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_comments_video")
                .table(Comments::Table)
                .col(Comments::VideoId)
                .col(Comments::ParentId)
                .col(Comments::DeletedAt)
                .col(Comments::Id)
                .to_owned(),
        )
        .await?;
        // direct replies of a comment: reply lists and the delete cascade
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_comments_parent")
                .table(Comments::Table)
                .col(Comments::ParentId)
                .col(Comments::DeletedAt)
                .col(Comments::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Comments::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Likes::Table).to_owned())
            .await
    }
}

struct CreateCommentHomes;

impl MigrationName for CreateCommentHomes {
    fn name(&self) -> &str {
        "m0002_create_comment_homes"
    }
}

#[derive(DeriveIden)]
enum CommentHomes {
    Table,
    Id,
    VideoId,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCommentHomes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CommentHomes::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(CommentHomes::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(CommentHomes::VideoId)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CommentHomes::Table).to_owned())
            .await
    }
}
