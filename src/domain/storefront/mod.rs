//! What a storefront shows one customer: recommended products and banners. A customer the
//! shop has not told Nudge about gets empty lists, never an error.

use crate::clock::to_millis;
use crate::db::{begin_write, raw_statement};
use crate::domain::api_keys::Principal;
use crate::domain::customers::{self, find_by_external_id};
use crate::domain::ingest;
use crate::domain::stale::{Stale, stale};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{banner, event, product};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter,
};
use std::collections::HashSet;

mod kept;
pub mod shelves;
pub mod shown;

/// The event recorded under `event_id`, as `caller` may see it: a storefront key that
/// verifies customers sees an event only with the signature of the event's customer
/// (`FORBIDDEN` otherwise); `None` when there is no such event.
pub async fn event_for(
    db: &impl ConnectionTrait,
    caller: &Principal,
    event_id: &str,
    signature: Option<&str>,
) -> AppResult<Option<event::Model>> {
    let Some(event) = ingest::find_by_event_id(db, event_id).await? else {
        return Ok(None);
    };
    if caller.identity.is_some() {
        let owner = customers::find(db, event.customer_id)
            .await?
            .map(|c| c.external_id)
            .unwrap_or_default();
        caller.check_customer(&owner, signature)?;
    }
    Ok(Some(event))
}

/// The products recommended to the customer with id `customer_id`, ranked as
/// [`recommended_by_roles`] ranks them, in one statement.
pub async fn recommendations_for(
    db: &impl ConnectionTrait,
    customer_id: i64,
    first: u64,
) -> AppResult<Vec<product::Model>> {
    let sql = format!(
        "SELECT p.* FROM customer_roles cr JOIN roles r ON r.id = cr.role_id {PRODUCTS} \
         WHERE cr.customer_id = ? {RANK}"
    );
    let statement = raw_statement(db.get_database_backend(), &sql, [customer_id.into()]);
    ranked(db, statement, first).await
}

/// The products recommended to a member of exactly the roles `role_ids`: roles by priority
/// (highest first), each role's products in its order, without duplicates, at most `first`.
pub async fn recommended_by_roles(
    db: &impl ConnectionTrait,
    role_ids: &[i64],
    first: u64,
) -> AppResult<Vec<product::Model>> {
    if role_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = role_ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT p.* FROM roles r {PRODUCTS} WHERE r.id IN ({}) {RANK}",
        list.join(",")
    );
    let statement = raw_statement(db.get_database_backend(), &sql, []);
    ranked(db, statement, first).await
}

/// The products of roles `r` (`rp`, `p`), and their ranking.
const PRODUCTS: &str =
    "JOIN role_products rp ON rp.role_id = r.id JOIN products p ON p.id = rp.product_id";
const RANK: &str = "ORDER BY r.priority DESC, r.id, rp.position";

/// The first `first` distinct products `statement` reads, in its order.
async fn ranked(
    db: &impl ConnectionTrait,
    statement: sea_orm::Statement,
    first: u64,
) -> AppResult<Vec<product::Model>> {
    let ranked = product::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?;
    let mut seen = HashSet::new();
    Ok(ranked
        .into_iter()
        .filter(|p| seen.insert(p.id))
        .take(usize::try_from(first).unwrap_or(usize::MAX))
        .collect())
}

/// Dismisses one of the customer's banners for good. `NOT_FOUND` unless the banner is this
/// customer's; dismissing twice keeps the first time.
pub async fn dismiss_banner(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    customer_external_id: &str,
    banner_id: i64,
) -> AppResult<banner::Model> {
    let txn = begin_write(db).await?;
    let not_found = || AppError::NotFound(format!("banner {banner_id} does not exist"));
    let customer = find_by_external_id(&txn, customer_external_id)
        .await?
        .ok_or_else(not_found)?;
    let found = banner::Entity::find_by_id(banner_id)
        .filter(banner::Column::CustomerId.eq(customer.id))
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let saved = if found.dismissed_at.is_some() {
        found
    } else {
        let mut active: banner::ActiveModel = found.into();
        active.dismissed_at = ActiveValue::Set(Some(to_millis(now)));
        let saved = active.update(&txn).await?;
        stale(&txn, Stale::Customers(vec![customer.external_id])).await?;
        saved
    };
    txn.commit().await?;
    Ok(saved)
}
