//! Campaigns on every event, called by the event processor inside its transaction: an event
//! that sets an anchor (an order placed or paid, a delivery, a registration, a newsletter
//! signup, a segment joined, a predicted cart gathered) enrols the customer in the campaigns
//! timed from it, and every event checks the
//! customer's open runs at once — an exit goal reached, a cancelled order, a changed cart or
//! renewed activity ends them, and a moved delivery date reschedules them.

use super::enrol::{enrol, one};
use super::run::check_open_run;
use super::status::RunStatus;
use super::{Anchor, Campaign, CampaignStatus};
use crate::config::StoreSettings;
use crate::domain::ingest::{EventKind, EventPayload};
use crate::domain::orders::replenishment::CART_SUBJECT;
use crate::domain::orders::{OrderStatus, nth_of};
use crate::error::{AppError, AppResult};
use entity::{campaign_run, event, order};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// The event kinds campaigns need to see: anchors they are timed from, their exit goals, and
/// what ends their runs.
pub fn kinds_seen(campaigns: &[Campaign]) -> Vec<EventKind> {
    let mut kinds = Vec::new();
    for campaign in campaigns
        .iter()
        .filter(|c| c.status == CampaignStatus::Active)
    {
        kinds.extend(
            campaign
                .exit_goal
                .iter()
                .flat_map(|g| g.events.iter().copied()),
        );
        kinds.extend(match campaign.anchor {
            Anchor::OrderPlaced { .. } | Anchor::OrderPaid {} | Anchor::Delivered {} => {
                vec![EventKind::OrderPlaced, EventKind::OrderStatusChanged]
            }
            Anchor::OrderUnpaid { .. } | Anchor::PlannedDelivery {} => {
                vec![EventKind::OrderStatusChanged]
            }
            Anchor::Registered {} => vec![EventKind::Registered],
            Anchor::NewsletterSubscribed {} => vec![EventKind::NewsletterSubscribed],
            Anchor::SegmentJoined { .. } => vec![EventKind::SegmentJoined],
            Anchor::ReplenishmentDue {} => vec![
                EventKind::PredictedCartReady,
                EventKind::PredictedCartConfirmed,
                EventKind::PredictedCartPostponed,
                EventKind::PredictedCartDeclined,
                EventKind::OrderPlaced,
            ],
            Anchor::CartAbandoned { .. } => vec![
                EventKind::OrderPlaced,
                EventKind::AddedToCart,
                EventKind::CartUpdated,
            ],
            Anchor::Inactive { .. } => vec![EventKind::LoggedIn, EventKind::OrderPlaced],
            Anchor::Birthday {} => vec![],
        });
    }
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    kinds
}

/// Enrols and checks runs for one stored event. Returns whether the customer has runs due
/// now (enrolled, or rescheduled by a moved delivery date): the processor advances them as
/// soon as its pass commits, so a "thank you for your order" goes out within seconds.
pub async fn on_event(
    txn: &impl ConnectionTrait,
    campaigns: &[Campaign],
    e: &event::Model,
    now_ms: i64,
    store: &StoreSettings,
) -> AppResult<bool> {
    let Some(kind) = EventKind::from_stored(&e.kind) else {
        return Ok(false);
    };
    if !kinds_seen(campaigns).contains(&kind) {
        return Ok(false);
    }
    let payload: EventPayload =
        serde_json::from_value(e.payload.clone()).map_err(AppError::internal)?;
    let active = || {
        campaigns
            .iter()
            .filter(|c| c.status == CampaignStatus::Active)
    };
    let order = order_of(txn, &payload).await?;
    let mut due = false;
    for campaign in active() {
        if let Some(candidate) = anchored(txn, campaign, e, &payload, order.as_ref()).await? {
            due |= enrol(txn, campaign, now_ms, candidate).await? > 0;
        }
    }
    let open = campaign_run::Entity::find()
        .filter(campaign_run::Column::CustomerId.eq(e.customer_id))
        .filter(campaign_run::Column::Status.is_in(RunStatus::open()))
        .all(txn)
        .await?;
    for run in open {
        if let Some(campaign) = active().find(|c| c.model.id == run.campaign_id) {
            due |= check_open_run(txn, campaign, run, now_ms, store).await?;
        }
    }
    Ok(due)
}

/// The run an event anchors in this campaign, if it anchors one.
async fn anchored(
    txn: &impl ConnectionTrait,
    campaign: &Campaign,
    e: &event::Model,
    payload: &EventPayload,
    order: Option<&order::Model>,
) -> AppResult<Option<super::enrol::Candidates>> {
    let status = match payload {
        EventPayload::OrderPlaced(placed) => Some(placed.status),
        EventPayload::OrderStatusChanged { status, .. } => Some(*status),
        _ => None,
    };
    let subject = |o: &order::Model, at: i64| {
        Some(one(
            o.customer_id,
            (format!("order:{}", o.id), o.id),
            Some(o.id),
            at,
        ))
    };
    Ok(match (&campaign.anchor, payload, order) {
        (Anchor::OrderPlaced { nth, statuses }, EventPayload::OrderPlaced(_), Some(o)) => {
            let status_ok = if statuses.is_empty() {
                !OrderStatus::from_stored(&o.status).is_void()
            } else {
                statuses.iter().any(|s| s.as_str() == o.status)
            };
            let nth_ok = match nth {
                Some(n) => nth_of(txn, o).await? == *n,
                None => true,
            };
            if status_ok && nth_ok {
                subject(o, o.placed_at)
            } else {
                None
            }
        }
        (Anchor::OrderPaid {}, _, Some(o)) if status == Some(OrderStatus::Paid) => {
            subject(o, o.paid_at.unwrap_or(e.occurred_at))
        }
        (Anchor::Delivered {}, _, Some(o)) if status == Some(OrderStatus::Delivered) => {
            subject(o, o.delivered_at.unwrap_or(e.occurred_at))
        }
        (Anchor::Registered {}, EventPayload::Registered(_), _) => Some(one(
            e.customer_id,
            ("registered".to_owned(), 0),
            None,
            e.occurred_at,
        )),
        (Anchor::NewsletterSubscribed {}, EventPayload::NewsletterSubscribed {}, _) => Some(one(
            e.customer_id,
            (format!("newsletter:{}", e.occurred_at), e.occurred_at),
            None,
            e.occurred_at,
        )),
        (
            Anchor::SegmentJoined { segment_id },
            EventPayload::SegmentJoined { segment_id: s },
            _,
        ) if s == segment_id => Some(one(
            e.customer_id,
            (
                format!("segment:{segment_id}:{}", e.occurred_at),
                e.occurred_at,
            ),
            None,
            e.occurred_at,
        )),
        (Anchor::ReplenishmentDue {}, EventPayload::PredictedCartReady { cart_id }, _) => {
            Some(one(
                e.customer_id,
                (format!("{CART_SUBJECT}{cart_id}"), *cart_id),
                None,
                e.occurred_at,
            ))
        }
        _ => None,
    })
}

/// The order an event is about, if it is about one.
async fn order_of(
    txn: &impl ConnectionTrait,
    payload: &EventPayload,
) -> AppResult<Option<order::Model>> {
    let external_id = match payload {
        EventPayload::OrderPlaced(placed) => &placed.order_external_id,
        EventPayload::OrderStatusChanged {
            order_external_id, ..
        } => order_external_id,
        _ => return Ok(None),
    };
    Ok(order::Entity::find()
        .filter(order::Column::ExternalId.eq(external_id.trim()))
        .all(txn)
        .await?
        .pop())
}
