//! Segments: customer groups defined by a condition over customer facts, with membership kept
//! materialised (`segment_members`). Every join and leave is a row in the one change log
//! (`membership_changes`), which learns the segment, why the change happened and the
//! customer's external id as it was — so a customer's last leave outlives their erasure: the
//! log no longer cascades from customers (erasure deletes their earlier changes itself), and a
//! deleted segment's joins and leaves keep its id (no foreign key).
//! Statistics facts learn the segment they count for (joins and leaves per day), and customer
//! actions the segment a join or leave trigger listens to.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    Name,
    Description,
    Condition,
    CheckedUpTo,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SegmentMembers {
    Table,
    SegmentId,
    CustomerId,
    JoinedAt,
}

#[derive(DeriveIden)]
enum Customers {
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
    SegmentId,
    Reason,
    CustomerExternalId,
}

#[derive(DeriveIden)]
enum CustomerActions {
    Table,
    TriggerSegmentId,
}

#[derive(DeriveIden)]
enum StatFacts {
    Table,
    SegmentId,
}

/// The change log as it is from now on, under `name`.
fn change_log(name: &str) -> TableCreateStatement {
    Table::create()
        .table(Alias::new(name))
        .col(big_pk_auto(MembershipChanges::Id))
        .col(big_integer(MembershipChanges::CustomerId))
        .col(string(MembershipChanges::Kind))
        .col(big_integer_null(MembershipChanges::RoleId))
        .col(big_integer_null(MembershipChanges::TagId))
        .col(string_null(MembershipChanges::Value))
        .col(string_null(MembershipChanges::PreviousValue))
        .col(string(MembershipChanges::Source))
        .col(big_integer(MembershipChanges::OccurredAt))
        .col(big_integer_null(MembershipChanges::SegmentId))
        .col(string_null(MembershipChanges::Reason))
        .col(string_null(MembershipChanges::CustomerExternalId))
        .foreign_key(&mut foreign_key(
            "fk_membership_changes_role",
            (Alias::new(name), MembershipChanges::RoleId),
            (Roles::Table, Roles::Id),
            ForeignKeyAction::SetNull,
        ))
        .foreign_key(&mut foreign_key(
            "fk_membership_changes_tag",
            (Alias::new(name), MembershipChanges::TagId),
            (Tags::Table, Tags::Id),
            ForeignKeyAction::SetNull,
        ))
        .to_owned()
}

const OLD_COLUMNS: &str =
    "id, customer_id, kind, role_id, tag_id, value, previous_value, source, occurred_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Segments::Table)
                    .col(big_pk_auto(Segments::Id))
                    .col(string_uniq(Segments::Name))
                    .col(text_null(Segments::Description))
                    .col(text(Segments::Condition))
                    .col(big_integer(Segments::CheckedUpTo))
                    .col(big_integer(Segments::CreatedAt))
                    .col(big_integer(Segments::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SegmentMembers::Table)
                    .col(big_integer(SegmentMembers::SegmentId))
                    .col(big_integer(SegmentMembers::CustomerId))
                    .col(big_integer(SegmentMembers::JoinedAt))
                    .primary_key(
                        Index::create()
                            .col(SegmentMembers::SegmentId)
                            .col(SegmentMembers::CustomerId),
                    )
                    .foreign_key(&mut foreign_key(
                        "fk_segment_members_segment",
                        (SegmentMembers::Table, SegmentMembers::SegmentId),
                        (Segments::Table, Segments::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "fk_segment_members_customer",
                        (SegmentMembers::Table, SegmentMembers::CustomerId),
                        (Customers::Table, Customers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_segment_members_customer",
                SegmentMembers::Table,
                &["customer_id"],
            ))
            .await?;

        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE membership_changes DROP CONSTRAINT fk_membership_changes_customer",
                )
                .await?;
                for mut column in [
                    big_integer_null(MembershipChanges::SegmentId),
                    string_null(MembershipChanges::Reason),
                    string_null(MembershipChanges::CustomerExternalId),
                ] {
                    manager
                        .alter_table(
                            Table::alter()
                                .table(MembershipChanges::Table)
                                .add_column(&mut column)
                                .to_owned(),
                        )
                        .await?;
                }
            }
            _ => {
                // SQLite drops a foreign key only with its table: the log moves to a new one,
                // keeping its ids and the sequence it draws from.
                manager
                    .create_table(change_log("membership_changes_new"))
                    .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO membership_changes_new ({OLD_COLUMNS}) \
                     SELECT {OLD_COLUMNS} FROM membership_changes"
                ))
                .await?;
                db.execute_unprepared(
                    "INSERT INTO sqlite_sequence (name, seq) \
                     SELECT 'membership_changes_new', seq FROM sqlite_sequence \
                     WHERE name = 'membership_changes' \
                     AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'membership_changes_new')",
                )
                .await?;
                db.execute_unprepared(
                    "UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE(\
                     (SELECT seq FROM sqlite_sequence WHERE name = 'membership_changes'), 0)) \
                     WHERE name = 'membership_changes_new'",
                )
                .await?;
                db.execute_unprepared("DROP TABLE membership_changes")
                    .await?;
                db.execute_unprepared(
                    "ALTER TABLE membership_changes_new RENAME TO membership_changes",
                )
                .await?;
                manager
                    .create_index(index(
                        "idx_membership_changes_customer",
                        MembershipChanges::Table,
                        &["customer_id", "id"],
                    ))
                    .await?;
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(StatFacts::Table)
                    .add_column(big_integer_null(StatFacts::SegmentId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CustomerActions::Table)
                    .add_column(big_integer_null(CustomerActions::TriggerSegmentId))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CustomerActions::Table)
                    .drop_column(CustomerActions::TriggerSegmentId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(StatFacts::Table)
                    .drop_column(StatFacts::SegmentId)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "DELETE FROM membership_changes WHERE segment_id IS NOT NULL OR kind LIKE 'segment_%'",
        )
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DELETE FROM membership_changes m WHERE NOT EXISTS \
                 (SELECT 1 FROM customers c WHERE c.id = m.customer_id)",
            )
            .await?;
            for column in [
                MembershipChanges::CustomerExternalId,
                MembershipChanges::Reason,
                MembershipChanges::SegmentId,
            ] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(MembershipChanges::Table)
                            .drop_column(column)
                            .to_owned(),
                    )
                    .await?;
            }
            manager
                .create_foreign_key(foreign_key(
                    "fk_membership_changes_customer",
                    (MembershipChanges::Table, MembershipChanges::CustomerId),
                    (Customers::Table, Customers::Id),
                    ForeignKeyAction::Cascade,
                ))
                .await?;
        }
        // On SQLite the log keeps its new shape (the extra columns are unused by older code).
        for table in [
            SegmentMembers::Table.into_iden(),
            Segments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
