//! Storefront events: what customers did, stored append-only and idempotently, with the
//! customer's facts brought up to date in the same transaction. Automation runs later, from
//! the stored events (see the processor); ingest never runs it.
//!
//! Unknown customers are created from the event (with only their external id until a
//! `registered` or `profileUpdated` event fills the profile). Unknown products are refused.

mod apply;
pub mod backlog;
mod check;
mod queue;
mod record;

pub use crate::domain::event_kind::EventKind;
pub use check::{CheckedBatch, check_batch};
pub use queue::IngestQueue;
pub use record::{CallResult, RecordedEvent, find_by_event_id, record_events, record_group};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The most events one call may carry.
pub const MAX_BATCH: usize = 500;

/// Profile fields an event may carry; absent fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub company: Option<bool>,
    pub wholesale: Option<bool>,
    pub affiliate_id: Option<String>,
    pub email_consent: Option<bool>,
    pub sms_consent: Option<bool>,
    pub attributes: Option<serde_json::Value>,
}

/// A product and quantity in a cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub product_external_id: String,
    pub quantity: i32,
}

/// One line of a placed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_external_id: String,
    pub quantity: i32,
    /// Decimal amount in the order's currency.
    pub unit_price: String,
}

/// An order as the storefront reports it when it is placed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacedOrder {
    pub order_external_id: String,
    /// `placed` unless the order was paid at once.
    pub status: crate::domain::orders::OrderStatus,
    pub payment_method: Option<String>,
    pub total: String,
    pub currency: String,
    pub planned_delivery_at: Option<DateTime<Utc>>,
    pub lines: Vec<OrderLine>,
}

/// What an event is about, by kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum EventPayload {
    Registered(Profile),
    LoggedIn {},
    ProfileUpdated(Profile),
    ProductViewed {
        product_external_id: String,
    },
    /// Lines added to the cart (quantities add up).
    AddedToCart {
        lines: Vec<CartLine>,
    },
    /// The whole cart as it is now.
    CartUpdated {
        lines: Vec<CartLine>,
    },
    OrderPlaced(PlacedOrder),
    OrderStatusChanged {
        order_external_id: String,
        status: crate::domain::orders::OrderStatus,
        planned_delivery_at: Option<DateTime<Utc>>,
    },
    PageVisited {
        url: String,
        referrer: Option<String>,
    },
    NewsletterSubscribed {},
    NewsletterUnsubscribed {},
    /// Recorded by Nudge when the customer joins a segment.
    SegmentJoined {
        segment_id: i64,
    },
    /// Recorded by Nudge when the customer leaves a segment.
    SegmentLeft {
        segment_id: i64,
    },
    /// Recorded by Nudge when a predicted cart is gathered for the customer.
    PredictedCartReady {
        cart_id: i64,
    },
    /// Recorded by Nudge when the customer confirms a predicted cart.
    PredictedCartConfirmed {
        cart_id: i64,
    },
    /// Recorded by Nudge when the customer postpones a predicted cart by `days`.
    PredictedCartPostponed {
        cart_id: i64,
        days: i32,
    },
    /// Recorded by Nudge when the customer has enough of what a predicted cart held.
    PredictedCartDeclined {
        cart_id: i64,
    },
}

impl EventPayload {
    pub fn kind(&self) -> EventKind {
        match self {
            EventPayload::Registered(_) => EventKind::Registered,
            EventPayload::LoggedIn {} => EventKind::LoggedIn,
            EventPayload::ProfileUpdated(_) => EventKind::ProfileUpdated,
            EventPayload::ProductViewed { .. } => EventKind::ProductViewed,
            EventPayload::AddedToCart { .. } => EventKind::AddedToCart,
            EventPayload::CartUpdated { .. } => EventKind::CartUpdated,
            EventPayload::OrderPlaced(_) => EventKind::OrderPlaced,
            EventPayload::OrderStatusChanged { .. } => EventKind::OrderStatusChanged,
            EventPayload::PageVisited { .. } => EventKind::PageVisited,
            EventPayload::NewsletterSubscribed {} => EventKind::NewsletterSubscribed,
            EventPayload::NewsletterUnsubscribed {} => EventKind::NewsletterUnsubscribed,
            EventPayload::SegmentJoined { .. } => EventKind::SegmentJoined,
            EventPayload::SegmentLeft { .. } => EventKind::SegmentLeft,
            EventPayload::PredictedCartReady { .. } => EventKind::PredictedCartReady,
            EventPayload::PredictedCartConfirmed { .. } => EventKind::PredictedCartConfirmed,
            EventPayload::PredictedCartPostponed { .. } => EventKind::PredictedCartPostponed,
            EventPayload::PredictedCartDeclined { .. } => EventKind::PredictedCartDeclined,
        }
    }

    /// The segment a join or leave is about.
    pub fn segment_id(&self) -> Option<i64> {
        match self {
            EventPayload::SegmentJoined { segment_id }
            | EventPayload::SegmentLeft { segment_id } => Some(*segment_id),
            _ => None,
        }
    }

    /// The external ids of the products the event names.
    pub fn product_external_ids(&self) -> Vec<&str> {
        match self {
            EventPayload::ProductViewed {
                product_external_id,
            } => vec![product_external_id],
            EventPayload::AddedToCart { lines } | EventPayload::CartUpdated { lines } => lines
                .iter()
                .map(|l| l.product_external_id.as_str())
                .collect(),
            EventPayload::OrderPlaced(order) => order
                .lines
                .iter()
                .map(|l| l.product_external_id.as_str())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// One event as a storefront sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct EventInput {
    /// The client's idempotency key.
    pub event_id: String,
    pub customer_external_id: String,
    /// When it happened; the time of receipt when absent.
    pub occurred_at: Option<DateTime<Utc>>,
    pub payload: EventPayload,
}

/// When the oldest event not yet processed was received, if any is waiting (the processor's
/// lag; read through the index of pending events).
pub async fn oldest_pending_received_at(
    db: &impl sea_orm::ConnectionTrait,
) -> crate::error::AppResult<Option<i64>> {
    use entity::event;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    Ok(event::Entity::find()
        .select_only()
        .column(event::Column::ReceivedAt)
        .filter(event::Column::ProcessedAt.is_null())
        .order_by_asc(event::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_kind::segment_payload;

    #[test]
    fn a_segment_event_is_stored_in_the_shape_of_its_payload() {
        for (kind, payload) in [
            (
                EventKind::SegmentJoined,
                EventPayload::SegmentJoined { segment_id: 7 },
            ),
            (
                EventKind::SegmentLeft,
                EventPayload::SegmentLeft { segment_id: 7 },
            ),
        ] {
            let stored = segment_payload(kind, 7);
            assert_eq!(stored, serde_json::to_value(&payload).expect("json"));
            let read: EventPayload = serde_json::from_value(stored).expect("decodes");
            assert_eq!(read.kind(), kind);
        }
    }
}
