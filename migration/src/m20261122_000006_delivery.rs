//! Sending: templates get locale variants; deliveries get what the dispatcher needs (a lease,
//! attempts, the rendered message, the provider's id, the reason of a skip or failure) with
//! their attempts and tracking events; a suppression list per channel and address; secrets the
//! processes share (the tracking-link key).
//!
//! The dispatcher claims `queued` deliveries by due time and recovers `sending` ones whose
//! lease ran out, both through `idx_deliveries_due (status, due_at)`; frequency caps read a
//! customer's recent sends through `idx_deliveries_customer_sent`.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Templates {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TemplateLocales {
    Table,
    Id,
    TemplateId,
    Locale,
    Subject,
    BodyHtml,
    BodyText,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    Attempts,
    LeaseUntil,
    LeaseOwner,
    Locale,
    RenderedSubject,
    RenderedHtml,
    RenderedText,
    Links,
    ProviderId,
    Reason,
    SentAt,
    OpenedAt,
    ClickedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    DeliveryId,
    Attempt,
    StartedAt,
    FinishedAt,
    Outcome,
    Detail,
    ProviderId,
}

#[derive(DeriveIden)]
enum DeliveryEvents {
    Table,
    Id,
    DeliveryId,
    Kind,
    At,
    Detail,
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Id,
    Channel,
    Address,
    Reason,
    CustomerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AppSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}

const DELIVERIES_SENT: &str = "idx_deliveries_customer_sent";
const DELIVERIES_PROVIDER: &str = "idx_deliveries_provider";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TemplateLocales::Table)
                    .col(big_pk_auto(TemplateLocales::Id))
                    .col(big_integer(TemplateLocales::TemplateId))
                    .col(string(TemplateLocales::Locale))
                    .col(string_null(TemplateLocales::Subject))
                    .col(text_null(TemplateLocales::BodyHtml))
                    .col(text_null(TemplateLocales::BodyText))
                    .foreign_key(&mut foreign_key(
                        "fk_template_locales_template",
                        (TemplateLocales::Table, TemplateLocales::TemplateId),
                        (Templates::Table, Templates::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_template_locales",
                    TemplateLocales::Table,
                    &["template_id", "locale"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        // SQLite adds one column per ALTER TABLE.
        let attempts = integer(Deliveries::Attempts).default(0).to_owned();
        let columns = [
            attempts,
            big_integer_null(Deliveries::LeaseUntil),
            string_null(Deliveries::LeaseOwner),
            string_null(Deliveries::Locale),
            text_null(Deliveries::RenderedSubject),
            text_null(Deliveries::RenderedHtml),
            text_null(Deliveries::RenderedText),
            json_null(Deliveries::Links),
            string_null(Deliveries::ProviderId),
            text_null(Deliveries::Reason),
            big_integer_null(Deliveries::SentAt),
            big_integer_null(Deliveries::OpenedAt),
            big_integer_null(Deliveries::ClickedAt),
            big_integer_null(Deliveries::UpdatedAt),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(index(
                DELIVERIES_SENT,
                Deliveries::Table,
                &["customer_id", "channel", "sent_at"],
            ))
            .await?;
        manager
            .create_index(
                index(DELIVERIES_PROVIDER, Deliveries::Table, &["provider_id"])
                    .and_where(Expr::col(Deliveries::ProviderId).is_not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .col(big_pk_auto(DeliveryAttempts::Id))
                    .col(big_integer(DeliveryAttempts::DeliveryId))
                    .col(integer(DeliveryAttempts::Attempt))
                    .col(big_integer(DeliveryAttempts::StartedAt))
                    .col(big_integer(DeliveryAttempts::FinishedAt))
                    .col(string(DeliveryAttempts::Outcome))
                    .col(text_null(DeliveryAttempts::Detail))
                    .col(string_null(DeliveryAttempts::ProviderId))
                    .foreign_key(&mut foreign_key(
                        "fk_delivery_attempts_delivery",
                        (DeliveryAttempts::Table, DeliveryAttempts::DeliveryId),
                        (Deliveries::Table, Deliveries::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_delivery_attempts_delivery",
                DeliveryAttempts::Table,
                &["delivery_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeliveryEvents::Table)
                    .col(big_pk_auto(DeliveryEvents::Id))
                    .col(big_integer(DeliveryEvents::DeliveryId))
                    .col(string(DeliveryEvents::Kind))
                    .col(big_integer(DeliveryEvents::At))
                    .col(text_null(DeliveryEvents::Detail))
                    .foreign_key(&mut foreign_key(
                        "fk_delivery_events_delivery",
                        (DeliveryEvents::Table, DeliveryEvents::DeliveryId),
                        (Deliveries::Table, Deliveries::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_delivery_events_delivery",
                DeliveryEvents::Table,
                &["delivery_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Suppressions::Table)
                    .col(big_pk_auto(Suppressions::Id))
                    .col(string(Suppressions::Channel))
                    .col(string(Suppressions::Address))
                    .col(string(Suppressions::Reason))
                    .col(big_integer_null(Suppressions::CustomerId))
                    .col(big_integer(Suppressions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_suppressions_address",
                    Suppressions::Table,
                    &["channel", "address"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AppSecrets::Table)
                    .col(string(AppSecrets::Name).primary_key())
                    .col(string(AppSecrets::Value))
                    .col(big_integer(AppSecrets::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AppSecrets::Table.into_iden(),
            Suppressions::Table.into_iden(),
            DeliveryEvents::Table.into_iden(),
            DeliveryAttempts::Table.into_iden(),
            TemplateLocales::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for name in [DELIVERIES_PROVIDER, DELIVERIES_SENT] {
            manager
                .drop_index(Index::drop().name(name).table(Deliveries::Table).to_owned())
                .await?;
        }
        for column in [
            Deliveries::UpdatedAt,
            Deliveries::ClickedAt,
            Deliveries::OpenedAt,
            Deliveries::SentAt,
            Deliveries::Reason,
            Deliveries::ProviderId,
            Deliveries::Links,
            Deliveries::RenderedText,
            Deliveries::RenderedHtml,
            Deliveries::RenderedSubject,
            Deliveries::Locale,
            Deliveries::LeaseOwner,
            Deliveries::LeaseUntil,
            Deliveries::Attempts,
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
        Ok(())
    }
}
