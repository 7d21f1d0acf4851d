//! Outcomes of messages to customers, told to webhook endpoints in the transaction that
//! records them: `message.sent`, `message.delivered`, `message.failed`, `message.bounced`,
//! `message.opened` (a person's: machine opens are not told), `message.clicked` and
//! `message.unsubscribed`. `data` is `{ message: { id, channel, purpose, campaignId, runId,
//! stepId, actionId }, customer, … }` with what the outcome adds (`reason`, `url`, `first`,
//! `source`). Messages to staff and test messages have no customer and are not told.

use crate::domain::webhooks::event::EventType;
use crate::domain::webhooks::outbox::{Outgoing, customer_refs, enqueue};
use crate::error::AppResult;
use entity::delivery;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// One outcome to tell.
pub struct Told {
    pub event_type: EventType,
    pub delivery: delivery::Model,
    pub at_ms: i64,
    /// Fields added to `data` (an object), such as `{ "reason": … }`.
    pub extra: Value,
}

/// Queues a webhook message per outcome for each endpoint that wants it.
pub async fn tell(txn: &impl ConnectionTrait, told: Vec<Told>, now_ms: i64) -> AppResult<()> {
    let told: Vec<Told> = told
        .into_iter()
        .filter(|t| t.delivery.customer_id.is_some())
        .collect();
    if told.is_empty() {
        return Ok(());
    }
    let customers = customer_refs(txn, told.iter().filter_map(|t| t.delivery.customer_id)).await?;
    let events = told
        .into_iter()
        .map(|t| {
            let d = &t.delivery;
            let id = |v: Option<i64>| v.map(|id| id.to_string());
            let mut data = json!({
                "message": {
                    "id": d.id.to_string(),
                    "channel": d.channel,
                    "purpose": d.purpose,
                    "campaignId": id(d.campaign_id),
                    "runId": id(d.run_id),
                    "stepId": d.step_id,
                    "actionId": id(d.action_id),
                },
                "customer": d.customer_id.and_then(|c| customers.get(&c).cloned()),
            });
            if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), t.extra) {
                data.extend(extra);
            }
            Outgoing {
                event_type: t.event_type,
                customer_id: d.customer_id,
                object_id: None,
                occurred_at: t.at_ms,
                data,
            }
        })
        .collect();
    enqueue(txn, events, now_ms).await
}
