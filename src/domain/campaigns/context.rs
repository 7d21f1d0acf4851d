//! What a run's step is taken with — the campaign, the instant, the customer and their time
//! zone — and whether a condition holds for that customer now.

use super::Campaign;
use crate::config::StoreSettings;
use crate::domain::conditions::load::{
    cart_items, order_subject_facts, roles_of, segments_of, tags_of,
};
use crate::domain::conditions::{Condition, Facts, evaluate};
use crate::error::AppResult;
use chrono_tz::Tz;
use entity::customer;
use sea_orm::ConnectionTrait;

/// What a step is taken with: the campaign, the instant and the run's customer.
pub(super) struct Ctx<'a> {
    pub campaign: &'a Campaign,
    pub store: &'a StoreSettings,
    pub now_ms: i64,
    pub customer: customer::Model,
    pub tz: Tz,
    /// The order the run is about, if any: conditions see it as the event's order.
    pub order_id: Option<i64>,
}

/// Whether the condition holds for the run's customer now.
pub(super) async fn holds(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    condition: &Condition,
) -> AppResult<bool> {
    if *condition == Condition::always() {
        return Ok(true);
    }
    let roles = roles_of(txn, ctx.customer.id).await?;
    let tags = tags_of(txn, ctx.customer.id).await?;
    let segments = segments_of(txn, ctx.customer.id).await?;
    let cart = cart_items(txn, ctx.customer.id).await?;
    let order = match ctx.order_id {
        Some(id) => order_subject_facts(txn, id).await?,
        None => None,
    };
    Ok(evaluate(
        condition,
        &Facts {
            now_ms: ctx.now_ms,
            store_currency: ctx.store.currency.as_str(),
            customer: &ctx.customer,
            role_ids: &roles,
            tags: &tags,
            segment_ids: &segments,
            cart: &cart,
            event: order.as_ref(),
        },
    ))
}
