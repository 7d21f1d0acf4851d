//! Banners shown by campaign steps as well as by customer actions: a banner's owner is an
//! action firing or a campaign run, and `owner_key` (the owner and the effect's place) makes a
//! second copy of the same banner impossible. SQLite cannot relax a NOT NULL column, so the
//! table is rebuilt and its rows copied.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Banners {
    Table,
}

#[derive(DeriveIden)]
enum NewBanners {
    #[sea_orm(iden = "banners_rebuilt")]
    Table,
    Id,
    CustomerId,
    ActionId,
    FiringId,
    RunId,
    OwnerKey,
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
enum Customers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CustomerActions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ActionFirings {
    Table,
    Id,
}

const COMMON: &str = "id, customer_id, action_id, firing_id, effect_index, title, body_html, \
                      coupon_code, starts_at, ends_at, dismissed_at, created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NewBanners::Table)
                    .col(big_pk_auto(NewBanners::Id))
                    .col(big_integer(NewBanners::CustomerId))
                    .col(big_integer_null(NewBanners::ActionId))
                    .col(big_integer_null(NewBanners::FiringId))
                    .col(big_integer_null(NewBanners::RunId))
                    .col(string(NewBanners::OwnerKey))
                    .col(integer(NewBanners::EffectIndex))
                    .col(string(NewBanners::Title))
                    .col(text(NewBanners::BodyHtml))
                    .col(string_null(NewBanners::CouponCode))
                    .col(big_integer(NewBanners::StartsAt))
                    .col(big_integer_null(NewBanners::EndsAt))
                    .col(big_integer_null(NewBanners::DismissedAt))
                    .col(big_integer(NewBanners::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_banners_customer",
                        (NewBanners::Table, NewBanners::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_banners_action",
                        (NewBanners::Table, NewBanners::ActionId),
                        (CustomerActions::Table, CustomerActions::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_banners_firing",
                        (NewBanners::Table, NewBanners::FiringId),
                        (ActionFirings::Table, ActionFirings::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "INSERT INTO banners_rebuilt ({COMMON}, owner_key) SELECT {COMMON}, \
             'firing:' || firing_id || ':effect:' || effect_index FROM banners"
        ))
        .await?;
        manager
            .drop_table(Table::drop().table(Banners::Table).to_owned())
            .await?;
        manager
            .rename_table(
                Table::rename()
                    .table(NewBanners::Table, Banners::Table)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            // Keep the sequence of ids going after the copied rows.
            db.execute_unprepared(
                "SELECT setval(pg_get_serial_sequence('banners', 'id'), \
                 COALESCE((SELECT MAX(id) FROM banners), 0) + 1, false)",
            )
            .await?;
        }
        manager
            .create_index(
                index("uq_banners_owner", Banners::Table, &["owner_key"])
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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Campaign banners have no firing: they cannot live in the old table.
        let db = manager.get_connection();
        db.execute_unprepared("DELETE FROM banners WHERE firing_id IS NULL")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_banners_owner")
                    .table(Banners::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_banners_customer")
                    .table(Banners::Table)
                    .to_owned(),
            )
            .await?;
        for column in [NewBanners::RunId, NewBanners::OwnerKey] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Banners::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
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
            .await
    }
}
