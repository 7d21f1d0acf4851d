//! Sessions of the built-in console: a person pastes an admin or integrator key once and gets
//! a short-lived cookie. Only the SHA-256 of the cookie's token is stored; a session ends when
//! it expires, when its person signs out (`revoked_at`) or when its key is revoked or deleted.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    Id,
    TokenHash,
    ApiKeyId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSessions::Table)
                    .col(big_pk_auto(ConsoleSessions::Id))
                    .col(string_uniq(ConsoleSessions::TokenHash))
                    .col(big_integer(ConsoleSessions::ApiKeyId))
                    .col(big_integer(ConsoleSessions::CreatedAt))
                    .col(big_integer(ConsoleSessions::ExpiresAt))
                    .col(big_integer_null(ConsoleSessions::RevokedAt))
                    .foreign_key(&mut foreign_key(
                        "fk_console_sessions_key",
                        (ConsoleSessions::Table, ConsoleSessions::ApiKeyId),
                        (ApiKeys::Table, ApiKeys::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_console_sessions_expires",
                ConsoleSessions::Table,
                &["expires_at"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsoleSessions::Table).to_owned())
            .await
    }
}
