//! Predicted carts on the API: a storefront (or an admin app) reads the customer's open cart
//! to show it inside the shop, and records the customer's decision.

use super::auth::{Require, check_customer};
use super::catalog::Product;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::money::Money;
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::predicted_carts::decide::{self, Decision};
use crate::domain::predicted_carts::read::{self, Cart};
use crate::domain::predicted_carts::{CartStatus, link};
use crate::error::AppError;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
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
    /// The address of the cart's page for the customer (`/r/…`): signed, naming only the
    /// cart, working for `NUDGE_REPLENISHMENT_LINK_DAYS` after the cart was gathered.
    async fn link(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let state = state(ctx)?;
        Ok(link::link(
            &state.settings.delivery.public_url,
            &state.senders.signer,
            &state.settings.store.replenishment,
            &self.0.cart,
        ))
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

/// A quantity the customer chose for one product of the cart (0 drops it).
#[derive(InputObject)]
pub struct PredictedCartLineInput {
    pub product_external_id: String,
    /// 0 to 999.
    pub quantity: i32,
}

/// A cart after a decision.
#[derive(SimpleObject)]
pub struct DecidedCart {
    pub predicted_cart: PredictedCart,
    /// `false`: it was decided before (a second click); nothing changed.
    pub changed: bool,
}

payload!(
    /// The result of a decision on a predicted cart.
    DecidePredictedCartPayload, decided: DecidedCart
);

#[derive(Default)]
pub struct PredictedCartMutation;

#[Object(guard = "Require::INGEST")]
impl PredictedCartMutation {
    /// The customer confirms the cart, with the quantities they chose (products not named
    /// keep theirs; 0 drops one): a reorder is recorded for the shop to create (status
    /// `REQUESTED`), the staff are emailed to call, and the items' due dates move as if
    /// ordered now.
    async fn confirm_predicted_cart(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        customer_external_id: String,
        customer_signature: Option<String>,
        lines: Option<Vec<PredictedCartLineInput>>,
    ) -> async_graphql::Result<DecidePredictedCartPayload> {
        let chosen = lines
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.product_external_id, l.quantity))
            .collect();
        decide_as(
            ctx,
            &cart_id,
            &customer_external_id,
            customer_signature,
            Decision::Confirm(chosen),
        )
        .await
    }

    /// The customer postpones the cart: its items are due again `days` days from now (1–365).
    async fn postpone_predicted_cart(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        customer_external_id: String,
        customer_signature: Option<String>,
        days: i32,
    ) -> async_graphql::Result<DecidePredictedCartPayload> {
        let decision = Decision::Postpone { days };
        decide_as(
            ctx,
            &cart_id,
            &customer_external_id,
            customer_signature,
            decision,
        )
        .await
    }

    /// The customer has enough: the cart's items are not due again until they order them.
    async fn decline_predicted_cart(
        &self,
        ctx: &Context<'_>,
        cart_id: ID,
        customer_external_id: String,
        customer_signature: Option<String>,
    ) -> async_graphql::Result<DecidePredictedCartPayload> {
        let decision = Decision::Decline;
        decide_as(
            ctx,
            &cart_id,
            &customer_external_id,
            customer_signature,
            decision,
        )
        .await
    }
}

/// Applies `decision` to the cart of the customer the shop knows by `external_id`.
async fn decide_as(
    ctx: &Context<'_>,
    cart_id: &ID,
    external_id: &str,
    signature: Option<String>,
    decision: Decision,
) -> async_graphql::Result<DecidePredictedCartPayload> {
    check_customer(ctx, external_id, signature.as_deref())?;
    let state = state(ctx)?;
    let cart_id = id_arg("cartId", cart_id)?;
    let customer = crate::domain::customers::find_by_external_id(&state.db, external_id)
        .await
        .map_err(to_graphql)?
        .ok_or_else(|| {
            to_graphql(AppError::NotFound(format!(
                "predicted cart {cart_id} not found"
            )))
        })?;
    let result = decide::decide(
        &state.db,
        state.clock.now(),
        &state.settings.store,
        customer.id,
        cart_id,
        decision,
    )
    .await;
    if result.as_ref().is_ok_and(|d| d.changed) {
        // The decision is an event for the processor, and may have queued mail.
        state.processor_wake.notify_one();
        state.senders.wake.notify_one();
        state.webhook_wake.notify_one();
    }
    respond(
        result.map(|d| DecidedCart {
            predicted_cart: PredictedCart(d.cart),
            changed: d.changed,
        }),
        "",
    )
}
