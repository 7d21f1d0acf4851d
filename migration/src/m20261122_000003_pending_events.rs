//! The processor's queue as a partial index: only events not yet processed are in it, so
//! recording an event adds one small entry and processing it removes that entry, instead of
//! every event staying in an index over all events by processing time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    ProcessedAt,
}

const OLD: &str = "idx_events_unprocessed";
const NEW: &str = "idx_events_pending";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NEW)
                    .table(Events::Table)
                    .col(Events::Id)
                    .and_where(Expr::col(Events::ProcessedAt).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(OLD).table(Events::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD)
                    .table(Events::Table)
                    .col(Events::ProcessedAt)
                    .col(Events::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(NEW).table(Events::Table).to_owned())
            .await
    }
}
