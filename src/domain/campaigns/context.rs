//! What a run's step is taken with — the campaign, the instant, the customer and their time
//! zone — and whether a condition holds for that customer now.

use super::Campaign;
use crate::config::StoreSettings;
use crate::domain::conditions::load::{
    RunRef, cart_items, order_subject_facts, roles_of, run_facts, segments_of, tags_of,
};
use crate::domain::conditions::{Condition, Facts, Reads, evaluate};
use crate::domain::orders::replenishment::cart_of_subject;
use crate::error::AppResult;
use chrono_tz::Tz;
use entity::{campaign_run, customer};
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
    /// The run, when there is one (a preview has none): what its customer did with its
    /// messages and its predicted cart.
    pub run: Option<RunRef>,
}

/// The run a step is taken for, as its conditions look at it.
pub(super) fn run_ref(run: &campaign_run::Model) -> RunRef {
    RunRef {
        id: run.id,
        customer_id: run.customer_id,
        entered_at: run.entered_at,
        cart_id: cart_of_subject(&run.subject_key, run.subject_ref),
    }
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
    let run = match ctx.run {
        Some(run) if condition.reads().meets(Reads::RUN) => Some(run_facts(txn, run).await?),
        _ => None,
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
            run: run.as_ref(),
        },
    ))
}
