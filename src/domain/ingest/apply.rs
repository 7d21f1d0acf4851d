//! How each kind of event changes the customer's facts, cart and orders.

use super::{CartLine, EventPayload, Profile};
use crate::config::StoreSettings;
use crate::domain::customers::{self, ConsentInput, CustomerInput, CustomerType};
use crate::domain::orders::{self, OrderInput, OrderLineInput, OrderStatus};
use crate::domain::validate::{Change, Checker};
use crate::domain::values::{MAX_TEXT, check_attributes, required_text};
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use entity::{cart_line, customer, order};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use std::collections::{BTreeMap, HashMap};

/// The most lines a cart event may carry.
const MAX_CART_LINES: usize = 500;
/// Where consent given through a storefront event is recorded as coming from.
const STOREFRONT_SOURCE: &str = "storefront";
const NEWSLETTER_SOURCE: &str = "newsletter";

/// Checks what can be checked without the database. Field names are relative to the kind's
/// payload object.
pub(super) fn validate_payload(payload: &EventPayload, c: &mut Checker) {
    let lines_ok = |lines: &[CartLine], c: &mut Checker| {
        if lines.len() > MAX_CART_LINES {
            c.refuse(
                "lines",
                ViolationCode::OutOfRange,
                format!("at most {MAX_CART_LINES} lines"),
            );
        }
        let mut nested = Checker::new();
        for (i, line) in lines.iter().enumerate() {
            if line.quantity < 1 {
                nested.absorb(
                    &i.to_string(),
                    vec![FieldViolation::new(
                        &["quantity"],
                        ViolationCode::OutOfRange,
                        "must be at least 1",
                    )],
                );
            }
        }
        c.absorb("lines", nested.into_violations());
    };
    match payload {
        EventPayload::AddedToCart { lines } => {
            if lines.is_empty() {
                c.refuse("lines", ViolationCode::Blank, "add at least one line");
            }
            lines_ok(lines, c);
        }
        EventPayload::CartUpdated { lines } => lines_ok(lines, c),
        EventPayload::PageVisited { url, referrer } => {
            c.check("url", required_text(url, 2048));
            if let Some(referrer) = referrer {
                c.check("referrer", required_text(referrer, 2048));
            }
        }
        EventPayload::OrderPlaced(order) => {
            c.check(
                "orderExternalId",
                required_text(&order.order_external_id, MAX_TEXT),
            );
        }
        EventPayload::OrderStatusChanged {
            order_external_id, ..
        } => {
            c.check(
                "orderExternalId",
                required_text(order_external_id, MAX_TEXT),
            );
        }
        EventPayload::Registered(profile) | EventPayload::ProfileUpdated(profile) => {
            if let Some(attributes) = &profile.attributes {
                c.check("attributes", check_attributes(attributes));
            }
        }
        _ => {}
    }
}

/// Everything one event's application may need besides the customer.
pub(super) struct Context<'a> {
    pub now_ms: i64,
    pub occurred_at: i64,
    pub store: &'a StoreSettings,
    /// Product external id → product id, for every product the batch names.
    pub products: &'a HashMap<String, i64>,
}

/// Applies `payload` to `customer` (in memory) and to the cart and order tables. Changes made
/// in SQL to the customer row (order facts) are reloaded into `customer`, after the
/// in-memory state was saved first.
pub(super) async fn apply(
    txn: &impl ConnectionTrait,
    ctx: &Context<'_>,
    customer: &mut customer::Model,
    payload: &EventPayload,
) -> AppResult<()> {
    let before = customer.clone();
    apply_kind(txn, ctx, customer, payload).await?;
    if *customer != before {
        customer.updated_at = ctx.now_ms;
    }
    Ok(())
}

