//! Reading a customer's predicted cart with its lines and their products.

use super::CartStatus;
use crate::error::AppResult;
use entity::{customer, predicted_cart, predicted_cart_line, product};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

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

/// The open cart of the customer the shop knows by `external_id`, if any.
pub async fn open_of(db: &impl ConnectionTrait, external_id: &str) -> AppResult<Option<Cart>> {
    let Some(customer) = customer::Entity::find()
        .filter(customer::Column::ExternalId.eq(external_id.trim()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let cart = predicted_cart::Entity::find()
        .filter(predicted_cart::Column::CustomerId.eq(customer.id))
        .filter(predicted_cart::Column::Status.eq(CartStatus::Open.as_str()))
        .one(db)
        .await?;
    match cart {
        Some(cart) => Ok(Some(with_lines(db, cart).await?)),
        None => Ok(None),
    }
}

/// Cart `id`, if it exists.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<Cart>> {
    match predicted_cart::Entity::find_by_id(id).one(db).await? {
        Some(cart) => Ok(Some(with_lines(db, cart).await?)),
        None => Ok(None),
    }
}

async fn with_lines(db: &impl ConnectionTrait, cart: predicted_cart::Model) -> AppResult<Cart> {
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
