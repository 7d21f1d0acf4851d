//! Segment members lose their foreign keys, as campaign runs did: building a segment inserts
//! hundreds of thousands of members in one statement, and PostgreSQL checked both references
//! with a trigger per row (measured at 1,000,000 customers: 2.4 s of a 5.8 s build of
//! 300,000 members). Deleting a segment or a customer deletes their members in the same
//! transaction, and on PostgreSQL a refresh holds the rows it builds from (`FOR KEY SHARE`,
//! the lock the triggers took) so neither can go while members are written for it.

use crate::helpers::{foreign_key, index};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SegmentMembers {
    Table,
    SegmentId,
    CustomerId,
    JoinedAt,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
}

const SEGMENT_KEY: &str = "fk_segment_members_segment";
const CUSTOMER_KEY: &str = "fk_segment_members_customer";
const CUSTOMER_INDEX: &str = "idx_segment_members_customer";

/// The members table under `name`, with its foreign keys or without.
fn members(name: &str, bound: bool) -> TableCreateStatement {
    let mut table = Table::create();
    table
        .table(Alias::new(name))
        .col(big_integer(SegmentMembers::SegmentId))
        .col(big_integer(SegmentMembers::CustomerId))
        .col(big_integer(SegmentMembers::JoinedAt))
        .primary_key(
            Index::create()
                .col(SegmentMembers::SegmentId)
                .col(SegmentMembers::CustomerId),
        );
    if bound {
        table
            .foreign_key(&mut foreign_key(
                SEGMENT_KEY,
                (Alias::new(name), SegmentMembers::SegmentId),
                (Segments::Table, Segments::Id),
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut foreign_key(
                CUSTOMER_KEY,
                (Alias::new(name), SegmentMembers::CustomerId),
                (Customers::Table, Customers::Id),
                ForeignKeyAction::Cascade,
            ));
    }
    table.to_owned()
}

/// SQLite changes a table's foreign keys only by moving it to a new one.
async fn rebuild_on_sqlite(manager: &SchemaManager<'_>, bound: bool) -> Result<(), DbErr> {
    let db = manager.get_connection();
    manager
        .create_table(members("segment_members_new", bound))
        .await?;
    db.execute_unprepared(
        "INSERT INTO segment_members_new (segment_id, customer_id, joined_at) \
         SELECT m.segment_id, m.customer_id, m.joined_at FROM segment_members m \
         WHERE EXISTS (SELECT 1 FROM segments s WHERE s.id = m.segment_id) \
         AND EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)",
    )
    .await?;
    db.execute_unprepared("DROP TABLE segment_members").await?;
    db.execute_unprepared("ALTER TABLE segment_members_new RENAME TO segment_members")
        .await?;
    manager
        .create_index(index(
            CUSTOMER_INDEX,
            SegmentMembers::Table,
            &["customer_id"],
        ))
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return rebuild_on_sqlite(manager, false).await;
        }
        for key in [SEGMENT_KEY, CUSTOMER_KEY] {
            manager
                .drop_foreign_key(
                    ForeignKey::drop()
                        .name(key)
                        .table(SegmentMembers::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return rebuild_on_sqlite(manager, true).await;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM segment_members m WHERE \
                 NOT EXISTS (SELECT 1 FROM segments s WHERE s.id = m.segment_id) \
                 OR NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)",
            )
            .await?;
        for (key, column, to) in [
            (
                SEGMENT_KEY,
                SegmentMembers::SegmentId,
                (Segments::Table.into_iden(), Segments::Id.into_iden()),
            ),
            (
                CUSTOMER_KEY,
                SegmentMembers::CustomerId,
                (Customers::Table.into_iden(), Customers::Id.into_iden()),
            ),
        ] {
            manager
                .create_foreign_key(foreign_key(
                    key,
                    (SegmentMembers::Table, column),
                    to,
                    ForeignKeyAction::Cascade,
                ))
                .await?;
        }
        Ok(())
    }
}
