//! The customer's decision on a predicted cart, once: a second decision (a second click on a
//! used link, a retried request) changes nothing and answers what was decided.
//!
//! - **Confirm** (with the quantities the customer chose; 0 drops a line) records a reorder —
//!   an order `nudge-reorder-<cart id>` with status `requested`, for the shop to create and
//!   report — emails the shop's staff (`NUDGE_STAFF_EMAIL`) to call the customer, and moves
//!   each confirmed item's due date as if ordered now.
//! - **Postpone** by N days: the items are due again N days from now (the customer's
//!   "wishlist": `Customer.replenishment` shows them with `postponedUntil`, and the webhook
//!   carries the lines for a shop that keeps its own).
//! - **Decline** ("I have enough"): the items are not due again until the customer orders them.
//!
//! Each decision is an event (`predicted_cart_confirmed`, `…_postponed`, `…_declined`) that
//! actions, campaigns, segments and statistics can use, and a webhook message
//! (`predicted_cart.*`), all in the decision's transaction.

use super::CartStatus;
use super::read::{Cart, find};
use crate::clock::to_millis;
use crate::config::StoreSettings;
use crate::db::{begin_write, in_list};
use crate::domain::deliveries::outbox::{NewDelivery, enqueue as queue_message};
use crate::domain::event_kind::EventKind;
use crate::domain::ingest::EventPayload;
use crate::domain::message::Purpose;
use crate::domain::orders::OrderStatus;
use crate::domain::orders::replenishment::ItemStatus;
use crate::domain::templates::Channel;
use crate::domain::values::format_amount;
use crate::domain::webhooks::event::EventType;
use crate::domain::webhooks::outbox::{Outgoing, customer_refs, enqueue};
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{
    customer, event, order, order_line, predicted_cart, predicted_cart_line, replenishment_item,
};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::{Value, json};

const DAY_MS: f64 = 86_400_000.0;
/// The most days a cart may be postponed by.
pub const MAX_POSTPONE_DAYS: i32 = 365;
/// The most units of one line.
pub const MAX_QUANTITY: i32 = 999;

/// What the customer decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// With the quantities chosen, by the shop's product id (lines not named keep theirs).
    Confirm(Vec<(String, i32)>),
    Postpone {
        days: i32,
    },
    Decline,
}

/// A cart after a decision, and whether this decision made it (`false`: it was decided
/// before, and nothing changed).
pub struct Decided {
    pub cart: Cart,
    pub changed: bool,
}

