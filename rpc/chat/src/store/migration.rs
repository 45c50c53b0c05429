//! Schema of the chat service, for SQLite and MySQL-protocol servers alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateMessages)]
    }
}

/// Named explicitly: `DeriveMigrationName` takes the file name, which would clash
/// as soon as a second migration lives in this file.
struct CreateMessages;

impl MigrationName for CreateMessages {
    fn name(&self) -> &str {
        "m0001_create_messages"
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    FromUserId,
    ToUserId,
    UserLo,
    UserHi,
    Content,
    CreatedAt,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMessages {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Messages::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Messages::Id)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Messages::FromUserId)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Messages::ToUserId).big_integer().not_null())
                .col(ColumnDef::new(Messages::UserLo).big_integer().not_null())
                .col(ColumnDef::new(Messages::UserHi).big_integer().not_null())
                .col(ColumnDef::new(Messages::Content).text().not_null())
                .col(ColumnDef::new(Messages::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Messages::ReadAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        // history of a pair, both directions: WHERE user_lo = ? AND user_hi = ?
        // ORDER BY id DESC (and COUNT(*) of the same range)
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_messages_pair")
                .table(Messages::Table)
                .col(Messages::UserLo)
                .col(Messages::UserHi)
                .col(Messages::Id)
                .to_owned(),
        )
        .await?;
        // unread inbox: WHERE to_user_id = ? AND read_at IS NULL [AND from_user_id = ?]
        // ORDER BY id
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_messages_inbox")
                .table(Messages::Table)
                .col(Messages::ToUserId)
                .col(Messages::ReadAt)
                .col(Messages::FromUserId)
                .col(Messages::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Messages::Table).to_owned())
            .await
    }
}
