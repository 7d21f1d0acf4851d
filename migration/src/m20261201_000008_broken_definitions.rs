//! Why a customer action or a campaign was switched off by Nudge: a stored definition that no
//! longer decodes is not run with a default in its place; the rule is deactivated (an action)
//! or paused (a campaign) and the reason kept here for admins.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerActions {
    Table,
    BrokenReason,
}

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    BrokenReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CustomerActions::Table)
                    .add_column(text_null(CustomerActions::BrokenReason))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Campaigns::Table)
                    .add_column(text_null(Campaigns::BrokenReason))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Campaigns::Table)
                    .drop_column(Campaigns::BrokenReason)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CustomerActions::Table)
                    .drop_column(CustomerActions::BrokenReason)
                    .to_owned(),
            )
            .await
    }
}