/// Applies `decision` to cart `cart_id` of customer `customer_id`; `NOT_FOUND` when the cart
/// is not theirs.
pub async fn decide(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    store: &StoreSettings,
    customer_id: i64,
    cart_id: i64,
    decision: Decision,
) -> AppResult<Decided> {
    check(&decision)?;
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let mut locked = predicted_cart::Entity::find_by_id(cart_id);
    if txn.get_database_backend() == DbBackend::Postgres {
        locked = locked.lock(LockType::Update);
    }
    let Some(row) = locked
        .one(&txn)
        .await?
        .filter(|c| c.customer_id == customer_id)
    else {
        return Err(AppError::NotFound(format!(
            "predicted cart {cart_id} not found"
        )));
    };
    if row.status != CartStatus::Open.as_str() {
        txn.commit().await?;
        let cart = find(db, cart_id)
            .await?
            .ok_or_else(|| AppError::internal("a decided cart vanished"))?;
        return Ok(Decided {
            cart,
            changed: false,
        });
    }
    let mut cart = find(&txn, cart_id)
        .await?
        .ok_or_else(|| AppError::internal("a locked cart vanished"))?;
    // The cart's items: those its lines name (read before quantities drop any line).
    let item_ids: Vec<i64> = cart.lines.iter().map(|(line, _)| line.item_id).collect();
    let items: Vec<replenishment_item::Model> = replenishment_item::Entity::find()
        .filter(replenishment_item::Column::Id.is_in(in_list(item_ids)))
        .all(&txn)
        .await?;
    let (status, kind, payload, event_type, detail) = match &decision {
        Decision::Confirm(chosen) => {
            apply_quantities(&txn, &mut cart, chosen).await?;
            let order_id = reorder(&txn, &cart, &store.currency, now_ms).await?;
            cart.cart.order_id = Some(order_id);
            for item in &items {
                let line = cart.lines.iter().find(|(l, _)| l.item_id == item.id);
                let (status, due) = match line {
                    // As if ordered now: that many units last that long from now.
                    Some((l, _)) => {
                        let lasts = item.days_per_unit * f64::from(l.quantity.max(1)) * DAY_MS;
                        (ItemStatus::Waiting, Some(now_ms + lasts.round() as i64))
                    }
                    // A line dropped from the order: due as before.
                    None => (ItemStatus::Waiting, None),
                };
                release(&txn, item, status, due, now_ms).await?;
            }
            staff_email(&txn, store, &cart, now_ms).await?;
            (
                CartStatus::Confirmed,
                EventKind::PredictedCartConfirmed,
                EventPayload::PredictedCartConfirmed { cart_id },
                EventType::CartConfirmed,
                json!({ "lines": lines_json(&cart) }),
            )
        }
        Decision::Postpone { days } => {
            let until = now_ms + i64::from(*days) * DAY_MS as i64;
            for item in &items {
                release(&txn, item, ItemStatus::Waiting, Some(until), now_ms).await?;
            }
            (
                CartStatus::Postponed,
                EventKind::PredictedCartPostponed,
                EventPayload::PredictedCartPostponed {
                    cart_id,
                    days: *days,
                },
                EventType::CartPostponed,
                json!({ "days": days }),
            )
        }
        Decision::Decline => {
            for item in &items {
                release(&txn, item, ItemStatus::Declined, None, now_ms).await?;
            }
            (
                CartStatus::Declined,
                EventKind::PredictedCartDeclined,
                EventPayload::PredictedCartDeclined { cart_id },
                EventType::CartDeclined,
                json!({}),
            )
        }
    };
    predicted_cart::Entity::update_many()
        .filter(predicted_cart::Column::Id.eq(cart_id))
        .col_expr(predicted_cart::Column::Status, Expr::value(status.as_str()))
        .col_expr(predicted_cart::Column::DecidedAt, Expr::value(now_ms))
        .col_expr(
            predicted_cart::Column::Decision,
            Expr::value(detail.to_string()),
        )
        .col_expr(
            predicted_cart::Column::OrderId,
            Expr::value(cart.cart.order_id),
        )
        .col_expr(predicted_cart::Column::UpdatedAt, Expr::value(now_ms))
        .exec(&txn)
        .await?;
    record_event(&txn, &cart, kind, &payload, now_ms).await?;
    tell(&txn, &cart, event_type, detail, now_ms).await?;
    let cart = find(&txn, cart_id)
        .await?
        .ok_or_else(|| AppError::internal("a decided cart vanished"))?;
    txn.commit().await?;
    Ok(Decided {
        cart,
        changed: true,
    })
}

/// Marks the cart seen by its customer (the first time only).
pub async fn mark_viewed(db: &impl ConnectionTrait, cart_id: i64, now_ms: i64) -> AppResult<()> {
    predicted_cart::Entity::update_many()
        .filter(predicted_cart::Column::Id.eq(cart_id))
        .filter(predicted_cart::Column::ViewedAt.is_null())
        .col_expr(predicted_cart::Column::ViewedAt, Expr::value(now_ms))
        .col_expr(predicted_cart::Column::UpdatedAt, Expr::value(now_ms))
        .exec(db)
        .await?;
    Ok(())
}

fn check(decision: &Decision) -> AppResult<()> {
    let mut violations = Vec::new();
    match decision {
        Decision::Postpone { days } if !(1..=MAX_POSTPONE_DAYS).contains(days) => {
            violations.push(FieldViolation::new(
                &["days"],
                ViolationCode::OutOfRange,
                format!("must be between 1 and {MAX_POSTPONE_DAYS}"),
            ));
        }
        Decision::Confirm(chosen) => {
            for (index, (_, quantity)) in chosen.iter().enumerate() {
                if !(0..=MAX_QUANTITY).contains(quantity) {
                    violations.push(FieldViolation::new(
                        &["lines", &index.to_string(), "quantity"],
                        ViolationCode::OutOfRange,
                        format!("must be between 0 and {MAX_QUANTITY}"),
                    ));
                }
            }
        }
        _ => {}
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(violations))
    }
}

