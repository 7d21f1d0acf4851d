//! A campaign message step's effects wait for their message: they are kept here when the
//! message is queued, and applied (or dropped, with the reason in the run's log) when its
//! outcome is final. A row lives as long as its delivery and its run.

use crate::helpers::foreign_key;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MessageEffects {
    Table,
    DeliveryId,
    RunId,
    CampaignId,
    StepId,
    Effects,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CampaignRuns {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MessageEffects::Table)
                    .col(big_integer(MessageEffects::DeliveryId).primary_key())
                    .col(big_integer(MessageEffects::RunId))
                    .col(big_integer(MessageEffects::CampaignId))
                    .col(text(MessageEffects::StepId))
                    .col(json(MessageEffects::Effects))
                    .col(big_integer(MessageEffects::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_message_effects_delivery",
                        (MessageEffects::Table, MessageEffects::DeliveryId),
                        (Deliveries::Table, Deliveries::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_message_effects_run",
                        (MessageEffects::Table, MessageEffects::RunId),
                        (CampaignRuns::Table, CampaignRuns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MessageEffects::Table).to_owned())
            .await
    }
}
