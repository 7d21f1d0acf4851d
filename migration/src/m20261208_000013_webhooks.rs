//! Webhooks: the endpoints integrators register (with their signing secrets and what they
//! want), one row per (endpoint, event type, object) they subscribe to so the outbox matches
//! changes in SQL, the outbox of messages to them, and every attempt at sending one.
//!
//! Messages and attempts hold no foreign keys: a segment build fans out hundreds of thousands
//! of messages in one statement, and a key check per row would cost as much as the row;
//! deleting an endpoint deletes its messages and their attempts itself.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    Description,
    Filter,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    OwnerKeyId,
    DisabledAt,
    DisabledReason,
    FailingSince,
    LastSuccessAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    EndpointId,
    EventType,
    ObjectId,
}

#[derive(DeriveIden)]
enum WebhookMessages {
    Table,
    Id,
    EndpointId,
    EventType,
    CustomerId,
    ChangeId,
    Payload,
    OccurredAt,
    CreatedAt,
    Status,
    DueAt,
    Attempts,
    LeaseOwner,
    LeaseUntil,
    Reason,
    UpdatedAt,
    DedupeKey,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    MessageId,
    Attempt,
    StartedAt,
    LatencyMs,
    StatusCode,
    Response,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(big_pk_auto(WebhookEndpoints::Id))
                    .col(text(WebhookEndpoints::Url))
                    .col(text_null(WebhookEndpoints::Description))
                    .col(text(WebhookEndpoints::Filter))
                    .col(text(WebhookEndpoints::Secret))
                    .col(text_null(WebhookEndpoints::PreviousSecret))
                    .col(big_integer_null(WebhookEndpoints::PreviousSecretUntil))
                    .col(big_integer_null(WebhookEndpoints::OwnerKeyId))
                    .col(big_integer_null(WebhookEndpoints::DisabledAt))
                    .col(text_null(WebhookEndpoints::DisabledReason))
                    .col(big_integer_null(WebhookEndpoints::FailingSince))
                    .col(big_integer_null(WebhookEndpoints::LastSuccessAt))
                    .col(big_integer(WebhookEndpoints::CreatedAt))
                    .col(big_integer(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(big_pk_auto(WebhookSubscriptions::Id))
                    .col(big_integer(WebhookSubscriptions::EndpointId))
                    .col(string(WebhookSubscriptions::EventType))
                    .col(big_integer_null(WebhookSubscriptions::ObjectId))
                    .foreign_key(&mut foreign_key(
                        "fk_webhook_subscriptions_endpoint",
                        (
                            WebhookSubscriptions::Table,
                            WebhookSubscriptions::EndpointId,
                        ),
                        (WebhookEndpoints::Table, WebhookEndpoints::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_webhook_subscriptions_type",
                WebhookSubscriptions::Table,
                &["event_type", "object_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_webhook_subscriptions_endpoint",
                WebhookSubscriptions::Table,
                &["endpoint_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookMessages::Table)
                    .col(big_pk_auto(WebhookMessages::Id))
                    .col(big_integer(WebhookMessages::EndpointId))
                    .col(string(WebhookMessages::EventType))
                    .col(big_integer_null(WebhookMessages::CustomerId))
                    .col(big_integer_null(WebhookMessages::ChangeId))
                    .col(text_null(WebhookMessages::Payload))
                    .col(big_integer(WebhookMessages::OccurredAt))
                    .col(big_integer(WebhookMessages::CreatedAt))
                    .col(string(WebhookMessages::Status))
                    .col(big_integer(WebhookMessages::DueAt))
                    .col(integer(WebhookMessages::Attempts))
                    .col(string_null(WebhookMessages::LeaseOwner))
                    .col(big_integer_null(WebhookMessages::LeaseUntil))
                    .col(text_null(WebhookMessages::Reason))
                    .col(big_integer_null(WebhookMessages::UpdatedAt))
                    .col(string_null(WebhookMessages::DedupeKey).unique_key())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_webhook_messages_endpoint", &["endpoint_id", "id"][..]),
            ("idx_webhook_messages_customer", &["customer_id"][..]),
        ] {
            manager
                .create_index(index(name, WebhookMessages::Table, columns))
                .await?;
        }
        // Only messages still waiting are looked up by due time and by who is next for a
        // customer; the index leaves the sent ones out (same text on both databases).
        let db = manager.get_connection();
        for (name, columns) in [
            ("idx_webhook_messages_due", "due_at, id"),
            ("idx_webhook_messages_order", "endpoint_id, customer_id, id"),
        ] {
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON webhook_messages ({columns}) \
                 WHERE status IN ('queued', 'sending')"
            ))
            .await?;
        }
        // A segment refresh fans out the changes it logged after an id; one that committed in
        // between (another process, another customer) was fanned out by its own refresh.
        db.execute_unprepared(
            "CREATE INDEX idx_webhook_messages_change ON webhook_messages (change_id, endpoint_id) \
             WHERE change_id IS NOT NULL",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(big_pk_auto(WebhookAttempts::Id))
                    .col(big_integer(WebhookAttempts::MessageId))
                    .col(integer(WebhookAttempts::Attempt))
                    .col(big_integer(WebhookAttempts::StartedAt))
                    .col(big_integer(WebhookAttempts::LatencyMs))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(text_null(WebhookAttempts::Response))
                    .col(text_null(WebhookAttempts::Error))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_webhook_attempts_message",
                WebhookAttempts::Table,
                &["message_id", "attempt"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Alias::new("webhook_attempts"),
            Alias::new("webhook_messages"),
            Alias::new("webhook_subscriptions"),
            Alias::new("webhook_endpoints"),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
