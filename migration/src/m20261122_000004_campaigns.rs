//! Campaigns: message templates, campaigns, their runs (one customer going through one
//! campaign for one subject) and each run's step log. Deliveries learn which campaign, run and
//! template they came from.
//!
//! A run is unique per (campaign, customer, subject); the subject is a number in the unique
//! index (an order id, a cart's or an inactivity's instant, a year), so the index compares
//! integers only. A campaign that admits a customer once ever also fills `entry_key`, whose
//! partial unique index admits one run per customer. Runs
//! waiting for their next step are in a partial index by due time, so the runner's cost grows
//! with what is due, not with the number of runs.
//!
//! Runs have no foreign keys: enrolment inserts up to millions of them in one statement, and
//! PostgreSQL checked each reference with a trigger per row (measured: 30 s instead of 12 s
//! for a million). Deleting a campaign or a customer deletes their runs in the same
//! transaction; the runner ends a run whose customer or order is gone.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
    Name,
    Channel,
    Subject,
    BodyHtml,
    BodyText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    Name,
    Status,
    AnchorKind,
    Anchor,
    Audience,
    Steps,
    ExitGoal,
    ReentryPolicy,
    ReentryDays,
    SendWindow,
    LeadMs,
    PlannedUntil,
    ActivatedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignRuns {
    Table,
    Id,
    CampaignId,
    CustomerId,
    SubjectKey,
    SubjectRef,
    EntryKey,
    OrderId,
    AnchorAt,
    Status,
    StepId,
    StepStartedAt,
    NextDueAt,
    EnteredAt,
    EndedAt,
    EndReason,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CampaignRunSteps {
    Table,
    Id,
    RunId,
    StepId,
    At,
    Outcome,
    Detail,
    DeliveryId,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    CampaignId,
    RunId,
    TemplateId,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
}

const CUSTOMERS_CONSENT: &str = "idx_customers_email_consent_at";
const DELIVERIES_RUN: &str = "idx_deliveries_run";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Templates::Table)
                    .col(big_pk_auto(Templates::Id))
                    .col(string_uniq(Templates::Name))
                    .col(string(Templates::Channel))
                    .col(string_null(Templates::Subject))
                    .col(text_null(Templates::BodyHtml))
                    .col(text_null(Templates::BodyText))
                    .col(big_integer(Templates::CreatedAt))
                    .col(big_integer(Templates::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Campaigns::Table)
                    .col(big_pk_auto(Campaigns::Id))
                    .col(string(Campaigns::Name))
                    .col(string(Campaigns::Status))
                    .col(string(Campaigns::AnchorKind))
                    .col(json(Campaigns::Anchor))
                    .col(json(Campaigns::Audience))
                    .col(json(Campaigns::Steps))
                    .col(json_null(Campaigns::ExitGoal))
                    .col(string(Campaigns::ReentryPolicy))
                    .col(integer_null(Campaigns::ReentryDays))
                    .col(json_null(Campaigns::SendWindow))
                    .col(big_integer(Campaigns::LeadMs))
                    .col(big_integer_null(Campaigns::PlannedUntil))
                    .col(big_integer_null(Campaigns::ActivatedAt))
                    .col(big_integer(Campaigns::CreatedAt))
                    .col(big_integer(Campaigns::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_campaigns_status",
                Campaigns::Table,
                &["status", "anchor_kind"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignRuns::Table)
                    .col(big_pk_auto(CampaignRuns::Id))
                    .col(big_integer(CampaignRuns::CampaignId))
                    .col(big_integer(CampaignRuns::CustomerId))
                    .col(string(CampaignRuns::SubjectKey))
                    .col(big_integer(CampaignRuns::SubjectRef))
                    .col(big_integer_null(CampaignRuns::EntryKey))
                    .col(big_integer_null(CampaignRuns::OrderId))
                    .col(big_integer(CampaignRuns::AnchorAt))
                    .col(string(CampaignRuns::Status))
                    .col(string_null(CampaignRuns::StepId))
                    .col(big_integer_null(CampaignRuns::StepStartedAt))
                    .col(big_integer_null(CampaignRuns::NextDueAt))
                    .col(big_integer(CampaignRuns::EnteredAt))
                    .col(big_integer_null(CampaignRuns::EndedAt))
                    .col(string_null(CampaignRuns::EndReason))
                    .col(big_integer(CampaignRuns::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_campaign_runs_subject",
                    CampaignRuns::Table,
                    &["campaign_id", "customer_id", "subject_ref"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_campaign_runs_entry",
                    CampaignRuns::Table,
                    &["campaign_id", "customer_id", "entry_key"],
                )
                .unique()
                .and_where(Expr::col(CampaignRuns::EntryKey).is_not_null())
                .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "idx_campaign_runs_due",
                    CampaignRuns::Table,
                    &["next_due_at"],
                )
                .and_where(Expr::col(CampaignRuns::NextDueAt).is_not_null())
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_campaign_runs_customer",
                CampaignRuns::Table,
                &["customer_id"],
            ))
            .await?;
        manager
            .create_index(
                index(
                    "idx_campaign_runs_order",
                    CampaignRuns::Table,
                    &["order_id"],
                )
                .and_where(Expr::col(CampaignRuns::OrderId).is_not_null())
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignRunSteps::Table)
                    .col(big_pk_auto(CampaignRunSteps::Id))
                    .col(big_integer(CampaignRunSteps::RunId))
                    .col(string_null(CampaignRunSteps::StepId))
                    .col(big_integer(CampaignRunSteps::At))
                    .col(string(CampaignRunSteps::Outcome))
                    .col(text_null(CampaignRunSteps::Detail))
                    .col(big_integer_null(CampaignRunSteps::DeliveryId))
                    .foreign_key(&mut foreign_key(
                        "fk_campaign_run_steps_run",
                        (CampaignRunSteps::Table, CampaignRunSteps::RunId),
                        (CampaignRuns::Table, CampaignRuns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_campaign_run_steps_run",
                CampaignRunSteps::Table,
                &["run_id", "id"],
            ))
            .await?;

        for column in [
            Deliveries::CampaignId,
            Deliveries::RunId,
            Deliveries::TemplateId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .add_column(big_integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                index(DELIVERIES_RUN, Deliveries::Table, &["run_id"])
                    .and_where(Expr::col(Deliveries::RunId).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                CUSTOMERS_CONSENT,
                Customers::Table,
                &["email_consent_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(CUSTOMERS_CONSENT)
                    .table(Customers::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(DELIVERIES_RUN)
                    .table(Deliveries::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Deliveries::CampaignId,
            Deliveries::RunId,
            Deliveries::TemplateId,
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
            CampaignRunSteps::Table.into_iden(),
            CampaignRuns::Table.into_iden(),
            Campaigns::Table.into_iden(),
            Templates::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
