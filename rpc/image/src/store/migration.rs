//! Schema of the image service, for SQLite and MySQL-protocol servers alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateImages)]
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
