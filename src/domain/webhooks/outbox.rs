//! The webhook outbox: a message per (event, endpoint that wants it), written in the same
//! transaction as what caused it, so a crash loses none. Rows are claimed and retried through
//! the shared leases ([`crate::domain::lease`]) by the webhook sender.
//!
//! Membership changes fan out in one statement per write, set-based, straight from the change
//! log (a segment build logs hundreds of thousands at once); their bodies are made when first
//! sent. Every other event carries its body from the start.

use super::event::{EventType, envelope};
use crate::db::{in_list, raw_statement};
use crate::domain::lease::{self, LeaseColumns, Leased};
use crate::error::AppResult;
use crate::events::MembershipKind;
use entity::{customer, webhook_attempt, webhook_endpoint, webhook_message, webhook_subscription};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, QueryFilter,
    QuerySelect, QueryTrait, RelationTrait, Value,
};
use serde_json::Value as Json;
use std::collections::HashMap;

impl Leased for webhook_message::Entity {
    fn lease_columns() -> LeaseColumns<webhook_message::Column> {
        LeaseColumns {
            id: webhook_message::Column::Id,
            status: webhook_message::Column::Status,
            due_at: webhook_message::Column::DueAt,
            attempts: webhook_message::Column::Attempts,
            lease_owner: webhook_message::Column::LeaseOwner,
            lease_until: webhook_message::Column::LeaseUntil,
            updated_at: webhook_message::Column::UpdatedAt,
        }
    }
}

/// Where a message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Queued,
    Sending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Given up: out of attempts, `410 Gone`, or it could never be sent (with the reason).
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Queued,
        Status::Sending,
        Status::Succeeded,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => lease::QUEUED,
            Status::Sending => lease::SENDING,
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }

    /// The status a stored row names; `None` for text Nudge never writes.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// The `webhook-id` of a message: unique to it, the same on every attempt.
pub fn message_id(m: &webhook_message::Model) -> String {
    format!("msg_{:x}{:06x}", m.created_at, m.id)
}

/// Which logged membership changes to fan out.
pub enum Logged<'a> {
    /// These changes (rows of the log, by id).
    Ids(&'a [i64]),
    /// The changes of one segment logged after `after` and not fanned out yet.
    Segment { segment_id: i64, after: i64 },
}

const KINDS: [MembershipKind; 6] = [
    MembershipKind::RoleAssigned,
    MembershipKind::RoleRemoved,
    MembershipKind::TagSet,
    MembershipKind::TagRemoved,
    MembershipKind::SegmentJoined,
    MembershipKind::SegmentLeft,
];

/// Writes a message for each of the `logged` changes and each enabled endpoint subscribed to
/// it (its type, and its role, tag or segment when the subscription names one), due now.
/// Returns how many it wrote.
pub async fn enqueue_changes(
    txn: &impl ConnectionTrait,
    logged: Logged<'_>,
    now_ms: i64,
) -> AppResult<u64> {
    let types: Vec<&str> = match logged {
        Logged::Ids([]) => return Ok(0),
        Logged::Ids(_) => KINDS
            .iter()
            .map(|k| EventType::of_change(*k).as_str())
            .collect(),
        Logged::Segment { .. } => vec![
            EventType::SegmentJoined.as_str(),
            EventType::SegmentLeft.as_str(),
        ],
    };
    // The one look every write pays when nobody listens.
    if !anyone_subscribed(txn, &types).await? {
        return Ok(0);
    }
    let backend = txn.get_database_backend();
    let mapping: String = KINDS
        .iter()
        .map(|k| {
            format!(
                "WHEN '{}' THEN '{}' ",
                k.as_str(),
                EventType::of_change(*k).as_str()
            )
        })
        .collect();
    let mut values: Vec<Value> = vec![now_ms.into(), now_ms.into()];
    let scope = match logged {
        Logged::Ids(ids) => {
            let ids = in_list(ids.iter().copied());
            let marks = vec!["?"; ids.len()].join(",");
            values.extend(ids.into_iter().map(Value::from));
            format!("mc.id IN ({marks})")
        }
        Logged::Segment { segment_id, after } => {
            values.extend([Value::from(segment_id), Value::from(after)]);
            // Another refresh of the segment (other customers) may have committed its changes
            // after `after` was read: it wrote their messages itself.
            "mc.segment_id = ? AND mc.id > ? AND NOT EXISTS (SELECT 1 FROM webhook_messages w \
             WHERE w.change_id = mc.id AND w.endpoint_id = s.endpoint_id)"
                .to_owned()
        }
    };
    let sql = format!(
        "INSERT INTO webhook_messages (endpoint_id, event_type, customer_id, change_id, \
         occurred_at, created_at, status, due_at, attempts) \
         SELECT s.endpoint_id, s.event_type, mc.customer_id, mc.id, mc.occurred_at, ?, \
         'queued', ?, 0 FROM membership_changes mc \
         JOIN webhook_subscriptions s ON s.event_type = CASE mc.kind {mapping}END \
         AND (s.object_id IS NULL OR s.object_id = COALESCE(mc.role_id, mc.tag_id, mc.segment_id)) \
         JOIN webhook_endpoints e ON e.id = s.endpoint_id AND e.disabled_at IS NULL \
         WHERE {scope} ORDER BY mc.id, s.endpoint_id"
    );
    let written = txn
        .execute_raw(raw_statement(backend, &sql, values))
        .await?;
    Ok(written.rows_affected())
}

/// Whether an endpoint subscribes to any of `types`.
async fn anyone_subscribed(txn: &impl ConnectionTrait, types: &[&str]) -> AppResult<bool> {
    let found: Option<i64> = webhook_subscription::Entity::find()
        .select_only()
        .column(webhook_subscription::Column::EndpointId)
        .filter(webhook_subscription::Column::EventType.is_in(types.iter().copied()))
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(found.is_some())
}

