//! Putting messages in the outbox, once: a delivery's key (a firing's effect, a run's step)
//! makes a second copy impossible, so a repeated tick or event queues nothing twice.

use super::{Purpose, Status};
use crate::db::{PARAMETER_BYTES, statement_chunks};
use crate::domain::stats::{self, Dims, Fact, Metric};
use crate::domain::templates::Channel;
use crate::error::AppResult;
use entity::delivery;
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};
use std::collections::HashMap;

/// Deliveries per statement, at most.
const ROWS: usize = 200;

/// A message to queue. Texts are templates, rendered when sent.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub dedupe_key: String,
    pub channel: Channel,
    pub purpose: Purpose,
    pub customer_id: Option<i64>,
    /// Set for staff and test messages; others go to the customer's address.
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    pub action_id: Option<i64>,
    pub firing_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub run_id: Option<i64>,
    /// The campaign step that queues it.
    pub step_id: Option<String>,
    pub template_id: Option<i64>,
}

/// Queues `new`, due at `now_ms`, unless a delivery with its key exists already.
pub async fn enqueue(db: &impl ConnectionTrait, new: NewDelivery, now_ms: i64) -> AppResult<()> {
    enqueue_many(db, vec![new], now_ms).await
}

/// Queues every one of `news`, due at `now_ms`, a statement for many; one whose key exists
/// already is left out. Each marketing message queued is counted ([`stats`]).
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    news: Vec<NewDelivery>,
    now_ms: i64,
) -> AppResult<()> {
    let news_dims: HashMap<String, Dims> = news
        .iter()
        .filter(|new| new.purpose.is_marketing())
        .map(|new| {
            let dims = Dims {
                channel: Some(new.channel.as_str().to_owned()),
                campaign_id: new.campaign_id,
                step_id: new.step_id.clone(),
                action_id: new.action_id,
                template_id: new.template_id,
                locale: None,
                segment_id: None,
            };
            (new.dedupe_key.clone(), dims)
        })
        .collect();
    let rows: Vec<delivery::ActiveModel> = news
        .into_iter()
        .map(|new| delivery::ActiveModel {
            id: ActiveValue::NotSet,
            dedupe_key: ActiveValue::Set(new.dedupe_key),
            channel: ActiveValue::Set(new.channel.as_str().to_owned()),
            purpose: ActiveValue::Set(new.purpose.as_str().to_owned()),
            customer_id: ActiveValue::Set(new.customer_id),
            recipient: ActiveValue::Set(new.recipient),
            subject: ActiveValue::Set(new.subject),
            body_html: ActiveValue::Set(new.body_html),
            body_text: ActiveValue::Set(new.body_text),
            status: ActiveValue::Set(Status::Queued.as_str().to_owned()),
            action_id: ActiveValue::Set(new.action_id),
            firing_id: ActiveValue::Set(new.firing_id),
            created_at: ActiveValue::Set(now_ms),
            due_at: ActiveValue::Set(now_ms),
            campaign_id: ActiveValue::Set(new.campaign_id),
            run_id: ActiveValue::Set(new.run_id),
            template_id: ActiveValue::Set(new.template_id),
            step_id: ActiveValue::Set(new.step_id.clone()),
            ..Default::default()
        })
        .collect();
    let counted: HashMap<String, Dims> = news_dims;
    let text = |v: &ActiveValue<Option<String>>| match v {
        ActiveValue::Set(Some(s)) => s.len(),
        _ => 0,
    };
    let size = |row: &delivery::ActiveModel| {
        let key = match &row.dedupe_key {
            ActiveValue::Set(key) => key.len(),
            _ => 0,
        };
        key + text(&row.recipient)
            + text(&row.subject)
            + text(&row.body_html)
            + text(&row.body_text)
            + 20 * PARAMETER_BYTES
            + 96
    };
    let backend = db.get_database_backend();
    let mut facts = Vec::new();
    for chunk in statement_chunks(backend, &rows, ROWS, false, size) {
        let mut insert = delivery::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(delivery::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .into_query();
        // Only the rows inserted come back: a key that existed is not queued (nor counted) again.
        insert.returning(Query::returning().column(delivery::Column::DedupeKey));
        for row in db.query_all(&insert).await? {
            let key: String = row.try_get("", "dedupe_key")?;
            if let Some(dims) = counted.get(&key) {
                facts.push(Fact::one(Metric::Queued, dims.clone(), now_ms, now_ms));
            }
        }
    }
    stats::note(db, facts).await
}

/// The id of the delivery with key `dedupe_key`, if there is one.
pub async fn id_of(db: &impl ConnectionTrait, dedupe_key: &str) -> AppResult<Option<i64>> {
    Ok(delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(delivery::Column::DedupeKey.eq(dedupe_key))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .pop())
}
