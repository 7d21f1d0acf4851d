//! The variables a template sees (see [`super::render::VARIABLES`]), read for one customer:
//! their profile, the order a message is about (or their latest), their cart, the products of
//! both, the products their roles recommend, the banner the same run or firing shows, the
//! predicted cart the message is about, and Nudge's links. Absent objects are `none`, so `{% if order %}` works under strict
//! undefined.

use crate::clock::from_millis;
use crate::domain::orders::carts;
use crate::domain::values::format_amount;
use crate::domain::{customers, orders, storefront};
use crate::error::AppResult;
use entity::{banner, customer, order, product};
use minijinja::Value;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value as Json, json};
use std::collections::HashSet;

/// How many recommended products a template gets.
const RECOMMENDED: u64 = 6;

/// What a message is about, beyond its customer.
#[derive(Clone, Copy, Debug, Default)]
pub struct About {
    /// The order of the campaign run; `None` uses the customer's latest order.
    pub order_id: Option<i64>,
    pub run_id: Option<i64>,
    pub firing_id: Option<i64>,
    /// The predicted cart the message shows: the run's, or the customer's open one.
    pub predicted_cart_id: Option<i64>,
}

/// Nudge's links for one message.
#[derive(Clone, Debug, Default)]
pub struct Links {
    pub unsubscribe: String,
    pub view_in_browser: String,
    /// The page of the predicted cart the message shows, if any.
    pub predicted_cart: Option<String>,
}

/// The variables for `customer`. Only those in `used` (top-level names) are read from the
/// database; the others are `none`.
pub async fn for_customer(
    db: &impl ConnectionTrait,
    customer: &customer::Model,
    about: About,
    links: &Links,
    store_currency: &str,
    used: &HashSet<String>,
) -> AppResult<Value> {
    let uses = |name: &str| used.contains(name);
    let order = match about.order_id {
        _ if !uses("order") && !uses("products") => None,
        Some(id) => order::Entity::find_by_id(id).one(db).await?,
        None => orders::recent_of_customer(db, customer.id, 1)
            .await?
            .into_iter()
            .next(),
    };
    let mut products: Vec<Json> = Vec::new();
    let order_json = match &order {
        Some(order) => {
            let lines = orders::lines(db, order.id).await?;
            let lines: Vec<Json> = lines
                .iter()
                .map(|(line, product)| {
                    let product = product.as_ref().map(product_json);
                    if let Some(p) = &product {
                        products.push(p.clone());
                    }
                    json!({
                        "product": product,
                        "quantity": line.quantity,
                        "unit_price": format_amount(line.unit_price, &order.currency),
                    })
                })
                .collect();
            order_json(order, lines)
        }
        None => Json::Null,
    };
    let cart = if uses("cart") || uses("products") {
        customers::cart(db, customer.id).await?
    } else {
        Vec::new()
    };
    let cart_json = if cart.is_empty() {
        Json::Null
    } else {
        let total: i64 = cart
            .iter()
            .filter(|(_, p)| p.currency == store_currency)
            .map(|(line, p)| p.price.saturating_mul(i64::from(line.quantity)))
            .sum();
        let lines: Vec<Json> = cart
            .iter()
            .map(|(line, product)| {
                let product = product_json(product);
                products.push(product.clone());
                json!({ "product": product, "quantity": line.quantity })
            })
            .collect();
        json!({
            "lines": lines,
            "total": format_amount(total, store_currency),
            "currency": store_currency,
        })
    };
    let predicted_cart = match about.predicted_cart_id {
        Some(id) if uses("predicted_cart") => predicted_cart_json(db, id).await?,
        _ => Json::Null,
    };
    let recommended: Vec<Json> = if uses("recommended") {
        storefront::recommendations_for(db, customer.id, RECOMMENDED)
            .await?
            .iter()
            .map(product_json)
            .collect()
    } else {
        Vec::new()
    };
    let banner = if uses("banner") || uses("coupon") {
        banner_of(db, about).await?
    } else {
        None
    };
    let coupon = banner.as_ref().and_then(|b| b.coupon_code.clone());
    Ok(with_links(
        json!({
            "customer": customer_json(customer, store_currency),
            "order": order_json,
            "cart": cart_json,
            "predicted_cart": predicted_cart,
            "products": products,
            "recommended": recommended,
            "banner": banner.as_ref().map(banner_json),
            "coupon": coupon,
        }),
        links,
    ))
}

