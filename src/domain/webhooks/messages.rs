//! Reading and re-sending webhook messages: an endpoint's messages page by page (newest
//! first by default), each message's attempts, `replayWebhooks` (what failed, or everything,
//! since an instant, queued again with the same `webhook-id` and a fresh retry schedule), and
//! `sendTestWebhook` (a ping to one endpoint, enabled or not), and forgetting finished
//! messages after the retention period.

use super::endpoints::{Access, get};
use super::event::EventType;
use super::outbox::{Outgoing, Status, enqueue_to};
use crate::clock::to_millis;
use crate::db::{begin_write, in_list};
use crate::domain::page::{Page, PageRequest, fetch_page};
use crate::domain::records::group_by;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{webhook_attempt, webhook_message};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use std::collections::HashMap;

/// A page of endpoint `endpoint_id`'s messages, optionally of one status.
pub async fn page(
    db: &impl ConnectionTrait,
    endpoint_id: i64,
    status: Option<Status>,
    request: PageRequest,
) -> AppResult<Page<webhook_message::Model>> {
    let mut select =
        webhook_message::Entity::find().filter(webhook_message::Column::EndpointId.eq(endpoint_id));
    if let Some(status) = status {
        select = select.filter(webhook_message::Column::Status.eq(status.as_str()));
    }
    Ok(fetch_page(db, select, webhook_message::Column::Id, request).await?)
}

/// Message `id`, when `access` may see its endpoint.
pub async fn find(
    db: &impl ConnectionTrait,
    id: i64,
    access: Access,
) -> AppResult<Option<webhook_message::Model>> {
    let Some(message) = webhook_message::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    match super::endpoints::find(db, message.endpoint_id, access).await? {
        Some(_) => Ok(Some(message)),
        None => Ok(None),
    }
}

/// The attempts of each of `message_ids`, oldest first.
pub async fn attempts_of(
    db: &impl ConnectionTrait,
    message_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<webhook_attempt::Model>>> {
    let rows = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::MessageId.is_in(in_list(message_ids.iter().copied())))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await?;
    Ok(group_by(rows, |a| a.message_id))
}

/// Queues again endpoint `endpoint_id`'s messages written since `since` that failed (or, with
/// `everything`, that failed or succeeded), due now with a fresh retry schedule. Returns how
/// many.
pub async fn replay(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    endpoint_id: i64,
    access: Access,
    since: DateTime<Utc>,
    everything: bool,
) -> AppResult<u64> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    get(&txn, endpoint_id, access).await?;
    let statuses: &[&str] = if everything {
        &[Status::Failed.as_str(), Status::Succeeded.as_str()]
    } else {
        &[Status::Failed.as_str()]
    };
    let updated = webhook_message::Entity::update_many()
        .filter(webhook_message::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_message::Column::CreatedAt.gte(to_millis(since)))
        .filter(webhook_message::Column::Status.is_in(statuses.iter().copied()))
        .col_expr(
            webhook_message::Column::Status,
            Expr::value(Status::Queued.as_str()),
        )
        .col_expr(webhook_message::Column::DueAt, Expr::value(now_ms))
        .col_expr(webhook_message::Column::Attempts, Expr::value(0))
        .col_expr(
            webhook_message::Column::Reason,
            Expr::value("replayed".to_owned()),
        )
        .col_expr(webhook_message::Column::UpdatedAt, Expr::value(now_ms))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated.rows_affected)
}

/// Queues a `webhook.test` ping to endpoint `endpoint_id`; returns the message.
pub async fn send_test(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    endpoint_id: i64,
    access: Access,
) -> AppResult<webhook_message::Model> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    get(&txn, endpoint_id, access).await?;
    let ping = Outgoing {
        event_type: EventType::Test,
        customer_id: None,
        object_id: None,
        occurred_at: now_ms,
        data: json!({
            "endpointId": endpoint_id.to_string(),
            "message": "A test from Nudge: this endpoint receives signed webhooks.",
        }),
    };
    let id = enqueue_to(&txn, endpoint_id, &ping, now_ms).await?;
    let message = webhook_message::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| crate::error::AppError::internal("the test message was not written"))?;
    txn.commit().await?;
    Ok(message)
}

/// Messages looked at per statement when forgetting.
const FORGET_BATCH: u64 = 2_000;

/// Deletes finished messages (succeeded or failed) written before `cutoff_ms`, with their
/// attempts; returns how many. Walks the table by id (ids grow with creation time) and stops at
/// the first batch made entirely after the cutoff. Waiting messages are kept, however old.
pub async fn forget_before(db: &DatabaseConnection, cutoff_ms: i64) -> AppResult<u64> {
    let finished = [Status::Succeeded.as_str(), Status::Failed.as_str()];
    let mut after = 0_i64;
    let mut forgotten = 0;
    loop {
        let batch: Vec<(i64, i64)> = webhook_message::Entity::find()
            .select_only()
            .column(webhook_message::Column::Id)
            .column(webhook_message::Column::CreatedAt)
            .filter(webhook_message::Column::Id.gt(after))
            .order_by_asc(webhook_message::Column::Id)
            .limit(FORGET_BATCH)
            .into_tuple()
            .all(db)
            .await?;
        let (Some(&(first, first_at)), Some(&(last, _))) = (batch.first(), batch.last()) else {
            return Ok(forgotten);
        };
        if first_at >= cutoff_ms {
            return Ok(forgotten);
        }
        let txn = begin_write(db).await?;
        let old = Condition::all()
            .add(webhook_message::Column::Id.between(first, last))
            .add(webhook_message::Column::CreatedAt.lt(cutoff_ms))
            .add(webhook_message::Column::Status.is_in(finished));
        let deleted = super::outbox::delete_messages(&txn, old).await?;
        txn.commit().await?;
        forgotten += deleted;
        after = last;
    }
}

/// The webhook outbox's backlog for enabled endpoints: how many messages wait or are in
/// flight, and the oldest due time among those due by `now_ms`.
pub async fn backlog(db: &impl ConnectionTrait, now_ms: i64) -> AppResult<(i64, Option<i64>)> {
    let row = db
        .query_one_raw(crate::db::raw_statement(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n, MIN(CASE WHEN m.due_at <= ? THEN m.due_at END) AS oldest \
             FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id \
             WHERE m.status IN ('queued', 'sending') AND e.disabled_at IS NULL",
            [sea_orm::Value::from(now_ms)],
        ))
        .await?;
    let Some(row) = row else {
        return Ok((0, None));
    };
    Ok((row.try_get("", "n")?, row.try_get("", "oldest")?))
}
