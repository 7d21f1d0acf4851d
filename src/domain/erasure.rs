//! Erasing a customer: what `deleteCustomer` does, in one transaction. Their personal data
//! goes — the customer row with identity, contact, consent, attributes and facts, and with it
//! their roles, tags, cart, orders, events, action firings, banners, membership log and
//! campaign runs ([`customers::delete_in`]). Their last word in the change log is that they
//! left each segment they were in (reason `erased`), so integrators can follow; webhook messages
//! about them not yet sent are dropped, except those leaves. Their message history stays
//! without a person in it ([`deliveries::erasure`]): counts for statistics survive, addresses and content do not.
//! This stage sits above both areas it touches.

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::stale::{Stale, stale};
use crate::domain::{campaigns, customers, deliveries, membership, segments, webhooks};
use crate::error::AppResult;
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::campaign_run;
use sea_orm::ColumnTrait;
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::Condition;

/// Erases the customer with id `id` at `now`. `NOT_FOUND` when missing; nothing changes then.
pub async fn erase_customer(
    db: &DatabaseConnection,
    bus: &EventBus,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let txn = begin_write(db).await?;
    let now_ms = to_millis(now);
    if let Some(customer) = customers::find(&txn, id).await? {
        stale(&txn, Stale::Customers(vec![customer.external_id])).await?;
    }
    deliveries::erasure::forget_customer(&txn, id, to_millis(now)).await?;
    let of_customer = Condition::all().add(campaign_run::Column::CustomerId.eq(id));
    campaigns::tally::note_runs_ending(&txn, of_customer, None, to_millis(now)).await?;
    membership::forget_customer(&txn, id).await?;
    webhooks::outbox::forget_customer(&txn, id).await?;
    let left = segments::leave_all(&txn, id, now_ms).await?;
    customers::delete_in(&txn, id).await?;
    txn.commit().await?;
    membership::announce_logged(bus, left.logged_upto);
    Ok(())
}
