//! The checks of an ingest call that need no database: sizes, required fields, shapes, and
//! each event's content fingerprint.

use super::apply::validate_payload;
use super::{EventInput, EventPayload, MAX_BATCH};
use crate::clock::to_millis;
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// One event of a call, checked.
pub(super) struct Prepared {
    pub event_id: String,
    pub customer_external_id: String,
    pub occurred_at: i64,
    pub payload: EventPayload,
    pub fingerprint: String,
}

/// A call's events that passed every check that needs no database.
pub struct CheckedBatch {
    pub(super) prepared: Vec<Prepared>,
    /// When the call arrived.
    pub(super) now_ms: i64,
}

impl CheckedBatch {
    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.prepared.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prepared.is_empty()
    }
}

/// Checks a call's events: at most [`MAX_BATCH`], required fields, payload shapes.
pub fn check_batch(inputs: Vec<EventInput>, now: DateTime<Utc>) -> AppResult<CheckedBatch> {
    if inputs.len() > MAX_BATCH {
        return Err(AppError::invalid(
            &[],
            ViolationCode::OutOfRange,
            format!("at most {MAX_BATCH} events per call"),
        ));
    }
    let now_ms = to_millis(now);
    Ok(CheckedBatch {
        prepared: prepare(inputs, now_ms)?,
        now_ms,
    })
}

fn prepare(inputs: Vec<EventInput>, now_ms: i64) -> AppResult<Vec<Prepared>> {
    let mut checker = Checker::new();
    let mut prepared = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let mut c = Checker::new();
        let event_id = c.check("eventId", required_text(&input.event_id, MAX_TEXT));
        let customer = c.check(
            "customerExternalId",
            required_text(&input.customer_external_id, MAX_TEXT),
        );
        let mut payload_checks = Checker::new();
        validate_payload(&input.payload, &mut payload_checks);
        let mut nested = Checker::new();
        nested.absorb(
            payload_field(&input.payload),
            payload_checks.into_violations(),
        );
        c.absorb("payload", nested.into_violations());
        let fingerprint = fingerprint(&input)?;
        checker.absorb(&index.to_string(), c.into_violations());
        if let (Some(event_id), Some(customer_external_id)) = (event_id, customer) {
            prepared.push(Prepared {
                event_id,
                customer_external_id,
                occurred_at: input.occurred_at.map_or(now_ms, to_millis),
                payload: input.payload,
                fingerprint,
            });
        }
    }
    checker.finish()?;
    Ok(prepared)
}

/// What identifies an event's content: customer, the client's time (if given) and payload.
fn fingerprint(input: &EventInput) -> AppResult<String> {
    let canonical = serde_json::json!({
        "customer": input.customer_external_id.trim(),
        "occurredAt": input.occurred_at.map(to_millis),
        "payload": input.payload,
    });
    let bytes = serde_json::to_vec(&canonical).map_err(AppError::internal)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The GraphQL name of the payload field for an event's kind.
pub(super) fn payload_field(payload: &EventPayload) -> &'static str {
    match payload {
        EventPayload::Registered(_) => "registered",
        EventPayload::LoggedIn {} => "loggedIn",
        EventPayload::ProfileUpdated(_) => "profileUpdated",
        EventPayload::ProductViewed { .. } => "productViewed",
        EventPayload::AddedToCart { .. } => "addedToCart",
        EventPayload::CartUpdated { .. } => "cartUpdated",
        EventPayload::OrderPlaced(_) => "orderPlaced",
        EventPayload::OrderStatusChanged { .. } => "orderStatusChanged",
        EventPayload::PageVisited { .. } => "pageVisited",
        EventPayload::NewsletterSubscribed {} => "newsletterSubscribed",
        EventPayload::NewsletterUnsubscribed {} => "newsletterUnsubscribed",
        EventPayload::SegmentJoined { .. } => "segmentJoined",
        EventPayload::SegmentLeft { .. } => "segmentLeft",
        EventPayload::PredictedCartReady { .. } => "predictedCartReady",
        EventPayload::PredictedCartConfirmed { .. } => "predictedCartConfirmed",
        EventPayload::PredictedCartPostponed { .. } => "predictedCartPostponed",
        EventPayload::PredictedCartDeclined { .. } => "predictedCartDeclined",
    }
}
