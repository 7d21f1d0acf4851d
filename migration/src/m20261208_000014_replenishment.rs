//! Replenishment: when each customer is due to run out of each product they order
//! (`replenishment_items`, one row per customer and product, indexed by due date), and the
//! predicted carts those due items are gathered into (`predicted_carts`, at most one open per
//! customer, and their `predicted_cart_lines`), and up to when the weekly collection's
//! schedule was looked at (`replenishment_clock`).

use crate::helpers::index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplenishmentItems {
    Table,
    Id,
    CustomerId,
    ProductId,
    LastOrderId,
    LastOrderedAt,
    Quantity,
    DaysPerUnit,
    Learned,
    DueAt,
    PostponedUntil,
    Status,
    CartId,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PredictedCarts {
    Table,
    Id,
    CustomerId,
    Status,
    CreatedAt,
    ViewedAt,
    DecidedAt,
    Decision,
    OrderId,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ReplenishmentClock {
    Table,
    Id,
    CheckedUpTo,
}

#[derive(DeriveIden)]
enum PredictedCartLines {
    Table,
    Id,
    CartId,
    Position,
    ProductId,
    ItemId,
    Quantity,
    UnitPrice,
    Currency,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReplenishmentItems::Table)
                    .col(big_pk_auto(ReplenishmentItems::Id))
                    .col(big_integer(ReplenishmentItems::CustomerId))
                    .col(big_integer(ReplenishmentItems::ProductId))
                    .col(big_integer(ReplenishmentItems::LastOrderId))
                    .col(big_integer(ReplenishmentItems::LastOrderedAt))
                    .col(integer(ReplenishmentItems::Quantity))
                    .col(double(ReplenishmentItems::DaysPerUnit))
                    .col(boolean(ReplenishmentItems::Learned))
                    .col(big_integer(ReplenishmentItems::DueAt))
                    .col(big_integer_null(ReplenishmentItems::PostponedUntil))
                    .col(string(ReplenishmentItems::Status))
                    .col(big_integer_null(ReplenishmentItems::CartId))
                    .col(big_integer(ReplenishmentItems::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "idx_replenishment_items_customer_product",
                    ReplenishmentItems::Table,
                    &["customer_id", "product_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // The weekly collection reads the waiting items due by a date.
        db.execute_unprepared(
            "CREATE INDEX idx_replenishment_items_due ON replenishment_items (due_at, customer_id) \
             WHERE status = 'waiting'",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(PredictedCarts::Table)
                    .col(big_pk_auto(PredictedCarts::Id))
                    .col(big_integer(PredictedCarts::CustomerId))
                    .col(string(PredictedCarts::Status))
                    .col(big_integer(PredictedCarts::CreatedAt))
                    .col(big_integer_null(PredictedCarts::ViewedAt))
                    .col(big_integer_null(PredictedCarts::DecidedAt))
                    .col(text_null(PredictedCarts::Decision))
                    .col(big_integer_null(PredictedCarts::OrderId))
                    .col(big_integer(PredictedCarts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Never two open carts for one customer.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX idx_predicted_carts_open ON predicted_carts (customer_id) \
             WHERE status = 'open'",
        )
        .await?;
        manager
            .create_index(index(
                "idx_predicted_carts_customer",
                PredictedCarts::Table,
                &["customer_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_predicted_carts_created",
                PredictedCarts::Table,
                &["created_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PredictedCartLines::Table)
                    .col(big_pk_auto(PredictedCartLines::Id))
                    .col(big_integer(PredictedCartLines::CartId))
                    .col(integer(PredictedCartLines::Position))
                    .col(big_integer(PredictedCartLines::ProductId))
                    .col(big_integer(PredictedCartLines::ItemId))
                    .col(integer(PredictedCartLines::Quantity))
                    .col(big_integer(PredictedCartLines::UnitPrice))
                    .col(string(PredictedCartLines::Currency))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_predicted_cart_lines_cart",
                PredictedCartLines::Table,
                &["cart_id", "position"],
            ))
            .await?;
        // Up to when the collection schedule was looked at (one row).
        manager
            .create_table(
                Table::create()
                    .table(ReplenishmentClock::Table)
                    .col(big_integer(ReplenishmentClock::Id).primary_key())
                    .col(big_integer(ReplenishmentClock::CheckedUpTo))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Alias::new("replenishment_clock"),
            Alias::new("predicted_cart_lines"),
            Alias::new("predicted_carts"),
            Alias::new("replenishment_items"),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
