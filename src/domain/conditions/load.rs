//! Loading what a condition looks at from the database: the customer's memberships and cart,
//! the order a run or an event is about, and what a run's customer did with its messages.

use super::{EventFacts, Item, OrderFacts, RunFacts};
use crate::db::in_list;
use crate::domain::orders::carts::CartStatus;
use crate::error::AppResult;
use entity::{
    cart_line, customer, customer_role, customer_tag, delivery, delivery_event, order, order_line,
    predicted_cart, product, segment_member,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};

/// The roles the customer holds.
pub(crate) async fn roles_of(
    txn: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<HashSet<i64>> {
    Ok(customer_role::Entity::find()
        .filter(customer_role::Column::CustomerId.eq(customer_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|r| r.role_id)
        .collect())
}

/// The customer's tags, with their values.
pub(crate) async fn tags_of(
    txn: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<HashMap<i64, Option<String>>> {
    Ok(customer_tag::Entity::find()
        .filter(customer_tag::Column::CustomerId.eq(customer_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|t| (t.tag_id, t.value))
        .collect())
}

/// The segments the customer is a member of.
pub(crate) async fn segments_of(
    txn: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<HashSet<i64>> {
    Ok(segment_member::Entity::find()
        .filter(segment_member::Column::CustomerId.eq(customer_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.segment_id)
        .collect())
}

/// A product as conditions see it, `quantity` times.
pub(crate) fn item(product: &product::Model, quantity: i32) -> Item {
    Item {
        product_external_id: product.external_id.clone(),
        category_ids: product
            .category_ids
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        manufacturer: product.manufacturer.clone(),
        vendor: product.vendor.clone(),
        quantity,
    }
}

/// The customer's cart, as items.
pub(crate) async fn cart_items(
    txn: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<Vec<Item>> {
    let mut carts = carts_of(txn, &[customer_id]).await?;
    Ok(carts.remove(&customer_id).unwrap_or_default())
}

/// The carts of `customer_ids`, as items, by customer (none for an empty cart).
pub(crate) async fn carts_of(
    txn: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<Item>>> {
    let mut carts: HashMap<i64, Vec<Item>> = HashMap::new();
    for chunk in customer_ids.chunks(500) {
        let lines = cart_line::Entity::find()
            .filter(cart_line::Column::CustomerId.is_in(in_list(chunk.to_vec())))
            .find_also_related(product::Entity)
            .all(txn)
            .await?;
        for (line, product) in lines {
            if let Some(p) = product {
                carts
                    .entry(line.customer_id)
                    .or_default()
                    .push(item(&p, line.quantity));
            }
        }
    }
    Ok(carts)
}

/// The catalog's products of `ids`, by external id.
pub(crate) async fn products_by_external_id(
    txn: &impl ConnectionTrait,
    ids: Vec<String>,
) -> AppResult<HashMap<String, product::Model>> {
    Ok(product::Entity::find()
        .filter(product::Column::ExternalId.is_in(ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|p| (p.external_id.clone(), p))
        .collect())
}

/// What conditions see of the customer's order `external_id`, if it exists.
pub(crate) async fn order_facts(
    txn: &impl ConnectionTrait,
    customer: &customer::Model,
    external_id: &str,
) -> AppResult<Option<OrderFacts>> {
    let Some(found) = order::Entity::find()
        .filter(order::Column::ExternalId.eq(external_id))
        .filter(order::Column::CustomerId.eq(customer.id))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    let nth = crate::domain::orders::nth_of(txn, &found).await?;
    Ok(Some(OrderFacts {
        total: found.total,
        currency: found.currency,
        payment_method: found.payment_method,
        nth,
    }))
}

/// What conditions see of an order a campaign run is about: its lines as items and the order
/// itself, as if an event about it were being handled.
pub(crate) async fn order_subject_facts(
    txn: &impl ConnectionTrait,
    order_id: i64,
) -> AppResult<Option<EventFacts>> {
    let Some(found) = order::Entity::find_by_id(order_id).one(txn).await? else {
        return Ok(None);
    };
    let items = order_line::Entity::find()
        .filter(order_line::Column::OrderId.eq(order_id))
        .find_also_related(product::Entity)
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|(line, product)| product.map(|p| item(&p, line.quantity)))
        .collect();
    let nth = crate::domain::orders::nth_of(txn, &found).await?;
    Ok(Some(EventFacts {
        items,
        order: Some(OrderFacts {
            total: found.total,
            currency: found.currency,
            payment_method: found.payment_method,
            nth,
        }),
        url: None,
        referrer: None,
    }))
}

/// A campaign run as its conditions look at it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunRef {
    pub id: i64,
    pub customer_id: i64,
    pub entered_at: i64,
    /// The predicted cart the run is about (a `replenishmentDue` run).
    pub cart_id: Option<i64>,
}

/// What the customer of `run` did with its messages, and with its predicted cart: the one the
/// run is about, else the newest one gathered for the customer since the run entered.
pub(crate) async fn run_facts(txn: &impl ConnectionTrait, run: RunRef) -> AppResult<RunFacts> {
    let run_id = run.id;
    let opened_steps: Vec<Option<String>> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::StepId)
        .filter(delivery::Column::RunId.eq(run_id))
        .filter(delivery::Column::OpenedAt.is_not_null())
        .into_tuple()
        .all(txn)
        .await?;
    let clicks: Vec<(Option<String>, Option<String>)> = delivery_event::Entity::find()
        .select_only()
        .column(delivery::Column::StepId)
        .column(delivery_event::Column::Detail)
        .inner_join(delivery::Entity)
        .filter(delivery::Column::RunId.eq(run_id))
        .filter(delivery_event::Column::Kind.eq("clicked"))
        .into_tuple()
        .all(txn)
        .await?;
    let cart = match run.cart_id {
        Some(id) => predicted_cart::Entity::find_by_id(id).one(txn).await?,
        None => {
            predicted_cart::Entity::find()
                .filter(predicted_cart::Column::CustomerId.eq(run.customer_id))
                .filter(predicted_cart::Column::CreatedAt.gte(run.entered_at))
                .order_by_desc(predicted_cart::Column::Id)
                .one(txn)
                .await?
        }
    };
    Ok(RunFacts {
        opened_steps: opened_steps.into_iter().flatten().collect(),
        clicks: clicks
            .into_iter()
            .filter_map(|(step, url)| step.zip(url))
            .collect(),
        cart_viewed: cart.as_ref().is_some_and(|c| c.viewed_at.is_some()),
        cart_decided: cart
            .as_ref()
            .is_some_and(|c| c.status != CartStatus::Open.as_str()),
    })
}
