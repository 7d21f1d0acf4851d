//! Predicted carts on the API: a storefront (or an admin app) reads the customer's open cart
//! to show it inside the shop.

use super::auth::{Require, check_customer};
use super::catalog::Product;
use super::context::state;
use super::errors::to_graphql;
use super::money::Money;
use crate::clock::from_millis;
use crate::domain::predicted_carts::CartStatus;
use crate::domain::predicted_carts::read::{self, Cart};
use crate::error::AppError;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// Where a predicted cart stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PredictedCartStatus {
    /// Waiting for the customer's decision.
    Open,
    Confirmed,
    Postponed,
    Declined,
    /// The customer ordered everything in it meanwhile.
    Closed,
}

impl From<CartStatus> for PredictedCartStatus {
    fn from(s: CartStatus) -> Self {
        match s {
            CartStatus::Open => PredictedCartStatus::Open,
            CartStatus::Confirmed => PredictedCartStatus::Confirmed,
            CartStatus::Postponed => PredictedCartStatus::Postponed,
            CartStatus::Declined => PredictedCartStatus::Declined,
            CartStatus::Closed => PredictedCartStatus::Closed,
        }
    }
}

/// The products a customer is due to run out of, gathered for them to confirm, postpone or
/// decline.
pub struct PredictedCart(pub Cart);

#[Object]
impl PredictedCart {
    async fn id(&self) -> ID {
        ID(self.0.cart.id.to_string())
    }
    async fn status(&self) -> async_graphql::Result<PredictedCartStatus> {
        CartStatus::from_stored(&self.0.cart.status)
            .map(Into::into)
            .ok_or_else(|| {
                to_graphql(AppError::internal(format!(
                    "predicted cart {} has an unknown status {:?}",
                    self.0.cart.id, self.0.cart.status
                )))
            })
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.cart.created_at)
    }
    /// When the customer first looked at it.
    async fn viewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.cart.viewed_at.map(from_millis)
    }
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.cart.decided_at.map(from_millis)
    }
    /// Its lines, soonest due first.
    async fn lines(&self) -> Vec<PredictedCartLine> {
        self.0
            .lines
            .iter()
            .map(|(line, product)| PredictedCartLine {
                product: Product::from(product.clone()),
                quantity: line.quantity,
                unit_price: Money::new(line.unit_price, &line.currency),
                total: Money::new(
                    line.unit_price.saturating_mul(i64::from(line.quantity)),
                    &line.currency,
                ),
            })
            .collect()
    }
    /// The lines' sum, per currency (normally one).
    async fn totals(&self) -> Vec<Money> {
        self.0
            .totals()
            .into_iter()
            .map(|(currency, amount)| Money::new(amount, &currency))
            .collect()
    }
}

/// One product of a predicted cart.
#[derive(SimpleObject)]
pub struct PredictedCartLine {
    pub product: Product,
    /// The quantity proposed: that of the customer's last order of it.
    pub quantity: i32,
    /// The product's price when the cart was gathered.
    pub unit_price: Money,
    pub total: Money,
}

#[derive(Default)]
pub struct PredictedCartQuery;

#[Object]
impl PredictedCartQuery {
    /// The customer's open predicted cart (`null`: none). A storefront key that verifies
    /// customers needs their `customerSignature`.
    #[graphql(guard = "Require::ANY")]
    async fn predicted_cart(
        &self,
        ctx: &Context<'_>,
        customer_external_id: String,
        customer_signature: Option<String>,
    ) -> async_graphql::Result<Option<PredictedCart>> {
        check_customer(ctx, &customer_external_id, customer_signature.as_deref())?;
        let state = state(ctx)?;
        let found = read::open_of(&state.db, &customer_external_id)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(PredictedCart))
    }
}
