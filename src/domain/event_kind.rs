//! The kinds of events, named in one leaf: ingest records them, the processor reacts to them,
//! and segments record their joins and leaves as events of their own kinds.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Registered,
    LoggedIn,
    ProfileUpdated,
    ProductViewed,
    AddedToCart,
    CartUpdated,
    OrderPlaced,
    OrderStatusChanged,
    PageVisited,
    NewsletterSubscribed,
    NewsletterUnsubscribed,
    /// The customer joined a segment (Nudge records it; storefronts cannot).
    SegmentJoined,
    /// The customer left a segment (Nudge records it; storefronts cannot).
    SegmentLeft,
    /// A predicted cart was gathered for the customer (Nudge records it when a campaign or a
    /// customer action listens).
    PredictedCartReady,
    /// The customer confirmed a predicted cart (Nudge records it).
    PredictedCartConfirmed,
    /// The customer postponed a predicted cart (Nudge records it).
    PredictedCartPostponed,
    /// The customer has enough of what a predicted cart held (Nudge records it).
    PredictedCartDeclined,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
        EventKind::Registered,
        EventKind::LoggedIn,
        EventKind::ProfileUpdated,
        EventKind::ProductViewed,
        EventKind::AddedToCart,
        EventKind::CartUpdated,
        EventKind::OrderPlaced,
        EventKind::OrderStatusChanged,
        EventKind::PageVisited,
        EventKind::NewsletterSubscribed,
        EventKind::NewsletterUnsubscribed,
        EventKind::SegmentJoined,
        EventKind::SegmentLeft,
        EventKind::PredictedCartReady,
        EventKind::PredictedCartConfirmed,
        EventKind::PredictedCartPostponed,
        EventKind::PredictedCartDeclined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "registered",
            EventKind::LoggedIn => "logged_in",
            EventKind::ProfileUpdated => "profile_updated",
            EventKind::ProductViewed => "product_viewed",
            EventKind::AddedToCart => "added_to_cart",
            EventKind::CartUpdated => "cart_updated",
            EventKind::OrderPlaced => "order_placed",
            EventKind::OrderStatusChanged => "order_status_changed",
            EventKind::PageVisited => "page_visited",
            EventKind::NewsletterSubscribed => "newsletter_subscribed",
            EventKind::NewsletterUnsubscribed => "newsletter_unsubscribed",
            EventKind::SegmentJoined => "segment_joined",
            EventKind::SegmentLeft => "segment_left",
            EventKind::PredictedCartReady => "predicted_cart_ready",
            EventKind::PredictedCartConfirmed => "predicted_cart_confirmed",
            EventKind::PredictedCartPostponed => "predicted_cart_postponed",
            EventKind::PredictedCartDeclined => "predicted_cart_declined",
        }
    }

    /// Whether Nudge records events of this kind itself (a segment's joins and leaves, a
    /// predicted cart's decision).
    pub fn is_internal(self) -> bool {
        matches!(
            self,
            EventKind::SegmentJoined
                | EventKind::SegmentLeft
                | EventKind::PredictedCartReady
                | EventKind::PredictedCartConfirmed
                | EventKind::PredictedCartPostponed
                | EventKind::PredictedCartDeclined
        )
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The payload of the event that records a customer joining (`SegmentJoined`) or leaving
/// (`SegmentLeft`) segment `segment_id`, as stored: the shape of
/// [`crate::domain::ingest::EventPayload`] (a test there holds the two together).
pub fn segment_payload(kind: EventKind, segment_id: i64) -> serde_json::Value {
    let field = match kind {
        EventKind::SegmentLeft => "segmentLeft",
        _ => "segmentJoined",
    };
    serde_json::json!({ field: { "segmentId": segment_id } })
}
