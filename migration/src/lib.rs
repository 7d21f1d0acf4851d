//! Nudge's schema history. Each migration is written against `sea_query` only and never
//! imports the `entity` crate, so an old migration keeps its meaning when the models change.
//!
//! Instants are stored as BIGINT epoch milliseconds (UTC) and money as BIGINT minor units:
//! both compare and sum exactly on SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261122_000001_core;
mod m20261122_000002_automation;
mod m20261122_000003_pending_events;
mod m20261122_000004_campaigns;
mod m20261122_000005_campaign_banners;
mod m20261122_000006_delivery;
mod m20261201_000007_storefront_identity;
mod m20261201_000008_broken_definitions;
mod m20261201_000009_message_effects;
mod m20261206_000010_statistics;
mod m20261207_000011_segments;
mod m20261207_000012_unbound_members;
mod m20261208_000013_webhooks;
mod m20261208_000014_replenishment;
mod m20261209_000015_product_images;
mod m20261210_000016_console_sessions;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_core::Migration),
            Box::new(m20261122_000002_automation::Migration),
            Box::new(m20261122_000003_pending_events::Migration),
            Box::new(m20261122_000004_campaigns::Migration),
            Box::new(m20261122_000005_campaign_banners::Migration),
            Box::new(m20261122_000006_delivery::Migration),
            Box::new(m20261201_000007_storefront_identity::Migration),
            Box::new(m20261201_000008_broken_definitions::Migration),
            Box::new(m20261201_000009_message_effects::Migration),
            Box::new(m20261206_000010_statistics::Migration),
            Box::new(m20261207_000011_segments::Migration),
            Box::new(m20261207_000012_unbound_members::Migration),
            Box::new(m20261208_000013_webhooks::Migration),
            Box::new(m20261208_000014_replenishment::Migration),
            Box::new(m20261209_000015_product_images::Migration),
            Box::new(m20261210_000016_console_sessions::Migration),
        ]
    }
}
