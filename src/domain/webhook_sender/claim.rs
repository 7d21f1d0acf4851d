//! Claiming due webhook messages, in order per customer: a message is taken only when no
//! earlier message about the same customer for the same endpoint is still waiting or in
//! flight, so a later change never overtakes an earlier one; messages about different
//! customers (and about none) go in parallel. Messages to a disabled endpoint wait (a test
//! ping goes anyway). Leases, attempts and take-over are the shared ones
//! ([`crate::domain::lease`]).

use crate::db::{begin_write, raw_statement};
use crate::domain::lease;
use crate::domain::webhooks::changes;
use crate::domain::webhooks::endpoints::Endpoint;
use crate::domain::webhooks::event::EventType;
use crate::domain::webhooks::outbox::Status;
use crate::error::AppResult;
use entity::{webhook_endpoint, webhook_message};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Value,
};
use std::collections::HashMap;
use std::sync::Arc;

/// A message this process may now send.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub message: webhook_message::Model,
    pub endpoint: Arc<Endpoint>,
    /// What every attempt sends.
    pub body: String,
    /// Whether the body was made for this attempt (and is to be kept with its outcome).
    pub new_body: bool,
}

/// Messages still to send (the text the partial indexes are declared with).
const WAITING: &str = "m.status IN ('queued', 'sending')";

/// Claims up to `limit` due messages for `owner`, leased until `lease_until`.
pub async fn claim_due(
    db: &DatabaseConnection,
    now_ms: i64,
    owner: &str,
    limit: usize,
    lease_until: i64,
) -> AppResult<Vec<Claimed>> {
    // Look before taking the write lock: an idle sender must not hold up SQLite's writer.
    let backend = db.get_database_backend();
    let any = db
        .query_one_raw(raw_statement(
            backend,
            &format!(
                "SELECT m.id FROM webhook_messages m WHERE {WAITING} AND m.due_at <= ? LIMIT 1"
            ),
            [Value::from(now_ms)],
        ))
        .await?;
    if any.is_none() {
        return Ok(Vec::new());
    }
    let txn = begin_write(db).await?;
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE OF m SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "SELECT m.id FROM webhook_messages m \
         JOIN webhook_endpoints e ON e.id = m.endpoint_id \
         WHERE {WAITING} AND m.due_at <= ? \
         AND (e.disabled_at IS NULL OR m.event_type = ?) \
         AND (m.customer_id IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_messages p \
              WHERE p.endpoint_id = m.endpoint_id AND p.customer_id = m.customer_id \
              AND p.id < m.id AND p.status IN ('queued', 'sending'))) \
         ORDER BY m.due_at, m.id LIMIT ?{lock}"
    );
    let rows = txn
        .query_all_raw(raw_statement(
            backend,
            &sql,
            [
                Value::from(now_ms),
                Value::from(EventType::Test.as_str()),
                Value::from(limit as i64),
            ],
        ))
        .await?;
    let ids: Vec<i64> = rows
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let messages = webhook_message::Entity::find()
        .filter(webhook_message::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(webhook_message::Column::Id)
        .all(&txn)
        .await?;
    let mut endpoint_ids: Vec<i64> = messages.iter().map(|m| m.endpoint_id).collect();
    endpoint_ids.sort_unstable();
    endpoint_ids.dedup();
    let mut endpoints: HashMap<i64, Arc<Endpoint>> = HashMap::new();
    for model in webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids))
        .all(&txn)
        .await?
    {
        endpoints.insert(model.id, Arc::new(Endpoint::decode(model)?));
    }
    let missing: Vec<i64> = messages
        .iter()
        .filter(|m| m.payload.is_none())
        .filter_map(|m| m.change_id)
        .collect();
    let made = changes::bodies(&txn, &missing).await?;
    let mut claimed = Vec::with_capacity(messages.len());
    let mut lost = Vec::new();
    for message in messages {
        let body = match (&message.payload, message.change_id) {
            (Some(body), _) => Some((body.clone(), false)),
            (None, Some(change)) => made.get(&change).map(|body| (body.clone(), true)),
            (None, None) => None,
        };
        match (body, endpoints.get(&message.endpoint_id)) {
            (Some((body, new_body)), Some(endpoint)) => claimed.push(Claimed {
                endpoint: endpoint.clone(),
                message,
                body,
                new_body,
            }),
            _ => lost.push(message.id),
        }
    }
    if !lost.is_empty() {
        // The change it was about went with its customer's erasure.
        let update = webhook_message::Entity::update_many()
            .filter(webhook_message::Column::Id.is_in(lost))
            .col_expr(
                webhook_message::Column::Reason,
                Expr::value("what it was about no longer exists (erased)"),
            );
        lease::release(update, Status::Failed.as_str(), now_ms)
            .exec(&txn)
            .await?;
    }
    if !claimed.is_empty() {
        let ids = claimed.iter().map(|c| c.message.id);
        lease::take::<webhook_message::Entity>(ids, owner, lease_until, now_ms)
            .exec(&txn)
            .await?;
        for c in &mut claimed {
            c.message.attempts += 1;
            c.message.lease_owner = Some(owner.to_owned());
        }
    }
    txn.commit().await?;
    Ok(claimed)
}
