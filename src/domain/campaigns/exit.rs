//! Why a run ends before its next step: its exit goal was reached, or its subject is gone —
//! a cancelled order, a changed cart, renewed activity. A planned delivery that moved is
//! followed instead.

use super::context::{Ctx, holds};
use super::status::RunStatus;
use super::{Anchor, InactivityBasis};
use crate::domain::orders::OrderStatus;
use crate::domain::orders::replenishment::CART_SUBJECT;
use crate::domain::predicted_carts::CartStatus;
use crate::error::AppResult;
use entity::{campaign_run, event, order, predicted_cart};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

/// Why the run must end before its next step, if it must: its exit goal was reached, or its
/// subject is gone (a cancelled order, a changed cart, renewed activity). A planned delivery
/// that moved is followed.
pub(super) async fn ended(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    run: &mut campaign_run::Model,
) -> AppResult<Option<(RunStatus, String)>> {
    if let Some(goal) = &ctx.campaign.exit_goal
        && !goal.events.is_empty()
    {
        let kinds: Vec<&str> = goal.events.iter().map(|k| k.as_str()).collect();
        let reached = event::Entity::find()
            .select_only()
            .column(event::Column::Kind)
            .filter(event::Column::CustomerId.eq(run.customer_id))
            .filter(event::Column::Kind.is_in(kinds))
            .filter(event::Column::OccurredAt.gt(run.entered_at))
            .into_tuple::<String>()
            .all(txn)
            .await?;
        if let Some(kind) = reached.first()
            && match &goal.condition {
                Some(condition) => holds(txn, ctx, condition).await?,
                None => true,
            }
        {
            return Ok(Some((
                RunStatus::Converted,
                format!("exit goal reached: {kind}"),
            )));
        }
    }
    let customer = &ctx.customer;
    let after_anchor = |fact: Option<i64>| fact.is_some_and(|at| at > run.anchor_at);
    match &ctx.campaign.anchor {
        Anchor::Inactive { basis, .. } => {
            let fact = match basis {
                InactivityBasis::LastLogin => customer.last_login_at,
                InactivityBasis::LastOrder => customer.last_order_at,
            };
            if after_anchor(fact) {
                return Ok(Some((RunStatus::Exited, "active again".into())));
            }
        }
        Anchor::CartAbandoned { .. } => {
            if after_anchor(customer.last_order_at) {
                return Ok(Some((RunStatus::Converted, "ordered".into())));
            }
            if customer.cart_updated_at != Some(run.anchor_at) {
                return Ok(Some((RunStatus::Exited, "the cart changed".into())));
            }
        }
        _ => {}
    }
    if run.subject_key.starts_with(CART_SUBJECT) {
        return cart_ended(txn, run.subject_ref).await;
    }
    if run.subject_key.starts_with("order:") {
        let found = match run.order_id {
            Some(id) => order::Entity::find_by_id(id).one(txn).await?,
            None => None,
        };
        let Some(order) = found else {
            return Ok(Some((RunStatus::Exited, "the order is gone".into())));
        };
        if OrderStatus::from_stored(&order.status).is_void() {
            let reason = format!("the order was {}", order.status);
            return Ok(Some((RunStatus::Exited, reason)));
        }
        match &ctx.campaign.anchor {
            Anchor::OrderUnpaid { .. } if order.paid_at.is_some() => {
                return Ok(Some((RunStatus::Converted, "paid".into())));
            }
            Anchor::PlannedDelivery {} => match order.planned_delivery_at {
                Some(planned) => run.anchor_at = planned,
                None => return Ok(Some((RunStatus::Exited, "no delivery is planned".into()))),
            },
            _ => {}
        }
    }
    Ok(None)
}

/// How the predicted cart a run is about ended, if it did: a confirmation (or an order of
/// everything in it) converts the run; a postponement or a decline ends it.
async fn cart_ended(
    txn: &impl ConnectionTrait,
    cart_id: i64,
) -> AppResult<Option<(RunStatus, String)>> {
    let status: Option<String> = predicted_cart::Entity::find_by_id(cart_id)
        .select_only()
        .column(predicted_cart::Column::Status)
        .into_tuple()
        .one(txn)
        .await?;
    let Some(status) = status else {
        return Ok(Some((
            RunStatus::Exited,
            "the predicted cart is gone".into(),
        )));
    };
    Ok(match CartStatus::from_stored(&status) {
        Some(CartStatus::Open) | None => None,
        Some(CartStatus::Confirmed) => {
            Some((RunStatus::Converted, "the cart was confirmed".into()))
        }
        Some(CartStatus::Closed) => Some((
            RunStatus::Converted,
            "everything in the cart was ordered".into(),
        )),
        Some(CartStatus::Postponed | CartStatus::Declined) => {
            Some((RunStatus::Exited, format!("the cart was {status}")))
        }
    })
}
