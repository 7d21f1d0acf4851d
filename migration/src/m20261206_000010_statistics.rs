//! Statistics: every write that changes a figure appends a fact (`stat_facts`) in its own
//! transaction; a folder moves facts into per-scope, per-day sums (`stat_days`) and deletes
//! them in one transaction, so each fact is counted once whatever crashes. A sum row is keyed
//! by the day it happened and by its cohort day (the day the message was sent, or the run
//! entered), both in the store's time zone as days since 1970-01-01.
//!
//! Orders keep the credit they were given (`order_credits`): the message, the touch and why.
//! Deliveries learn their campaign step, and when they were unsubscribed and bounced, so that
//! each is counted once.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StatFacts {
    Table,
    Id,
    Metric,
    Key,
    At,
    Cohort,
    Delta,
    Channel,
    CampaignId,
    StepId,
    ActionId,
    TemplateId,
    Locale,
}

#[derive(DeriveIden)]
enum StatDays {
    Table,
    Scope,
    Day,
    Cohort,
    Metric,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum OrderCredits {
    Table,
    OrderId,
    DeliveryId,
    Channel,
    CampaignId,
    StepId,
    ActionId,
    TemplateId,
    Locale,
    Touch,
    TouchedAt,
    SentAt,
    WindowMs,
    Counted,
    Revenue,
    Currency,
    Reason,
    CreditedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    StepId,
    UnsubscribedAt,
    BouncedAt,
    DeliveredAt,
}

const DAYS_COHORT: &str = "idx_stat_days_cohort";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StatFacts::Table)
                    .col(big_pk_auto(StatFacts::Id))
                    .col(string(StatFacts::Metric))
                    .col(string(StatFacts::Key).default(""))
                    .col(big_integer(StatFacts::At))
                    .col(big_integer(StatFacts::Cohort))
                    .col(big_integer(StatFacts::Delta))
                    .col(string_null(StatFacts::Channel))
                    .col(big_integer_null(StatFacts::CampaignId))
                    .col(string_null(StatFacts::StepId))
                    .col(big_integer_null(StatFacts::ActionId))
                    .col(big_integer_null(StatFacts::TemplateId))
                    .col(string_null(StatFacts::Locale))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StatDays::Table)
                    .col(string(StatDays::Scope))
                    .col(integer(StatDays::Day))
                    .col(integer(StatDays::Cohort))
                    .col(string(StatDays::Metric))
                    .col(string(StatDays::Key))
                    .col(big_integer(StatDays::Value))
                    .primary_key(
                        Index::create()
                            .col(StatDays::Scope)
                            .col(StatDays::Day)
                            .col(StatDays::Cohort)
                            .col(StatDays::Metric)
                            .col(StatDays::Key),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
            // Each fold updates the day's sums in place: room on the page keeps those updates
            // off the indexes (HOT) and the table from bloating between vacuums.
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE stat_days SET (fillfactor = 80)")
                .await?;
        }
        manager
            .create_index(index(
                DAYS_COHORT,
                StatDays::Table,
                &["scope", "cohort", "day"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderCredits::Table)
                    .col(big_integer(OrderCredits::OrderId).primary_key())
                    .col(big_integer_null(OrderCredits::DeliveryId))
                    .col(string(OrderCredits::Channel))
                    .col(big_integer_null(OrderCredits::CampaignId))
                    .col(string_null(OrderCredits::StepId))
                    .col(big_integer_null(OrderCredits::ActionId))
                    .col(big_integer_null(OrderCredits::TemplateId))
                    .col(string_null(OrderCredits::Locale))
                    .col(string(OrderCredits::Touch))
                    .col(big_integer(OrderCredits::TouchedAt))
                    .col(big_integer(OrderCredits::SentAt))
                    .col(big_integer(OrderCredits::WindowMs))
                    .col(boolean(OrderCredits::Counted))
                    .col(big_integer(OrderCredits::Revenue))
                    .col(string(OrderCredits::Currency))
                    .col(text(OrderCredits::Reason))
                    .col(big_integer(OrderCredits::CreditedAt))
                    .col(big_integer(OrderCredits::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_order_credits_order",
                        (OrderCredits::Table, OrderCredits::OrderId),
                        (Orders::Table, Orders::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for mut column in [
            string_null(Deliveries::StepId),
            big_integer_null(Deliveries::UnsubscribedAt),
            big_integer_null(Deliveries::BouncedAt),
            big_integer_null(Deliveries::DeliveredAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Deliveries::DeliveredAt,
            Deliveries::BouncedAt,
            Deliveries::UnsubscribedAt,
            Deliveries::StepId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            OrderCredits::Table.into_iden(),
            StatDays::Table.into_iden(),
            StatFacts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
