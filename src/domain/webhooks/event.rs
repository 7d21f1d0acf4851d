//! What a webhook message can be about, and the one envelope every message is sent in:
//! `{ "type": "…", "timestamp": "…", "data": { … } }`. The type names and the `data` shapes are
//! documented in README.md and stable.

use crate::clock::from_millis;
use crate::events::MembershipKind;
use chrono::SecondsFormat;
use serde_json::{Value, json};

/// A webhook event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    RoleAssigned,
    RoleRemoved,
    TagSet,
    TagRemoved,
    SegmentJoined,
    SegmentLeft,
    MessageSent,
    MessageDelivered,
    MessageFailed,
    MessageBounced,
    MessageOpened,
    MessageClicked,
    MessageUnsubscribed,
    RunConverted,
    /// A customer action's or campaign step's `callWebhook` effect.
    Call,
    CartConfirmed,
    CartPostponed,
    CartDeclined,
    /// `sendTestWebhook`: sent to the one endpoint asked, whatever it subscribes to.
    Test,
}

/// Which ids narrow an endpoint's subscription to an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Roles,
    Tags,
    Segments,
    Other,
}

impl EventType {
    /// Every type an endpoint may subscribe to (a test ping is sent without one).
    pub const SUBSCRIBABLE: [EventType; 18] = [
        EventType::RoleAssigned,
        EventType::RoleRemoved,
        EventType::TagSet,
        EventType::TagRemoved,
        EventType::SegmentJoined,
        EventType::SegmentLeft,
        EventType::MessageSent,
        EventType::MessageDelivered,
        EventType::MessageFailed,
        EventType::MessageBounced,
        EventType::MessageOpened,
        EventType::MessageClicked,
        EventType::MessageUnsubscribed,
        EventType::RunConverted,
        EventType::Call,
        EventType::CartConfirmed,
        EventType::CartPostponed,
        EventType::CartDeclined,
    ];

    /// The name in the envelope's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RoleAssigned => "role.assigned",
            EventType::RoleRemoved => "role.removed",
            EventType::TagSet => "tag.set",
            EventType::TagRemoved => "tag.removed",
            EventType::SegmentJoined => "segment.joined",
            EventType::SegmentLeft => "segment.left",
            EventType::MessageSent => "message.sent",
            EventType::MessageDelivered => "message.delivered",
            EventType::MessageFailed => "message.failed",
            EventType::MessageBounced => "message.bounced",
            EventType::MessageOpened => "message.opened",
            EventType::MessageClicked => "message.clicked",
            EventType::MessageUnsubscribed => "message.unsubscribed",
            EventType::RunConverted => "campaign_run.converted",
            EventType::Call => "customer.called",
            EventType::CartConfirmed => "predicted_cart.confirmed",
            EventType::CartPostponed => "predicted_cart.postponed",
            EventType::CartDeclined => "predicted_cart.declined",
            EventType::Test => "webhook.test",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([EventType::Test])
            .find(|t| t.as_str() == s)
    }

    pub fn family(self) -> Family {
        match self {
            EventType::RoleAssigned | EventType::RoleRemoved => Family::Roles,
            EventType::TagSet | EventType::TagRemoved => Family::Tags,
            EventType::SegmentJoined | EventType::SegmentLeft => Family::Segments,
            _ => Family::Other,
        }
    }

    /// The type a logged membership change is sent as.
    pub fn of_change(kind: MembershipKind) -> Self {
        match kind {
            MembershipKind::RoleAssigned => EventType::RoleAssigned,
            MembershipKind::RoleRemoved => EventType::RoleRemoved,
            MembershipKind::TagSet => EventType::TagSet,
            MembershipKind::TagRemoved => EventType::TagRemoved,
            MembershipKind::SegmentJoined => EventType::SegmentJoined,
            MembershipKind::SegmentLeft => EventType::SegmentLeft,
        }
    }
}

/// The envelope every message is sent in.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    r#type: &'static str,
    timestamp: String,
    data: &'a Value,
}

/// The body of a message: the envelope around `data`, as compact JSON.
pub fn envelope(event_type: EventType, occurred_at_ms: i64, data: &Value) -> String {
    let envelope = Envelope {
        r#type: event_type.as_str(),
        timestamp: from_millis(occurred_at_ms).to_rfc3339_opts(SecondsFormat::Millis, true),
        data,
    };
    // A struct of a string and a JSON value always serializes.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// A customer as `data` names one.
pub fn customer(id: i64, external_id: &str) -> Value {
    json!({ "id": id.to_string(), "externalId": external_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_from_its_name_and_membership_kinds_map_to_their_family() {
        for t in EventType::SUBSCRIBABLE.into_iter().chain([EventType::Test]) {
            assert_eq!(EventType::from_stored(t.as_str()), Some(t));
        }
        assert_eq!(EventType::from_stored("role.assigned "), None);
        assert_eq!(
            EventType::of_change(MembershipKind::SegmentLeft).family(),
            Family::Segments
        );
    }

    #[test]
    fn the_envelope_carries_the_type_the_instant_and_the_data() {
        let body = envelope(EventType::TagSet, 1_614_265_330_000, &json!({ "a": 1 }));
        assert_eq!(
            body,
            r#"{"type":"tag.set","timestamp":"2021-02-25T15:02:10.000Z","data":{"a":1}}"#
        );
    }
}
