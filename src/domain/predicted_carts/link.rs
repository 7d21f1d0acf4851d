//! The link to a cart's page: `{NUDGE_PUBLIC_URL}/r/{token}`, where the token names only the
//! cart and when the link stops working (`NUDGE_REPLENISHMENT_LINK_DAYS` after the cart was
//! gathered), signed like the tracking tokens.

use super::read::{Cart, find};
use crate::config::Replenishment;
use crate::delivery::tokens::TokenSigner;
use crate::error::AppResult;
use entity::predicted_cart;
use sea_orm::ConnectionTrait;

/// The page link of `cart`.
pub fn link(
    public_url: &str,
    signer: &TokenSigner,
    settings: &Replenishment,
    cart: &predicted_cart::Model,
) -> String {
    signer.cart_page(
        public_url,
        cart.id,
        settings.link_expires_at(cart.created_at),
    )
}

/// The cart a page token opens at `now_ms` (`None`: tampered, expired, or gone).
pub async fn open(
    db: &impl ConnectionTrait,
    signer: &TokenSigner,
    token: &str,
    now_ms: i64,
) -> AppResult<Option<Cart>> {
    match signer.verify_cart(token, now_ms) {
        Some(cart_id) => find(db, cart_id).await,
        None => Ok(None),
    }
}