async fn apply_kind(
    txn: &impl ConnectionTrait,
    ctx: &Context<'_>,
    customer: &mut customer::Model,
    payload: &EventPayload,
) -> AppResult<()> {
    match payload {
        EventPayload::Registered(profile) => {
            apply_profile(txn, ctx, customer, profile).await?;
            customer.registered_at = customer.registered_at.or(Some(ctx.occurred_at));
        }
        EventPayload::ProfileUpdated(profile) => apply_profile(txn, ctx, customer, profile).await?,
        EventPayload::LoggedIn {} => {
            customer.last_login_at = customer.last_login_at.max(Some(ctx.occurred_at));
        }
        EventPayload::ProductViewed { .. } | EventPayload::PageVisited { .. } => {}
        EventPayload::AddedToCart { lines } => {
            for (product_id, quantity) in merged(lines, ctx.products) {
                cart_line::Entity::insert(cart_row(customer.id, product_id, quantity, ctx))
                    .on_conflict(
                        OnConflict::columns([
                            cart_line::Column::CustomerId,
                            cart_line::Column::ProductId,
                        ])
                        .value(
                            cart_line::Column::Quantity,
                            Expr::cust("cart_lines.quantity + excluded.quantity"),
                        )
                        .to_owned(),
                    )
                    .exec_without_returning(txn)
                    .await?;
            }
            customer.cart_updated_at = Some(ctx.occurred_at);
        }
        EventPayload::CartUpdated { lines } => {
            clear_cart(txn, customer.id).await?;
            let rows: Vec<_> = merged(lines, ctx.products)
                .into_iter()
                .map(|(product_id, quantity)| cart_row(customer.id, product_id, quantity, ctx))
                .collect();
            customer.cart_updated_at = (!rows.is_empty()).then_some(ctx.occurred_at);
            if !rows.is_empty() {
                cart_line::Entity::insert_many(rows)
                    .exec_without_returning(txn)
                    .await?;
            }
        }
        EventPayload::OrderPlaced(placed) => {
            save(txn, customer).await?;
            let input = OrderInput {
                external_id: placed.order_external_id.clone(),
                customer_external_id: customer.external_id.clone(),
                status: placed.status,
                payment_method: placed.payment_method.clone(),
                total: placed.total.clone(),
                currency: placed.currency.clone(),
                placed_at: crate::clock::from_millis(ctx.occurred_at),
                paid_at: (placed.status == OrderStatus::Paid)
                    .then(|| crate::clock::from_millis(ctx.occurred_at)),
                planned_delivery_at: placed.planned_delivery_at,
                delivered_at: None,
                cancelled_at: None,
                lines: placed
                    .lines
                    .iter()
                    .map(|l| OrderLineInput {
                        product_external_id: l.product_external_id.clone(),
                        quantity: l.quantity,
                        unit_price: l.unit_price.clone(),
                    })
                    .collect(),
            };
            let now = crate::clock::from_millis(ctx.now_ms);
            orders::upsert_in(txn, now, ctx.store, vec![input])
                .await
                .map_err(unnest_first)?;
            clear_cart(txn, customer.id).await?;
            reload(txn, customer).await?;
            customer.cart_updated_at = None;
        }
        EventPayload::OrderStatusChanged {
            order_external_id,
            status,
            planned_delivery_at,
        } => {
            save(txn, customer).await?;
            let found = orders::find_by_external_id(txn, order_external_id)
                .await?
                .filter(|o| o.customer_id == customer.id)
                .ok_or_else(|| {
                    AppError::invalid(
                        &["orderExternalId"],
                        ViolationCode::NotFound,
                        "this customer has no order with this external id",
                    )
                })?;
            let mut active: order::ActiveModel = found.into();
            active.status = ActiveValue::Set(status.as_str().to_owned());
            let at = Some(ctx.occurred_at);
            match status {
                OrderStatus::Paid => active.paid_at = ActiveValue::Set(at),
                OrderStatus::Delivered => active.delivered_at = ActiveValue::Set(at),
                OrderStatus::Cancelled => active.cancelled_at = ActiveValue::Set(at),
                OrderStatus::Placed
                | OrderStatus::Shipped
                | OrderStatus::Refunded
                | OrderStatus::Requested => {}
            }
            if let Some(planned) = planned_delivery_at {
                active.planned_delivery_at = ActiveValue::Set(Some(planned.timestamp_millis()));
            }
            active.updated_at = ActiveValue::Set(ctx.now_ms);
            let updated = active.update(txn).await?;
            orders::refresh_order_facts(txn, customer.id, ctx.store, ctx.now_ms).await?;
            let store = ctx.store;
            orders::credit::reconcile(
                txn,
                &[updated],
                &store.attribution,
                &store.currency,
                ctx.now_ms,
            )
            .await?;
            reload(txn, customer).await?;
        }
        EventPayload::NewsletterSubscribed {} | EventPayload::NewsletterUnsubscribed {} => {
            let granted = matches!(payload, EventPayload::NewsletterSubscribed {});
            if customer.email_consent != granted || customer.email_consent_at.is_none() {
                customer.email_consent = granted;
                customer.email_consent_at = Some(ctx.occurred_at);
                customer.email_consent_source = Some(NEWSLETTER_SOURCE.to_owned());
            }
        }
        // Nudge records these after the change; they change no fact.
        EventPayload::SegmentJoined { .. }
        | EventPayload::SegmentLeft { .. }
        | EventPayload::PredictedCartReady { .. }
        | EventPayload::PredictedCartConfirmed { .. }
        | EventPayload::PredictedCartPostponed { .. }
        | EventPayload::PredictedCartDeclined { .. } => {}
    }
    Ok(())
}