/// Sets the chosen quantities (by the shop's product id); a line at 0 is dropped. A product
/// the cart does not hold, or nothing left to order, is refused.
async fn apply_quantities(
    txn: &impl ConnectionTrait,
    cart: &mut Cart,
    chosen: &[(String, i32)],
) -> AppResult<()> {
    let mut violations = Vec::new();
    for (index, (external_id, quantity)) in chosen.iter().enumerate() {
        let held = cart
            .lines
            .iter_mut()
            .find(|(_, p)| p.external_id == external_id.trim());
        match held {
            Some((line, _)) => line.quantity = *quantity,
            None => violations.push(FieldViolation::new(
                &["lines", &index.to_string(), "productExternalId"],
                ViolationCode::NotFound,
                "is not in this cart",
            )),
        }
    }
    if !violations.is_empty() {
        return Err(AppError::Invalid(violations));
    }
    if cart.lines.iter().all(|(l, _)| l.quantity == 0) {
        return Err(AppError::Invalid(vec![FieldViolation::new(
            &["lines"],
            ViolationCode::Blank,
            "confirm at least one product, or postpone or decline the cart",
        )]));
    }
    for (line, _) in &cart.lines {
        if line.quantity == 0 {
            predicted_cart_line::Entity::delete_by_id(line.id)
                .exec(txn)
                .await?;
        } else {
            predicted_cart_line::Entity::update_many()
                .filter(predicted_cart_line::Column::Id.eq(line.id))
                .col_expr(
                    predicted_cart_line::Column::Quantity,
                    Expr::value(line.quantity),
                )
                .exec(txn)
                .await?;
        }
    }
    cart.lines.retain(|(l, _)| l.quantity > 0);
    Ok(())
}

/// Records the reorder the shop must still create; returns its id.
async fn reorder(
    txn: &impl ConnectionTrait,
    cart: &Cart,
    store_currency: &str,
    now_ms: i64,
) -> AppResult<i64> {
    let (currency, total) = cart
        .totals()
        .into_iter()
        .next()
        .unwrap_or_else(|| (store_currency.to_owned(), 0));
    let saved = order::ActiveModel {
        id: ActiveValue::NotSet,
        external_id: ActiveValue::Set(format!("nudge-reorder-{}", cart.cart.id)),
        customer_id: ActiveValue::Set(cart.cart.customer_id),
        status: ActiveValue::Set(OrderStatus::Requested.as_str().to_owned()),
        payment_method: ActiveValue::Set(None),
        total: ActiveValue::Set(total),
        currency: ActiveValue::Set(currency),
        placed_at: ActiveValue::Set(now_ms),
        paid_at: ActiveValue::Set(None),
        planned_delivery_at: ActiveValue::Set(None),
        delivered_at: ActiveValue::Set(None),
        cancelled_at: ActiveValue::Set(None),
        created_at: ActiveValue::Set(now_ms),
        updated_at: ActiveValue::Set(now_ms),
    }
    .insert(txn)
    .await?;
    let lines: Vec<order_line::ActiveModel> = cart
        .lines
        .iter()
        .enumerate()
        .map(|(position, (line, _))| order_line::ActiveModel {
            id: ActiveValue::NotSet,
            order_id: ActiveValue::Set(saved.id),
            position: ActiveValue::Set(position as i32),
            product_id: ActiveValue::Set(line.product_id),
            quantity: ActiveValue::Set(line.quantity),
            unit_price: ActiveValue::Set(line.unit_price),
        })
        .collect();
    order_line::Entity::insert_many(lines)
        .exec_without_returning(txn)
        .await?;
    Ok(saved.id)
}

/// Takes an item out of the cart with its new status, due at `due` from now on when given.
async fn release(
    txn: &impl ConnectionTrait,
    item: &replenishment_item::Model,
    status: ItemStatus,
    due: Option<i64>,
    now_ms: i64,
) -> AppResult<()> {
    let mut active: replenishment_item::ActiveModel = item.clone().into();
    active.status = ActiveValue::Set(status.as_str().to_owned());
    active.cart_id = ActiveValue::Set(None);
    if let Some(due) = due {
        active.due_at = ActiveValue::Set(due);
        active.postponed_until = ActiveValue::Set(Some(due));
    }
    active.updated_at = ActiveValue::Set(now_ms);
    active.update(txn).await?;
    Ok(())
}

fn lines_json(cart: &Cart) -> Vec<Value> {
    cart.lines
        .iter()
        .map(|(line, product)| {
            json!({
                "product": { "id": product.id.to_string(), "externalId": product.external_id, "name": product.name },
                "quantity": line.quantity,
                "unitPrice": format_amount(line.unit_price, &line.currency),
                "total": format_amount(line.unit_price.saturating_mul(i64::from(line.quantity)), &line.currency),
                "currency": line.currency,
            })
        })
        .collect()
}

