//! Schema of the social service, for SQLite and MySQL-protocol servers alike.

use fanone_counter::CreateCounterTables;
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateFollows), Box::new(CreateCounterTables)]
    }
}

/// Named explicitly: `DeriveMigrationName` takes the file name, which would clash
/// as soon as a second migration lives in this file.
struct CreateFollows;

impl MigrationName for CreateFollows {
    fn name(&self) -> &str {
        "m0001_create_follows"
    }
}

#[derive(DeriveIden)]
enum Follows {
    Table,
    FollowerId,
    FolloweeId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFollows {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Follows::Table)
                .if_not_exists()
                .col(ColumnDef::new(Follows::FollowerId).big_integer().not_null())
                .col(ColumnDef::new(Follows::FolloweeId).big_integer().not_null())
                .col(ColumnDef::new(Follows::CreatedAt).big_integer().not_null())
                // one row per relation: the key decides duplicates; IsFriend and the
                // friends self-join look up the reverse edge by it
                .primary_key(
                    Index::create()
                        .col(Follows::FollowerId)
                        .col(Follows::FolloweeId),
                )
                .to_owned(),
        )
        .await?;
        // follower list: WHERE followee_id = ? ORDER BY created_at DESC, follower_id DESC
        // (covering; the trailing column is implicit in InnoDB, explicit for SQLite)
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_follows_followee_time")
                .table(Follows::Table)
                .col(Follows::FolloweeId)
                .col(Follows::CreatedAt)
                .col(Follows::FollowerId)
                .to_owned(),
        )
        .await?;
        // following list: WHERE follower_id = ? ORDER BY created_at DESC, followee_id DESC
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_follows_follower_time")
                .table(Follows::Table)
                .col(Follows::FollowerId)
                .col(Follows::CreatedAt)
                .col(Follows::FolloweeId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Follows::Table).to_owned())
            .await
    }
}
