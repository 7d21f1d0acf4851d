//! Reading a customer's predicted cart with its lines and their products.

pub use crate::domain::orders::carts::{Cart, find};
use crate::domain::orders::carts::{open_cart, with_lines};
use crate::error::AppResult;
use entity::customer;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// The open cart of the customer the shop knows by `external_id`, if any.
pub async fn open_of(db: &impl ConnectionTrait, external_id: &str) -> AppResult<Option<Cart>> {
    let Some(customer) = customer::Entity::find()
        .filter(customer::Column::ExternalId.eq(external_id.trim()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    match open_cart(db, customer.id).await? {
        Some(cart) => Ok(Some(with_lines(db, cart).await?)),
        None => Ok(None),
    }
}
