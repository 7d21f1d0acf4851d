//! Predicted carts as stored: where one stands, and one read with its lines and their
//! products. Replenishment (below the carts' own room) and templates read them too, so they
//! live here; `predicted_carts` re-exports them.

use crate::error::AppResult;
use entity::{predicted_cart, predicted_cart_line, product};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

/// Where a cart stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CartStatus {
    /// Waiting for the customer's decision.
    Open,
    Confirmed,
    Postponed,
    Declined,
    /// The customer ordered everything in it meanwhile.
    Closed,
}

impl CartStatus {
    pub const ALL: [CartStatus; 5] = [
        CartStatus::Open,
        CartStatus::Confirmed,
        CartStatus::Postponed,
        CartStatus::Declined,
        CartStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CartStatus::Open => "open",
            CartStatus::Confirmed => "confirmed",
            CartStatus::Postponed => "postponed",
            CartStatus::Declined => "declined",
            CartStatus::Closed => "closed",
        }
    }

    /// The status a stored row names; `None` for text Nudge never writes.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// A cart with its lines (position order) and each line's product.
#[derive(Clone, Debug)]
pub struct Cart {
    pub cart: predicted_cart::Model,
    pub lines: Vec<(predicted_cart_line::Model, product::Model)>,
}

impl Cart {
    /// The sum of the lines, per currency they are priced in (normally one).
    pub fn totals(&self) -> Vec<(String, i64)> {
        let mut totals: Vec<(String, i64)> = Vec::new();
        for (line, _) in &self.lines {
            let amount = line.unit_price.saturating_mul(i64::from(line.quantity));
            match totals.iter_mut().find(|(c, _)| *c == line.currency) {
                Some((_, sum)) => *sum = sum.saturating_add(amount),
                None => totals.push((line.currency.clone(), amount)),
            }
        }
        totals
    }
}

/// The customer's open predicted cart, if any.
pub async fn open_cart(
    db: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<Option<predicted_cart::Model>> {
    Ok(predicted_cart::Entity::find()
        .filter(predicted_cart::Column::CustomerId.eq(customer_id))
        .filter(predicted_cart::Column::Status.eq(CartStatus::Open.as_str()))
        .one(db)
        .await?)
}

/// Cart `id`, if it exists.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<Cart>> {
    match predicted_cart::Entity::find_by_id(id).one(db).await? {
        Some(cart) => Ok(Some(with_lines(db, cart).await?)),
        None => Ok(None),
    }
}

pub async fn with_lines(db: &impl ConnectionTrait, cart: predicted_cart::Model) -> AppResult<Cart> {
    let lines = predicted_cart_line::Entity::find()
        .filter(predicted_cart_line::Column::CartId.eq(cart.id))
        .order_by_asc(predicted_cart_line::Column::Position)
        .find_also_related(product::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(line, product)| product.map(|p| (line, p)))
        .collect();
    Ok(Cart { cart, lines })
}