/// Example variables, for test messages sent without a customer.
pub fn sample(links: &Links, store_currency: &str) -> Value {
    let product = json!({
        "external_id": "sample-1",
        "name": "Sample product",
        "sku": null,
        "price": format_amount(1999, store_currency),
        "currency": store_currency,
        "image_url": null,
    });
    with_links(
        json!({
            "customer": {
                "external_id": "sample",
                "email": "ada@example.com",
                "phone": "+15550100",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "name": "Ada Lovelace",
                "birthday": "1815-12-10",
                "locale": "en",
                "time_zone": "Europe/London",
                "customer_type": "person",
                "wholesale": false,
                "orders_count": 3,
                "total_spent": format_amount(12_000, store_currency),
                "registered_at": "2026-01-01T09:00:00Z",
                "attributes": {},
            },
            "order": {
                "external_id": "SAMPLE-1001",
                "status": "paid",
                "total": format_amount(3998, store_currency),
                "currency": store_currency,
                "payment_method": "card",
                "placed_at": "2026-11-20T10:00:00Z",
                "paid_at": "2026-11-20T10:01:00Z",
                "planned_delivery_at": "2026-11-25T12:00:00Z",
                "delivered_at": null,
                "lines": [{ "product": product, "quantity": 2, "unit_price": format_amount(1999, store_currency) }],
            },
            "cart": null,
            "predicted_cart": {
                "lines": [{
                    "product": product,
                    "quantity": 2,
                    "price": format_amount(1999, store_currency),
                    "total": format_amount(3998, store_currency),
                }],
                "total": format_amount(3998, store_currency),
                "currency": store_currency,
                "status": "open",
                "created_at": "2026-12-07T09:00:00Z",
            },
            "products": [product],
            "recommended": [product],
            "banner": null,
            "coupon": "SAMPLE10",
        }),
        links,
    )
}

/// `variables` with `links`, whose URLs are marked safe: HTML auto-escaping would turn their
/// slashes into entities.
fn with_links(variables: Json, links: &Links) -> Value {
    let links = minijinja::context! {
        unsubscribe => Value::from_safe_string(links.unsubscribe.clone()),
        view_in_browser => Value::from_safe_string(links.view_in_browser.clone()),
        predicted_cart => links.predicted_cart.clone().map(Value::from_safe_string),
    };
    minijinja::context! { links => links, ..Value::from_serialize(variables) }
}

/// Predicted cart `id` with its lines (position order), each at the price it was gathered
/// with; the total is that of the lines in the cart's first currency.
async fn predicted_cart_json(db: &impl ConnectionTrait, id: i64) -> AppResult<Json> {
    let Some(cart) = carts::find(db, id).await? else {
        return Ok(Json::Null);
    };
    let lines: Vec<Json> = cart
        .lines
        .iter()
        .map(|(line, product)| {
            let amount = line.unit_price.saturating_mul(i64::from(line.quantity));
            json!({
                "product": product_json(product),
                "quantity": line.quantity,
                "price": format_amount(line.unit_price, &line.currency),
                "total": format_amount(amount, &line.currency),
            })
        })
        .collect();
    let (currency, total) = cart.totals().into_iter().next().unwrap_or_default();
    Ok(json!({
        "lines": lines,
        "total": format_amount(total, &currency),
        "currency": currency,
        "status": cart.cart.status,
        "created_at": instant(cart.cart.created_at),
    }))
}

fn customer_json(c: &customer::Model, store_currency: &str) -> Json {
    let name = [c.first_name.as_deref(), c.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "external_id": c.external_id,
        "email": c.email,
        "phone": c.phone,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "name": if name.is_empty() { None } else { Some(name) },
        "birthday": c.birthday.map(|d| d.to_string()),
        "locale": c.locale,
        "time_zone": c.time_zone,
        "customer_type": c.customer_type,
        "wholesale": c.wholesale,
        "orders_count": c.orders_count,
        "total_spent": format_amount(c.total_spent, store_currency),
        "registered_at": c.registered_at.map(instant),
        "attributes": c.attributes,
    })
}

fn order_json(o: &order::Model, lines: Vec<Json>) -> Json {
    json!({
        "external_id": o.external_id,
        "status": o.status,
        "total": format_amount(o.total, &o.currency),
        "currency": o.currency,
        "payment_method": o.payment_method,
        "placed_at": instant(o.placed_at),
        "paid_at": o.paid_at.map(instant),
        "planned_delivery_at": o.planned_delivery_at.map(instant),
        "delivered_at": o.delivered_at.map(instant),
        "lines": lines,
    })
}

fn product_json(p: &product::Model) -> Json {
    json!({
        "external_id": p.external_id,
        "name": p.name,
        "sku": p.sku,
        "price": format_amount(p.price, &p.currency),
        "currency": p.currency,
        "image_url": p.image_url,
    })
}

fn banner_json(b: &banner::Model) -> Json {
    json!({
        "title": b.title,
        "body_html": b.body_html,
        "coupon_code": b.coupon_code,
        "starts_at": instant(b.starts_at),
        "ends_at": b.ends_at.map(instant),
    })
}

fn instant(ms: i64) -> String {
    from_millis(ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The newest banner the same campaign run or action firing shows.
async fn banner_of(db: &impl ConnectionTrait, about: About) -> AppResult<Option<banner::Model>> {
    let filter = match (about.run_id, about.firing_id) {
        (Some(run), _) => banner::Column::RunId.eq(run),
        (None, Some(firing)) => banner::Column::FiringId.eq(firing),
        (None, None) => return Ok(None),
    };
    Ok(banner::Entity::find()
        .filter(filter)
        .order_by_desc(banner::Column::Id)
        .one(db)
        .await?)
}
