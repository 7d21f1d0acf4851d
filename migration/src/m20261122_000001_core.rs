//! The core model: customers, roles, tags, products, orders and API keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    ExternalId,
    Email,
    Phone,
    FirstName,
    LastName,
    Birthday,
    BirthdayMonth,
    BirthdayDay,
    TimeZone,
    Locale,
    CustomerType,
    Wholesale,
    AffiliateId,
    EmailConsent,
    EmailConsentAt,
    EmailConsentSource,
    SmsConsent,
    SmsConsentAt,
    SmsConsentSource,
    RegisteredAt,
    LastLoginAt,
    LastOrderAt,
    OrdersCount,
    TotalSpent,
    Attributes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    SystemName,
    Priority,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoleProducts {
    Table,
    RoleId,
    ProductId,
    Position,
}

#[derive(DeriveIden)]
enum CustomerRoles {
    Table,
    CustomerId,
    RoleId,
    AssignedAt,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomerTags {
    Table,
    CustomerId,
    TagId,
    Value,
    SetAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    ExternalId,
    Name,
    Sku,
    Price,
    Currency,
    CategoryIds,
    Manufacturer,
    Vendor,
    ReplenishmentDays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    ExternalId,
    CustomerId,
    Status,
    PaymentMethod,
    Total,
    Currency,
    PlacedAt,
    PaidAt,
    PlannedDeliveryAt,
    DeliveredAt,
    CancelledAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderLines {
    Table,
    Id,
    OrderId,
    Position,
    ProductId,
    Quantity,
    UnitPrice,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Scope,
    Prefix,
    KeyHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(big_pk_auto(Customers::Id))
                    .col(string_uniq(Customers::ExternalId))
                    .col(string_null(Customers::Email))
                    .col(string_null(Customers::Phone))
                    .col(string_null(Customers::FirstName))
                    .col(string_null(Customers::LastName))
                    .col(date_null(Customers::Birthday))
                    .col(small_integer_null(Customers::BirthdayMonth))
                    .col(small_integer_null(Customers::BirthdayDay))
                    .col(string_null(Customers::TimeZone))
                    .col(string_null(Customers::Locale))
                    .col(string(Customers::CustomerType).default("person"))
                    .col(boolean(Customers::Wholesale).default(false))
                    .col(string_null(Customers::AffiliateId))
                    .col(boolean(Customers::EmailConsent).default(false))
                    .col(big_integer_null(Customers::EmailConsentAt))
                    .col(string_null(Customers::EmailConsentSource))
                    .col(boolean(Customers::SmsConsent).default(false))
                    .col(big_integer_null(Customers::SmsConsentAt))
                    .col(string_null(Customers::SmsConsentSource))
                    .col(big_integer_null(Customers::RegisteredAt))
                    .col(big_integer_null(Customers::LastLoginAt))
                    .col(big_integer_null(Customers::LastOrderAt))
                    .col(integer(Customers::OrdersCount).default(0))
                    .col(big_integer(Customers::TotalSpent).default(0))
                    .col(json(Customers::Attributes))
                    .col(big_integer(Customers::CreatedAt))
                    .col(big_integer(Customers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_customers_email", &["email"][..]),
            ("idx_customers_phone", &["phone"][..]),
            (
                "idx_customers_birthday",
                &["birthday_month", "birthday_day"][..],
            ),
            ("idx_customers_registered_at", &["registered_at"][..]),
            ("idx_customers_last_login_at", &["last_login_at"][..]),
            ("idx_customers_last_order_at", &["last_order_at"][..]),
        ] {
            manager
                .create_index(index(name, Customers::Table, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(big_pk_auto(Products::Id))
                    .col(string_uniq(Products::ExternalId))
                    .col(string(Products::Name))
                    .col(string_null(Products::Sku))
                    .col(big_integer(Products::Price))
                    .col(string_len(Products::Currency, 3))
                    .col(json(Products::CategoryIds))
                    .col(string_null(Products::Manufacturer))
                    .col(string_null(Products::Vendor))
                    .col(integer_null(Products::ReplenishmentDays))
                    .col(big_integer(Products::CreatedAt))
                    .col(big_integer(Products::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(big_pk_auto(Roles::Id))
                    .col(string(Roles::Name))
                    .col(string_uniq(Roles::SystemName))
                    .col(integer(Roles::Priority).default(0))
                    .col(big_integer(Roles::CreatedAt))
                    .col(big_integer(Roles::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoleProducts::Table)
                    .col(big_integer(RoleProducts::RoleId))
                    .col(big_integer(RoleProducts::ProductId))
                    .col(integer(RoleProducts::Position))
                    .primary_key(
                        Index::create()
                            .col(RoleProducts::RoleId)
                            .col(RoleProducts::ProductId),
                    )
                    .foreign_key(&mut foreign_key(
                        "fk_role_products_role",
                        (RoleProducts::Table, RoleProducts::RoleId),
                        (Roles::Table, Roles::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_role_products_product",
                        (RoleProducts::Table, RoleProducts::ProductId),
                        (Products::Table, Products::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_role_products_product",
                RoleProducts::Table,
                &["product_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerRoles::Table)
                    .col(big_integer(CustomerRoles::CustomerId))
                    .col(big_integer(CustomerRoles::RoleId))
                    .col(big_integer(CustomerRoles::AssignedAt))
                    .primary_key(
                        Index::create()
                            .col(CustomerRoles::CustomerId)
                            .col(CustomerRoles::RoleId),
                    )
                    .foreign_key(&mut foreign_key(
                        "fk_customer_roles_customer",
                        (CustomerRoles::Table, CustomerRoles::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_customer_roles_role",
                        (CustomerRoles::Table, CustomerRoles::RoleId),
                        (Roles::Table, Roles::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_customer_roles_role",
                CustomerRoles::Table,
                &["role_id", "customer_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .col(big_pk_auto(Tags::Id))
                    .col(string_uniq(Tags::Name))
                    .col(big_integer(Tags::CreatedAt))
                    .col(big_integer(Tags::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerTags::Table)
                    .col(big_integer(CustomerTags::CustomerId))
                    .col(big_integer(CustomerTags::TagId))
                    .col(string_null(CustomerTags::Value))
                    .col(big_integer(CustomerTags::SetAt))
                    .primary_key(
                        Index::create()
                            .col(CustomerTags::CustomerId)
                            .col(CustomerTags::TagId),
                    )
                    .foreign_key(&mut foreign_key(
                        "fk_customer_tags_customer",
                        (CustomerTags::Table, CustomerTags::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_customer_tags_tag",
                        (CustomerTags::Table, CustomerTags::TagId),
                        (Tags::Table, Tags::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_customer_tags_tag",
                CustomerTags::Table,
                &["tag_id", "customer_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(big_pk_auto(Orders::Id))
                    .col(string_uniq(Orders::ExternalId))
                    .col(big_integer(Orders::CustomerId))
                    .col(string(Orders::Status))
                    .col(string_null(Orders::PaymentMethod))
                    .col(big_integer(Orders::Total))
                    .col(string_len(Orders::Currency, 3))
                    .col(big_integer(Orders::PlacedAt))
                    .col(big_integer_null(Orders::PaidAt))
                    .col(big_integer_null(Orders::PlannedDeliveryAt))
                    .col(big_integer_null(Orders::DeliveredAt))
                    .col(big_integer_null(Orders::CancelledAt))
                    .col(big_integer(Orders::CreatedAt))
                    .col(big_integer(Orders::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_orders_customer",
                        (Orders::Table, Orders::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_orders_customer", &["customer_id", "placed_at"][..]),
            ("idx_orders_placed_at", &["placed_at"][..]),
            ("idx_orders_paid_at", &["paid_at"][..]),
            (
                "idx_orders_planned_delivery_at",
                &["planned_delivery_at"][..],
            ),
            ("idx_orders_delivered_at", &["delivered_at"][..]),
        ] {
            manager
                .create_index(index(name, Orders::Table, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderLines::Table)
                    .col(big_pk_auto(OrderLines::Id))
                    .col(big_integer(OrderLines::OrderId))
                    .col(integer(OrderLines::Position))
                    .col(big_integer(OrderLines::ProductId))
                    .col(integer(OrderLines::Quantity))
                    .col(big_integer(OrderLines::UnitPrice))
                    .foreign_key(&mut foreign_key(
                        "fk_order_lines_order",
                        (OrderLines::Table, OrderLines::OrderId),
                        (Orders::Table, Orders::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_order_lines_product",
                        (OrderLines::Table, OrderLines::ProductId),
                        (Products::Table, Products::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_order_lines_order",
                OrderLines::Table,
                &["order_id", "position"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_order_lines_product",
                OrderLines::Table,
                &["product_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::Scope))
                    .col(string(ApiKeys::Prefix))
                    .col(string_uniq(ApiKeys::KeyHash))
                    .col(big_integer(ApiKeys::CreatedAt))
                    .col(big_integer_null(ApiKeys::LastUsedAt))
                    .col(big_integer_null(ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiKeys::Table.into_iden(),
            OrderLines::Table.into_iden(),
            Orders::Table.into_iden(),
            CustomerTags::Table.into_iden(),
            Tags::Table.into_iden(),
            CustomerRoles::Table.into_iden(),
            RoleProducts::Table.into_iden(),
            Roles::Table.into_iden(),
            Products::Table.into_iden(),
            Customers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
