//! Statistics: exact figures for the shop, each channel, campaign, campaign step, customer
//! action, template and template variant, per day.
//!
//! Every write that changes a figure notes a [`Fact`] in its own transaction ([`note`]): an
//! append-only row, so the write never waits on a shared counter and a rolled-back write (or
//! savepoint) takes its facts with it. The folder ([`fold`]) moves facts into per-scope,
//! per-day sums and deletes them in one transaction, so each fact counts once whatever
//! crashes; a read ([`read`]) adds the sums and the few facts not folded yet, so figures are
//! exact at any moment without scanning deliveries or tracking events. Orders are credited to
//! one message by the orders area (`orders::credit`), which notes its facts here.

pub mod days;
pub mod fold;
pub mod machine;
pub mod metric;
pub mod read;
pub mod scope;

pub use metric::Metric;
pub use scope::{Dims, Scope};

use crate::db::{PARAMETER_BYTES, statement_chunks};
use crate::error::AppResult;
use entity::{delivery, stat_fact};
use sea_orm::{ActiveValue, ConnectionTrait, EntityTrait};
use std::sync::atomic::{AtomicBool, Ordering};

/// Rows per statement, at most.
const ROWS: usize = 400;

/// A change to one figure: `delta` of `metric` (with its `key`: a reason, a link) that
/// happened at `at_ms`, in the cohort of `cohort_ms` (the send of the message, the entry of
/// the run), for what `dims` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    pub metric: Metric,
    pub key: String,
    pub at_ms: i64,
    pub cohort_ms: i64,
    pub delta: i64,
    pub dims: Dims,
}

impl Fact {
    /// One more of `metric` at `at_ms`, in the cohort of `cohort_ms`.
    pub fn one(metric: Metric, dims: Dims, at_ms: i64, cohort_ms: i64) -> Self {
        Fact {
            metric,
            key: String::new(),
            at_ms,
            cohort_ms,
            delta: 1,
            dims,
        }
    }

    /// The same fact with `key`.
    pub fn keyed(mut self, key: impl Into<String>) -> Self {
        self.key = scope::clip_key(key.into());
        self
    }

    /// The same fact counting `delta`.
    pub fn times(mut self, delta: i64) -> Self {
        self.delta = delta;
        self
    }

    /// A fact about a message not sent (yet): its cohort is the time it happened.
    pub fn of_message(metric: Metric, d: &delivery::Model, at_ms: i64) -> Self {
        Fact::one(metric, Dims::of_delivery(d), at_ms, at_ms)
    }

    /// A fact about a sent message: its variant counts, and its send is the cohort.
    pub fn of_sent(metric: Metric, d: &delivery::Model, at_ms: i64) -> Self {
        let dims = Dims::of_sent(d, d.locale.as_deref());
        Fact::one(metric, dims, at_ms, d.sent_at.unwrap_or(at_ms))
    }
}

/// Whether facts are noted. Always on in the server; the statistics benchmark turns it off to
/// measure what keeping figures costs the writes that change them.
static RECORDING: AtomicBool = AtomicBool::new(true);

/// Turns noting facts on or off for this process (benchmarks only: figures stay exact only
/// while it is on).
pub fn set_recording(on: bool) {
    RECORDING.store(on, Ordering::Relaxed);
}

/// Notes `facts` inside the caller's transaction.
pub async fn note(db: &impl ConnectionTrait, facts: Vec<Fact>) -> AppResult<()> {
    if !RECORDING.load(Ordering::Relaxed) {
        return Ok(());
    }
    let rows: Vec<stat_fact::ActiveModel> = facts
        .into_iter()
        .filter(|f| f.delta != 0)
        .map(|f| stat_fact::ActiveModel {
            id: ActiveValue::NotSet,
            metric: ActiveValue::Set(f.metric.as_str().to_owned()),
            key: ActiveValue::Set(f.key),
            at: ActiveValue::Set(f.at_ms),
            cohort: ActiveValue::Set(f.cohort_ms),
            delta: ActiveValue::Set(f.delta),
            channel: ActiveValue::Set(f.dims.channel),
            campaign_id: ActiveValue::Set(f.dims.campaign_id),
            step_id: ActiveValue::Set(f.dims.step_id),
            action_id: ActiveValue::Set(f.dims.action_id),
            template_id: ActiveValue::Set(f.dims.template_id),
            locale: ActiveValue::Set(f.dims.locale),
            segment_id: ActiveValue::Set(f.dims.segment_id),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let text = |v: &ActiveValue<String>| match v {
        ActiveValue::Set(s) => s.len(),
        _ => 0,
    };
    let size = |row: &stat_fact::ActiveModel| text(&row.key) + 13 * PARAMETER_BYTES + 64;
    for chunk in statement_chunks(db.get_database_backend(), &rows, ROWS, false, size) {
        stat_fact::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Notes one fact.
pub async fn note_one(db: &impl ConnectionTrait, fact: Fact) -> AppResult<()> {
    note(db, vec![fact]).await
}
