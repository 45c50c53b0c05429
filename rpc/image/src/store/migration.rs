//! Schema of the image service, for SQLite and MySQL-protocol servers alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateImages),
            Box::new(ImageLifecycle),
            Box::new(ContentLayout),
        ]
    }
}

struct CreateImages;

// named explicitly: the derive would name it after this file
impl MigrationName for CreateImages {
    fn name(&self) -> &str {
        "m0001_create_images"
    }
}

#[derive(DeriveIden)]
enum Images {
    Table,
    Id,
    Url,
    Kind,
    OwnerId,
    CreatedAt,
    IndexedAt,
    ContentHash,
    ContentId,
    RemovedAt,
    PurgedAt,
}

#[derive(DeriveIden)]
enum ImageContents {
    Table,
    Id,
    Sha256,
    CreatedAt,
    Layout,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateImages {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Images::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Images::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                // unique: indexing the same image twice keeps one row (and one vector);
                // 760 characters keep the key within MySQL's 3072-byte index limit
                .col(
                    ColumnDef::new(Images::Url)
                        .string_len(760)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Images::Kind).small_integer().not_null())
                .col(ColumnDef::new(Images::OwnerId).big_integer().not_null())
                .col(ColumnDef::new(Images::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Images::IndexedAt).big_integer().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Images::Table).to_owned())
            .await
    }
}

/// Removal (tombstones, object deletion after a grace period) and duplicates (rows
/// with the same bytes share one content id, the key of their one vector).
struct ImageLifecycle;

impl MigrationName for ImageLifecycle {
    fn name(&self) -> &str {
        "m0002_image_lifecycle"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ImageLifecycle {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // one column per statement (SQLite alters one at a time); each step checks
        // first, so a run cut short by a crash can be repeated
        let columns = [
            (
                Images::ContentHash,
                ColumnDef::new(Images::ContentHash)
                    .string_len(64)
                    .null()
                    .to_owned(),
            ),
            (
                Images::ContentId,
                ColumnDef::new(Images::ContentId)
                    .big_integer()
                    .null()
                    .to_owned(),
            ),
            (
                Images::RemovedAt,
                ColumnDef::new(Images::RemovedAt)
                    .big_integer()
                    .null()
                    .to_owned(),
            ),
            (
                Images::PurgedAt,
                ColumnDef::new(Images::PurgedAt)
                    .big_integer()
                    .null()
                    .to_owned(),
            ),
        ];
        for (name, mut def) in columns {
            if !m.has_column("images", name.to_string()).await? {
                m.alter_table(
                    Table::alter()
                        .table(Images::Table)
                        .add_column(&mut def)
                        .to_owned(),
                )
                .await?;
            }
        }
        // rows indexed before: their vector is keyed by their own id
        m.exec_stmt(
            Query::update()
                .table(Images::Table)
                .value(Images::ContentId, Expr::col(Images::Id))
                .and_where(Expr::col(Images::IndexedAt).is_not_null())
                .and_where(Expr::col(Images::ContentId).is_null())
                .to_owned(),
        )
        .await?;
        // search: the live holders of a content; reindex: the same
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_images_content")
                .table(Images::Table)
                .col(Images::ContentId)
                .col(Images::RemovedAt)
                .to_owned(),
        )
        .await?;
        // the reaper: removed rows whose object is not deleted yet
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_images_removed")
                .table(Images::Table)
                .col(Images::PurgedAt)
                .col(Images::RemovedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ImageContents::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(ImageContents::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ImageContents::Sha256)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(ImageContents::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ImageContents::Table).to_owned())
            .await?;
        for name in ["idx_images_content", "idx_images_removed"] {
            m.drop_index(Index::drop().name(name).table(Images::Table).to_owned())
                .await?;
        }
        for col in [
            Images::ContentHash,
            Images::ContentId,
            Images::RemovedAt,
            Images::PurgedAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Images::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

/// The colour layout of each picture (`fanone_embed::Layout`, 192 bytes): searches
/// that need their extra views re-rank their best candidates with it. Pictures
/// indexed before have none until `fanone image reindex` (they rank by cosine).
struct ContentLayout;

impl MigrationName for ContentLayout {
    fn name(&self) -> &str {
        "m0003_content_layout"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ContentLayout {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.has_column("image_contents", "layout").await? {
            return Ok(());
        }
        m.alter_table(
            Table::alter()
                .table(ImageContents::Table)
                .add_column(ColumnDef::new(ImageContents::Layout).var_binary(192).null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ImageContents::Table)
                .drop_column(ImageContents::Layout)
                .to_owned(),
        )
        .await
    }
}
