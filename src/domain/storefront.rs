//! What a storefront shows one customer: recommended products and banners. A customer the
//! shop has not told Nudge about gets empty lists, never an error.

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::api_keys::Principal;
use crate::domain::customers::{self, find_by_external_id};
use crate::domain::ingest;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use entity::{banner, customer_role, event, product, role, role_product};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashSet;

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

/// The products the customer's roles recommend: roles by priority (highest first), each
/// role's products in its order, without duplicates, at most `first`.
pub async fn recommendations(
    db: &impl ConnectionTrait,
    customer_external_id: &str,
    first: u64,
) -> AppResult<Vec<product::Model>> {
    let Some(customer) = find_by_external_id(db, customer_external_id).await? else {
        return Ok(Vec::new());
    };
    recommendations_for(db, customer.id, first).await
}

/// [`recommendations`] of the customer with id `customer_id`.
pub async fn recommendations_for(
    db: &impl ConnectionTrait,
    customer_id: i64,
    first: u64,
) -> AppResult<Vec<product::Model>> {
    let role_ids: Vec<i64> = customer_role::Entity::find()
        .filter(customer_role::Column::CustomerId.eq(customer_id))
        .find_also_related(role::Entity)
        .order_by_desc(role::Column::Priority)
        .order_by_asc(role::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(_, role)| role.map(|r| r.id))
        .collect();
    if role_ids.is_empty() {
        return Ok(Vec::new());
    }
    let links = role_product::Entity::find()
        .filter(role_product::Column::RoleId.is_in(role_ids.iter().copied()))
        .find_also_related(product::Entity)
        .all(db)
        .await?;
    let mut seen = HashSet::new();
    let mut products = Vec::new();
    for role_id in role_ids {
        let mut of_role: Vec<_> = links
            .iter()
            .filter(|(link, _)| link.role_id == role_id)
            .collect();
        of_role.sort_by_key(|(link, _)| link.position);
        for (_, product) in of_role {
            if let Some(product) = product
                && seen.insert(product.id)
            {
                products.push(product.clone());
            }
        }
    }
    products.truncate(first as usize);
    Ok(products)
}

/// The customer's banners showing at `now`: started, not ended, not dismissed; newest first.
pub async fn banners(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    customer_external_id: &str,
) -> AppResult<Vec<banner::Model>> {
    let Some(customer) = find_by_external_id(db, customer_external_id).await? else {
        return Ok(Vec::new());
    };
    let now_ms = to_millis(now);
    Ok(banner::Entity::find()
        .filter(banner::Column::CustomerId.eq(customer.id))
        .filter(banner::Column::StartsAt.lte(now_ms))
        .filter(banner::Column::DismissedAt.is_null())
        .filter(
            Condition::any()
                .add(banner::Column::EndsAt.is_null())
                .add(banner::Column::EndsAt.gt(now_ms)),
        )
        .order_by_desc(banner::Column::Id)
        .limit(100)
        .all(db)
        .await?)
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
        active.update(&txn).await?
    };
    txn.commit().await?;
    Ok(saved)
}