async fn record_event(
    txn: &impl ConnectionTrait,
    cart: &Cart,
    kind: EventKind,
    payload: &EventPayload,
    now_ms: i64,
) -> AppResult<()> {
    let payload = serde_json::to_value(payload)
        .map_err(|e| AppError::internal(format!("a cart event did not serialize: {e}")))?;
    event::ActiveModel {
        id: ActiveValue::NotSet,
        event_id: ActiveValue::Set(format!("cart:{}:{}", cart.cart.id, kind.as_str())),
        customer_id: ActiveValue::Set(cart.cart.customer_id),
        kind: ActiveValue::Set(kind.as_str().to_owned()),
        payload: ActiveValue::Set(payload),
        fingerprint: ActiveValue::Set("nudge:cart".to_owned()),
        occurred_at: ActiveValue::Set(now_ms),
        received_at: ActiveValue::Set(now_ms),
        processed_at: ActiveValue::Set(None),
        outcome: ActiveValue::Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Tells endpoints: `data` is `{ cart: { id, lines, totals }, order, customer, … }`.
async fn tell(
    txn: &impl ConnectionTrait,
    cart: &Cart,
    event_type: EventType,
    detail: Value,
    now_ms: i64,
) -> AppResult<()> {
    let customers = customer_refs(txn, [cart.cart.customer_id]).await?;
    let totals: Vec<Value> = cart
        .totals()
        .into_iter()
        .map(|(currency, amount)| json!({ "amount": format_amount(amount, &currency), "currency": currency }))
        .collect();
    let mut data = json!({
        "cart": { "id": cart.cart.id.to_string(), "lines": lines_json(cart), "totals": totals },
        "customer": customers.get(&cart.cart.customer_id),
        "order": cart.cart.order_id.map(|id| json!({ "id": id.to_string(), "externalId": format!("nudge-reorder-{}", cart.cart.id) })),
    });
    if let (Some(data), Value::Object(detail)) = (data.as_object_mut(), detail) {
        data.extend(detail);
    }
    let message = Outgoing {
        event_type,
        customer_id: Some(cart.cart.customer_id),
        object_id: None,
        occurred_at: now_ms,
        data,
    };
    enqueue(txn, vec![message], now_ms).await
}

/// Emails the staff to call the customer about the reorder (skipped, and logged, without
/// `NUDGE_STAFF_EMAIL`). Texts the customer or the catalogue wrote are shown as they are,
/// never run as template code.
async fn staff_email(
    txn: &impl ConnectionTrait,
    store: &StoreSettings,
    cart: &Cart,
    now_ms: i64,
) -> AppResult<()> {
    let Some(staff) = &store.staff_email else {
        tracing::warn!(
            cart.id = cart.cart.id,
            "a predicted cart was confirmed; no staff email to tell (NUDGE_STAFF_EMAIL is not set)"
        );
        return Ok(());
    };
    let who = customer::Entity::find_by_id(cart.cart.customer_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("a cart's customer vanished"))?;
    let name = [who.first_name.as_deref(), who.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut text = format!(
        "{} confirmed their predicted cart {}: please call them and create order nudge-reorder-{}.\n\n",
        verbatim(&format!("{name} ({})", who.external_id)),
        cart.cart.id,
        cart.cart.id
    );
    if let Some(phone) = &who.phone {
        text.push_str(&format!("Phone: {}\n", verbatim(phone)));
    }
    if let Some(email) = &who.email {
        text.push_str(&format!("Email: {}\n", verbatim(email)));
    }
    text.push('\n');
    for (line, product) in &cart.lines {
        text.push_str(&format!(
            "- {} × {} ({}) at {} {}\n",
            line.quantity,
            verbatim(&product.name),
            verbatim(&product.external_id),
            format_amount(line.unit_price, &line.currency),
            line.currency
        ));
    }
    for (currency, total) in cart.totals() {
        text.push_str(&format!(
            "\nTotal: {} {currency}\n",
            format_amount(total, &currency)
        ));
    }
    let new = NewDelivery {
        dedupe_key: format!("cart:{}:staff", cart.cart.id),
        channel: Channel::Email,
        purpose: Purpose::Staff,
        customer_id: None,
        recipient: Some(staff.clone()),
        subject: Some(format!(
            "Reorder to confirm by phone: predicted cart {}",
            cart.cart.id
        )),
        body_html: None,
        body_text: Some(text),
        action_id: None,
        firing_id: None,
        campaign_id: None,
        run_id: None,
        step_id: None,
        template_id: None,
    };
    queue_message(txn, new, now_ms).await
}

/// `text` shown as it is by the template engine: inside a raw block, with anything that could
/// end it taken out.
fn verbatim(text: &str) -> String {
    let clean = text.replace("endraw", "end raw");
    format!("{{% raw %}}{clean}{{% endraw %}}")
}
