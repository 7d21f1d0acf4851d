//! Storefront events, carts, customer actions with their firings, banners, the outbox of
//! deliveries, and the membership change log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    CartUpdatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    EventId,
    CustomerId,
    Kind,
    Payload,
    Fingerprint,
    OccurredAt,
    ReceivedAt,
    ProcessedAt,
    Outcome,
}

#[derive(DeriveIden)]
enum CartLines {
    Table,
    CustomerId,
    ProductId,
    Quantity,
    UnitPrice,
    Currency,
    AddedAt,
}

#[derive(DeriveIden)]
enum CustomerActions {
    Table,
    Id,
    Name,
    Active,
    ActiveFrom,
    ActiveTo,
    Trigger,
    Condition,
    Effects,
    RepeatPolicy,
    RepeatDays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ActionFirings {
    Table,
    Id,
    ActionId,
    CustomerId,
    EventId,
    FiredAt,
    Effects,
}

#[derive(DeriveIden)]
enum Banners {
    Table,
    Id,
    CustomerId,
    ActionId,
    FiringId,
    EffectIndex,
    Title,
    BodyHtml,
    CouponCode,
    StartsAt,
    EndsAt,
    DismissedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    DedupeKey,
    Channel,
    Purpose,
    CustomerId,
    Recipient,
    Subject,
    BodyHtml,
    BodyText,
    Status,
    ActionId,
    FiringId,
    CreatedAt,
    DueAt,
}

#[derive(DeriveIden)]
enum MembershipChanges {
    Table,
    Id,
    CustomerId,
    Kind,
    RoleId,
    TagId,
    Value,
    PreviousValue,
    Source,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(big_integer_null(Customers::CartUpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_customers_cart_updated_at",
                Customers::Table,
                &["cart_updated_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Id))
                    .col(string_uniq(Events::EventId))
                    .col(big_integer(Events::CustomerId))
                    .col(string(Events::Kind))
                    .col(json(Events::Payload))
                    .col(string(Events::Fingerprint))
                    .col(big_integer(Events::OccurredAt))
                    .col(big_integer(Events::ReceivedAt))
                    .col(big_integer_null(Events::ProcessedAt))
                    .col(json_null(Events::Outcome))
                    .foreign_key(&mut foreign_key(
                        "fk_events_customer",
                        (Events::Table, Events::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_events_unprocessed",
                Events::Table,
                &["processed_at", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_events_customer",
                Events::Table,
                &["customer_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CartLines::Table)
                    .col(big_integer(CartLines::CustomerId))
                    .col(big_integer(CartLines::ProductId))
                    .col(integer(CartLines::Quantity))
                    .col(big_integer_null(CartLines::UnitPrice))
                    .col(string_len_null(CartLines::Currency, 3))
                    .col(big_integer(CartLines::AddedAt))
                    .primary_key(
                        Index::create()
                            .col(CartLines::CustomerId)
                            .col(CartLines::ProductId),
                    )
                    .foreign_key(&mut foreign_key(
                        "fk_cart_lines_customer",
                        (CartLines::Table, CartLines::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_cart_lines_product",
                        (CartLines::Table, CartLines::ProductId),
                        (Products::Table, Products::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerActions::Table)
                    .col(big_pk_auto(CustomerActions::Id))
                    .col(string(CustomerActions::Name))
                    .col(boolean(CustomerActions::Active))
                    .col(big_integer_null(CustomerActions::ActiveFrom))
                    .col(big_integer_null(CustomerActions::ActiveTo))
                    .col(string(CustomerActions::Trigger))
                    .col(json(CustomerActions::Condition))
                    .col(json(CustomerActions::Effects))
                    .col(string(CustomerActions::RepeatPolicy))
                    .col(integer_null(CustomerActions::RepeatDays))
                    .col(big_integer(CustomerActions::CreatedAt))
                    .col(big_integer(CustomerActions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_customer_actions_trigger",
                CustomerActions::Table,
                &["trigger", "active"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ActionFirings::Table)
                    .col(big_pk_auto(ActionFirings::Id))
                    .col(big_integer(ActionFirings::ActionId))
                    .col(big_integer(ActionFirings::CustomerId))
                    .col(big_integer(ActionFirings::EventId))
                    .col(big_integer(ActionFirings::FiredAt))
                    .col(json(ActionFirings::Effects))
                    .foreign_key(&mut foreign_key(
                        "fk_action_firings_action",
                        (ActionFirings::Table, ActionFirings::ActionId),
                        (CustomerActions::Table, CustomerActions::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_action_firings_customer",
                        (ActionFirings::Table, ActionFirings::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_action_firings_event",
                        (ActionFirings::Table, ActionFirings::EventId),
                        (Events::Table, Events::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_action_firings_action_event",
                    ActionFirings::Table,
                    &["action_id", "event_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_action_firings_customer",
                ActionFirings::Table,
                &["customer_id", "action_id", "fired_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_action_firings_event",
                ActionFirings::Table,
                &["event_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Banners::Table)
                    .col(big_pk_auto(Banners::Id))
                    .col(big_integer(Banners::CustomerId))
                    .col(big_integer_null(Banners::ActionId))
                    .col(big_integer(Banners::FiringId))
                    .col(integer(Banners::EffectIndex))
                    .col(string(Banners::Title))
                    .col(text(Banners::BodyHtml))
                    .col(string_null(Banners::CouponCode))
                    .col(big_integer(Banners::StartsAt))
                    .col(big_integer_null(Banners::EndsAt))
                    .col(big_integer_null(Banners::DismissedAt))
                    .col(big_integer(Banners::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_banners_customer",
                        (Banners::Table, Banners::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_banners_action",
                        (Banners::Table, Banners::ActionId),
                        (CustomerActions::Table, CustomerActions::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_banners_firing",
                        (Banners::Table, Banners::FiringId),
                        (ActionFirings::Table, ActionFirings::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_banners_firing_effect",
                    Banners::Table,
                    &["firing_id", "effect_index"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_banners_customer",
                Banners::Table,
                &["customer_id", "starts_at"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(big_pk_auto(Deliveries::Id))
                    .col(string_uniq(Deliveries::DedupeKey))
                    .col(string(Deliveries::Channel))
                    .col(string(Deliveries::Purpose))
                    .col(big_integer_null(Deliveries::CustomerId))
                    .col(string_null(Deliveries::Recipient))
                    .col(string_null(Deliveries::Subject))
                    .col(text_null(Deliveries::BodyHtml))
                    .col(text_null(Deliveries::BodyText))
                    .col(string(Deliveries::Status))
                    .col(big_integer_null(Deliveries::ActionId))
                    .col(big_integer_null(Deliveries::FiringId))
                    .col(big_integer(Deliveries::CreatedAt))
                    .col(big_integer(Deliveries::DueAt))
                    .foreign_key(&mut foreign_key(
                        "fk_deliveries_customer",
                        (Deliveries::Table, Deliveries::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_deliveries_action",
                        (Deliveries::Table, Deliveries::ActionId),
                        (CustomerActions::Table, CustomerActions::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_deliveries_firing",
                        (Deliveries::Table, Deliveries::FiringId),
                        (ActionFirings::Table, ActionFirings::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_deliveries_due",
                Deliveries::Table,
                &["status", "due_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_deliveries_customer",
                Deliveries::Table,
                &["customer_id", "id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MembershipChanges::Table)
                    .col(big_pk_auto(MembershipChanges::Id))
                    .col(big_integer(MembershipChanges::CustomerId))
                    .col(string(MembershipChanges::Kind))
                    .col(big_integer_null(MembershipChanges::RoleId))
                    .col(big_integer_null(MembershipChanges::TagId))
                    .col(string_null(MembershipChanges::Value))
                    .col(string_null(MembershipChanges::PreviousValue))
                    .col(string(MembershipChanges::Source))
                    .col(big_integer(MembershipChanges::OccurredAt))
                    .foreign_key(&mut foreign_key(
                        "fk_membership_changes_customer",
                        (MembershipChanges::Table, MembershipChanges::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_membership_changes_role",
                        (MembershipChanges::Table, MembershipChanges::RoleId),
                        (Roles::Table, Roles::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_membership_changes_tag",
                        (MembershipChanges::Table, MembershipChanges::TagId),
                        (Tags::Table, Tags::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_membership_changes_customer",
                MembershipChanges::Table,
                &["customer_id", "id"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MembershipChanges::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Banners::Table.into_iden(),
            ActionFirings::Table.into_iden(),
            CustomerActions::Table.into_iden(),
            CartLines::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_customers_cart_updated_at")
                    .table(Customers::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .drop_column(Customers::CartUpdatedAt)
                    .to_owned(),
            )
            .await
    }
}
