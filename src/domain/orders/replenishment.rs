//! Replenishment due dates — when each customer is likely to run out of each product they
//! order — kept in `replenishment_items` (one row per customer and product) and brought up
//! to date from the customer's order history whenever their orders change.
//!
//! An order line of a product with `replenishmentDays` counts when its order does: once
//! delivered (`NUDGE_REPLENISHMENT_BASIS=delivered`, the default) or once placed (`placed`),
//! never when cancelled or refunded. Lines of one product in one order add up.
//!
//! - **One order** of the product: it lasts `replenishmentDays × quantity` days from when it
//!   was placed.
//! - **Two orders or more**: the customer's own pace replaces the product's default. Each gap
//!   between two consecutive orders, in days, divided by the units of the earlier order, is
//!   the days one unit lasted; the last three gaps are averaged with weights 3, 2, 1 (newest
//!   first), and the last order lasts that many days per unit. Orders placed the same day
//!   give no gap.
//!
//! A new order of the product moves its due date, and takes the product out of a
//! postponement, a "no thanks" and an open predicted cart; a cancelled order takes its line
//! out (the order before it counts again); a product no order counts for any more has no due
//! date.

use super::OrderStatus;
use super::carts::{CartStatus, open_cart};
use crate::config::ReplenishmentBasis;
use crate::error::AppResult;
use entity::{order, order_line, predicted_cart, predicted_cart_line, product, replenishment_item};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use std::collections::BTreeMap;

const DAY_MS: f64 = 86_400_000.0;

/// How a campaign run about a predicted cart names its subject: `predicted_cart:{id}`.
pub const CART_SUBJECT: &str = "predicted_cart:";

/// The predicted cart a run is about, from its subject key and reference.
pub fn cart_of_subject(subject_key: &str, subject_ref: i64) -> Option<i64> {
    subject_key.starts_with(CART_SUBJECT).then_some(subject_ref)
}
/// Weights of the last three gaps, newest first.
const WEIGHTS: [f64; 3] = [3.0, 2.0, 1.0];

/// Where an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemStatus {
    /// Due at its date.
    Waiting,
    /// In the customer's open predicted cart: a line of it names the item (never stored by
    /// this version; rows an earlier one marked so are read as such).
    InCart,
    /// The customer has enough: not due again until they order it.
    Declined,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 3] = [
        ItemStatus::Waiting,
        ItemStatus::InCart,
        ItemStatus::Declined,
    ];

    /// The status a stored row names; `None` for text Nudge never writes.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Waiting => "waiting",
            ItemStatus::InCart => "in_cart",
            ItemStatus::Declined => "declined",
        }
    }
}

/// One counted order of a product: when it was placed and how many units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bought {
    pub order_id: i64,
    pub placed_at: i64,
    pub quantity: i32,
}

/// When a product runs out, from its orders (oldest first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Due {
    pub last: Bought,
    pub days_per_unit: f64,
    pub learned: bool,
    pub due_at: i64,
}

/// The due date of a product ordered as `history` says (oldest first, not empty), lasting
/// `default_days` a unit until the customer's own pace is known.
pub fn due(history: &[Bought], default_days: i32) -> Option<Due> {
    let last = *history.last()?;
    let paces: Vec<f64> = history
        .windows(2)
        .filter_map(|pair| {
            let gap = (pair[1].placed_at - pair[0].placed_at) as f64 / DAY_MS;
            (gap >= 1.0 && pair[0].quantity > 0).then(|| gap / f64::from(pair[0].quantity))
        })
        .collect();
    let newest: Vec<(f64, f64)> = paces.iter().rev().copied().zip(WEIGHTS).collect();
    let (days_per_unit, learned) = if newest.is_empty() {
        (f64::from(default_days), false)
    } else {
        let weight: f64 = newest.iter().map(|(_, w)| w).sum();
        let sum: f64 = newest.iter().map(|(pace, w)| pace * w).sum();
        (sum / weight, true)
    };
    let lasts_ms = days_per_unit * f64::from(last.quantity.max(1)) * DAY_MS;
    Some(Due {
        last,
        days_per_unit,
        learned,
        due_at: last.placed_at.saturating_add(lasts_ms.round() as i64),
    })
}

