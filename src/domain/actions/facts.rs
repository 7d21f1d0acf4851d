//! Loading what conditions look at for one event: the event's items, order and page (the
//! customer's own facts come from [`crate::domain::conditions::load`]).

use crate::domain::conditions::EventFacts;
use crate::domain::conditions::load::{item, order_facts};
use crate::domain::ingest::EventPayload;
use crate::error::AppResult;
use entity::{customer, product};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

/// The items, order and page the event is about (`products` holds those it names).
pub(super) async fn event_facts(
    txn: &impl ConnectionTrait,
    customer: &customer::Model,
    payload: &EventPayload,
    products: &HashMap<String, product::Model>,
) -> AppResult<EventFacts> {
    let mut facts = EventFacts::default();
    let quantity_of = |id: &str, quantity: i32| products.get(id).map(|p| item(p, quantity));
    match payload {
        EventPayload::ProductViewed {
            product_external_id,
        } => {
            facts.items.extend(quantity_of(product_external_id, 1));
        }
        EventPayload::AddedToCart { lines } | EventPayload::CartUpdated { lines } => {
            facts.items = lines
                .iter()
                .filter_map(|l| quantity_of(&l.product_external_id, l.quantity))
                .collect();
        }
        EventPayload::OrderPlaced(placed) => {
            facts.items = placed
                .lines
                .iter()
                .filter_map(|l| quantity_of(&l.product_external_id, l.quantity))
                .collect();
            facts.order = order_facts(txn, customer, &placed.order_external_id).await?;
        }
        EventPayload::OrderStatusChanged {
            order_external_id, ..
        } => {
            facts.order = order_facts(txn, customer, order_external_id).await?;
        }
        EventPayload::PageVisited { url, referrer } => {
            facts.url = Some(url.clone());
            facts.referrer = referrer.clone();
        }
        _ => {}
    }
    Ok(facts)
}