/// An event other than a membership change, about to be sent.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub event_type: EventType,
    /// The customer it is about (messages about one customer keep their order).
    pub customer_id: Option<i64>,
    /// The role, tag or segment a subscription may narrow it to.
    pub object_id: Option<i64>,
    pub occurred_at: i64,
    pub data: Json,
}

/// Each of `customer_ids` as `data` names a customer (`{ id, externalId }`); a customer that
/// no longer exists is left out.
pub async fn customer_refs(
    txn: &impl ConnectionTrait,
    customer_ids: impl IntoIterator<Item = i64>,
) -> AppResult<HashMap<i64, Json>> {
    let mut ids: Vec<i64> = customer_ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .column(customer::Column::ExternalId)
        .filter(customer::Column::Id.is_in(ids))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, external)| (id, super::event::customer(id, &external)))
        .collect())
}

/// Writes a message for each event and each enabled endpoint subscribed to it.
pub async fn enqueue(
    txn: &impl ConnectionTrait,
    events: Vec<Outgoing>,
    now_ms: i64,
) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let subscriptions: Vec<(i64, String, Option<i64>)> = webhook_subscription::Entity::find()
        .select_only()
        .column(webhook_subscription::Column::EndpointId)
        .column(webhook_subscription::Column::EventType)
        .column(webhook_subscription::Column::ObjectId)
        .join(
            JoinType::InnerJoin,
            webhook_subscription::Relation::Endpoint.def(),
        )
        .filter(webhook_subscription::Column::EventType.is_in(types))
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::new();
    for event in &events {
        let mut endpoints: Vec<i64> = subscriptions
            .iter()
            .filter(|(_, t, object)| {
                t == event.event_type.as_str() && object.is_none_or(|o| Some(o) == event.object_id)
            })
            .map(|(endpoint, _, _)| *endpoint)
            .collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        if endpoints.is_empty() {
            continue;
        }
        let body = envelope(event.event_type, event.occurred_at, &event.data);
        rows.extend(
            endpoints
                .into_iter()
                .map(|endpoint| row(endpoint, event, body.clone(), now_ms)),
        );
    }
    for chunk in rows.chunks(200) {
        webhook_message::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Writes one message for `event` to endpoint `endpoint_id`, whatever it subscribes to (a
/// test ping); returns its id.
pub async fn enqueue_to(
    txn: &impl ConnectionTrait,
    endpoint_id: i64,
    event: &Outgoing,
    now_ms: i64,
) -> AppResult<i64> {
    let body = envelope(event.event_type, event.occurred_at, &event.data);
    let inserted = webhook_message::Entity::insert(row(endpoint_id, event, body, now_ms))
        .exec(txn)
        .await?;
    Ok(inserted.last_insert_id)
}

/// Writes one message for each `(endpoint, key, event)`, whatever the endpoint subscribes to
/// (`callWebhook` effects), unless a message with its key was written before.
pub async fn enqueue_once(
    txn: &impl ConnectionTrait,
    calls: Vec<(i64, String, Outgoing)>,
    now_ms: i64,
) -> AppResult<()> {
    for (endpoint_id, key, event) in calls {
        let body = envelope(event.event_type, event.occurred_at, &event.data);
        let mut row = row(endpoint_id, &event, body, now_ms);
        row.dedupe_key = ActiveValue::Set(Some(key));
        webhook_message::Entity::insert(row)
            .on_conflict(
                OnConflict::column(webhook_message::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

fn row(
    endpoint_id: i64,
    event: &Outgoing,
    body: String,
    now_ms: i64,
) -> webhook_message::ActiveModel {
    webhook_message::ActiveModel {
        id: ActiveValue::NotSet,
        endpoint_id: ActiveValue::Set(endpoint_id),
        event_type: ActiveValue::Set(event.event_type.as_str().to_owned()),
        customer_id: ActiveValue::Set(event.customer_id),
        change_id: ActiveValue::Set(None),
        payload: ActiveValue::Set(Some(body)),
        occurred_at: ActiveValue::Set(event.occurred_at),
        created_at: ActiveValue::Set(now_ms),
        status: ActiveValue::Set(Status::Queued.as_str().to_owned()),
        due_at: ActiveValue::Set(now_ms),
        attempts: ActiveValue::Set(0),
        lease_owner: ActiveValue::Set(None),
        lease_until: ActiveValue::Set(None),
        reason: ActiveValue::Set(None),
        updated_at: ActiveValue::Set(Some(now_ms)),
        dedupe_key: ActiveValue::Set(None),
    }
}

/// Deletes a customer's messages and their attempts (erasure: what they carry goes with them).
pub async fn forget_customer(txn: &impl ConnectionTrait, customer_id: i64) -> AppResult<()> {
    let theirs = Condition::all().add(webhook_message::Column::CustomerId.eq(customer_id));
    delete_messages(txn, theirs).await?;
    Ok(())
}

/// Deletes the messages `which` selects, with their attempts; returns how many messages.
pub async fn delete_messages(txn: &impl ConnectionTrait, which: Condition) -> AppResult<u64> {
    let selected = webhook_message::Entity::find()
        .select_only()
        .column(webhook_message::Column::Id)
        .filter(which.clone())
        .into_query();
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::MessageId.in_subquery(selected))
        .exec(txn)
        .await?;
    let deleted = webhook_message::Entity::delete_many()
        .filter(which)
        .exec(txn)
        .await?;
    Ok(deleted.rows_affected)
}