/// Brings the due dates of `customer_id` up to date with their orders.
pub async fn refresh(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    basis: ReplenishmentBasis,
    now_ms: i64,
) -> AppResult<()> {
    let mut counted = order_line::Entity::find()
        .select_only()
        .column(order_line::Column::ProductId)
        .column(order::Column::Id)
        .column(order::Column::PlacedAt)
        .column(order_line::Column::Quantity)
        .column(product::Column::ReplenishmentDays)
        .join(JoinType::InnerJoin, order_line::Relation::Order.def())
        .join(JoinType::InnerJoin, order_line::Relation::Product.def())
        .filter(order::Column::CustomerId.eq(customer_id))
        .filter(product::Column::ReplenishmentDays.is_not_null())
        .filter(order::Column::Status.is_not_in(OrderStatus::void()));
    if basis == ReplenishmentBasis::Delivered {
        counted = counted.filter(
            sea_orm::Condition::any()
                .add(order::Column::DeliveredAt.is_not_null())
                .add(order::Column::Status.eq(OrderStatus::Delivered.as_str())),
        );
    }
    let rows: Vec<(i64, i64, i64, i32, Option<i32>)> = counted
        .order_by_asc(order::Column::PlacedAt)
        .order_by_asc(order::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    let mut by_product: BTreeMap<i64, (i32, Vec<Bought>)> = BTreeMap::new();
    for (product_id, order_id, placed_at, quantity, days) in rows {
        let (_, history) = by_product
            .entry(product_id)
            .or_insert((days.unwrap_or(1), Vec::new()));
        match history.last_mut() {
            // Lines of one product in one order add up.
            Some(last) if last.order_id == order_id => last.quantity += quantity,
            _ => history.push(Bought {
                order_id,
                placed_at,
                quantity,
            }),
        }
    }
    let existing: BTreeMap<i64, replenishment_item::Model> = replenishment_item::Entity::find()
        .filter(replenishment_item::Column::CustomerId.eq(customer_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|item| (item.product_id, item))
        .collect();
    for (product_id, item) in &existing {
        if !by_product.contains_key(product_id) {
            leave_cart(txn, item, now_ms).await?;
            replenishment_item::Entity::delete_by_id(item.id)
                .exec(txn)
                .await?;
        }
    }
    for (product_id, (default_days, history)) in by_product {
        let Some(computed) = due(&history, default_days) else {
            continue;
        };
        match existing.get(&product_id) {
            Some(item) if item.last_order_id == computed.last.order_id => {
                // The same last order: a postponement still holds; the pace may have moved
                // (an earlier order cancelled).
                let due_at = computed
                    .due_at
                    .max(item.postponed_until.unwrap_or(i64::MIN));
                if due_at != item.due_at
                    || item.quantity != computed.last.quantity
                    || item.learned != computed.learned
                    || (item.days_per_unit - computed.days_per_unit).abs() > 1e-9
                {
                    let mut active: replenishment_item::ActiveModel = item.clone().into();
                    active.quantity = ActiveValue::Set(computed.last.quantity);
                    active.days_per_unit = ActiveValue::Set(computed.days_per_unit);
                    active.learned = ActiveValue::Set(computed.learned);
                    active.due_at = ActiveValue::Set(due_at);
                    active.updated_at = ActiveValue::Set(now_ms);
                    active.update(txn).await?;
                }
            }
            Some(item) => {
                // Ordered again (or the last order was cancelled): a fresh due date.
                leave_cart(txn, item, now_ms).await?;
                let mut active: replenishment_item::ActiveModel = item.clone().into();
                active.last_order_id = ActiveValue::Set(computed.last.order_id);
                active.last_ordered_at = ActiveValue::Set(computed.last.placed_at);
                active.quantity = ActiveValue::Set(computed.last.quantity);
                active.days_per_unit = ActiveValue::Set(computed.days_per_unit);
                active.learned = ActiveValue::Set(computed.learned);
                active.due_at = ActiveValue::Set(computed.due_at);
                active.postponed_until = ActiveValue::Set(None);
                active.status = ActiveValue::Set(ItemStatus::Waiting.as_str().to_owned());
                active.cart_id = ActiveValue::Set(None);
                active.updated_at = ActiveValue::Set(now_ms);
                active.update(txn).await?;
            }
            None => {
                replenishment_item::ActiveModel {
                    id: ActiveValue::NotSet,
                    customer_id: ActiveValue::Set(customer_id),
                    product_id: ActiveValue::Set(product_id),
                    last_order_id: ActiveValue::Set(computed.last.order_id),
                    last_ordered_at: ActiveValue::Set(computed.last.placed_at),
                    quantity: ActiveValue::Set(computed.last.quantity),
                    days_per_unit: ActiveValue::Set(computed.days_per_unit),
                    learned: ActiveValue::Set(computed.learned),
                    due_at: ActiveValue::Set(computed.due_at),
                    postponed_until: ActiveValue::Set(None),
                    status: ActiveValue::Set(ItemStatus::Waiting.as_str().to_owned()),
                    cart_id: ActiveValue::Set(None),
                    updated_at: ActiveValue::Set(now_ms),
                }
                .insert(txn)
                .await?;
            }
        }
    }
    Ok(())
}

/// A due item as shown: the item, its product, and where it stands.
#[derive(Clone, Debug)]
pub struct DueItem {
    pub item: replenishment_item::Model,
    pub product: product::Model,
    pub status: ItemStatus,
}

/// The due items of each of `customer_ids` with their products, soonest first. An item a line
/// of its customer's open cart names is [`ItemStatus::InCart`].
pub async fn items_of(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> AppResult<std::collections::HashMap<i64, Vec<DueItem>>> {
    let ids = || crate::db::in_list(customer_ids.iter().copied());
    let open_carts: Vec<i64> = predicted_cart::Entity::find()
        .select_only()
        .column(predicted_cart::Column::Id)
        .filter(predicted_cart::Column::CustomerId.is_in(ids()))
        .filter(predicted_cart::Column::Status.eq(CartStatus::Open.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    let in_carts: std::collections::HashSet<i64> = predicted_cart_line::Entity::find()
        .select_only()
        .column(predicted_cart_line::Column::ItemId)
        .filter(predicted_cart_line::Column::CartId.is_in(crate::db::in_list(open_carts)))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let rows = replenishment_item::Entity::find()
        .filter(replenishment_item::Column::CustomerId.is_in(ids()))
        .find_also_related(product::Entity)
        .order_by_asc(replenishment_item::Column::DueAt)
        .order_by_asc(replenishment_item::Column::ProductId)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(item, product)| {
            let status = if in_carts.contains(&item.id) {
                ItemStatus::InCart
            } else {
                ItemStatus::from_stored(&item.status).unwrap_or(ItemStatus::Waiting)
            };
            product.map(|product| DueItem {
                item,
                product,
                status,
            })
        });
    Ok(crate::domain::records::group_by(rows, |due| {
        due.item.customer_id
    }))
}

/// Takes `item` out of its customer's open predicted cart when a line there names it; a cart
/// left empty is closed (its customer ordered everything in it meanwhile).
async fn leave_cart(
    txn: &impl ConnectionTrait,
    item: &replenishment_item::Model,
    now_ms: i64,
) -> AppResult<()> {
    let Some(cart) = open_cart(txn, item.customer_id).await? else {
        return Ok(());
    };
    let removed = predicted_cart_line::Entity::delete_many()
        .filter(predicted_cart_line::Column::CartId.eq(cart.id))
        .filter(predicted_cart_line::Column::ItemId.eq(item.id))
        .exec(txn)
        .await?
        .rows_affected;
    if removed == 0 {
        return Ok(());
    }
    let left = predicted_cart_line::Entity::find()
        .filter(predicted_cart_line::Column::CartId.eq(cart.id))
        .one(txn)
        .await?;
    if left.is_none() {
        predicted_cart::Entity::update_many()
            .filter(predicted_cart::Column::Id.eq(cart.id))
            .filter(predicted_cart::Column::Status.eq(CartStatus::Open.as_str()))
            .col_expr(
                predicted_cart::Column::Status,
                Expr::value(CartStatus::Closed.as_str()),
            )
            .col_expr(
                predicted_cart::Column::Decision,
                Expr::value("ordered meanwhile"),
            )
            .col_expr(predicted_cart::Column::UpdatedAt, Expr::value(now_ms))
            .exec(txn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn bought(order_id: i64, day: i64, quantity: i32) -> Bought {
        Bought {
            order_id,
            placed_at: day * DAY,
            quantity,
        }
    }

    #[test]
    fn one_order_lasts_the_products_days_times_its_quantity() {
        let found = due(&[bought(1, 10, 3)], 30).expect("due");
        assert_eq!(found.due_at, (10 + 90) * DAY);
        assert!(!found.learned);
    }

    #[test]
    fn the_customers_own_pace_replaces_the_default_weighted_towards_the_newest_gaps() {
        // Gaps per unit: 40/2 = 20, 30/1 = 30, 50/2 = 25, 24/1 = 24 days; the last three
        // weighted 3, 2, 1 newest first: (24·3 + 25·2 + 30·1) / 6 = 25.33 days a unit.
        let history = [
            bought(1, 0, 2),
            bought(2, 40, 1),
            bought(3, 70, 2),
            bought(4, 120, 1),
            bought(5, 144, 3),
        ];
        let found = due(&history, 10).expect("due");
        assert!(found.learned);
        assert!((found.days_per_unit - 152.0 / 6.0).abs() < 1e-9);
        assert_eq!(
            found.due_at,
            144 * DAY + (3.0 * 152.0 / 6.0 * DAY as f64).round() as i64
        );
    }

    #[test]
    fn orders_on_the_same_day_give_no_gap() {
        let found = due(&[bought(1, 5, 1), bought(2, 5, 1)], 12).expect("due");
        assert!(!found.learned);
        assert_eq!(found.due_at, (5 + 12) * DAY);
    }
}