async fn apply_profile(
    txn: &impl ConnectionTrait,
    ctx: &Context<'_>,
    customer: &mut customer::Model,
    profile: &Profile,
) -> AppResult<()> {
    let set = |v: &Option<String>| v.clone().map_or(Change::Keep, Change::Set);
    let consent = |granted: Option<bool>| {
        granted.map(|granted| ConsentInput {
            granted,
            source: Some(STOREFRONT_SOURCE.to_owned()),
        })
    };
    let input = CustomerInput {
        external_id: None,
        email: set(&profile.email),
        phone: set(&profile.phone),
        first_name: set(&profile.first_name),
        last_name: set(&profile.last_name),
        birthday: profile.birthday.map_or(Change::Keep, Change::Set),
        time_zone: set(&profile.time_zone),
        locale: set(&profile.locale),
        customer_type: profile.company.map(|company| {
            if company {
                CustomerType::Company
            } else {
                CustomerType::Person
            }
        }),
        wholesale: profile.wholesale,
        affiliate_id: set(&profile.affiliate_id),
        email_consent: consent(profile.email_consent),
        sms_consent: consent(profile.sms_consent),
        registered_at: Change::Keep,
        attributes: profile.attributes.clone(),
    };
    let updated_at = customer.updated_at;
    *customer = customers::apply(txn, customer.clone(), input, ctx.now_ms, Checker::new()).await?;
    // The caller stamps `updated_at` only when something really changed.
    customer.updated_at = updated_at;
    Ok(())
}

/// Sums the quantities of repeated products; unknown products were refused before.
fn merged(lines: &[CartLine], products: &HashMap<String, i64>) -> BTreeMap<i64, i32> {
    let mut merged = BTreeMap::new();
    for line in lines {
        if let Some(id) = products.get(line.product_external_id.trim()) {
            *merged.entry(*id).or_insert(0) += line.quantity;
        }
    }
    merged
}

fn cart_row(
    customer_id: i64,
    product_id: i64,
    quantity: i32,
    ctx: &Context<'_>,
) -> cart_line::ActiveModel {
    cart_line::ActiveModel {
        customer_id: ActiveValue::Set(customer_id),
        product_id: ActiveValue::Set(product_id),
        quantity: ActiveValue::Set(quantity),
        unit_price: ActiveValue::Set(None),
        currency: ActiveValue::Set(None),
        added_at: ActiveValue::Set(ctx.occurred_at),
    }
}

async fn clear_cart(txn: &impl ConnectionTrait, customer_id: i64) -> AppResult<()> {
    cart_line::Entity::delete_many()
        .filter(cart_line::Column::CustomerId.eq(customer_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Writes the in-memory customer.
pub(super) async fn save(txn: &impl ConnectionTrait, customer: &customer::Model) -> AppResult<()> {
    let active: customer::ActiveModel = customer.clone().into();
    active.reset_all().update(txn).await?;
    Ok(())
}

async fn reload(txn: &impl ConnectionTrait, customer: &mut customer::Model) -> AppResult<()> {
    if let Some(fresh) = customer::Entity::find_by_id(customer.id).one(txn).await? {
        *customer = fresh;
    }
    Ok(())
}

/// Order violations come indexed by the one order's position ("0"); drop that index.
fn unnest_first(err: AppError) -> AppError {
    match err {
        AppError::Invalid(violations) => AppError::Invalid(
            violations
                .into_iter()
                .map(|mut v| {
                    if v.field.first().is_some_and(|f| f == "0") {
                        v.field.remove(0);
                    }
                    v
                })
                .collect(),
        ),
        other => other,
    }
}
