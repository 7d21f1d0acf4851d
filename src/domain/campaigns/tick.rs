//! One tick of the campaign engine at a given instant: the planner enrols what came due, then
//! the runner advances the runs that are due. Both are idempotent, so a tick run twice, or on
//! two servers at once, plans and sends nothing twice. On PostgreSQL planners take turns
//! under an advisory lock, and a run is advanced by one process at a time.

use super::plan::plan_due_runs;
use super::run::advance_due_runs;
use super::{Campaign, CampaignStatus};
use crate::clock::to_millis;
use crate::config::StoreSettings;
use crate::db::begin_write;
use crate::error::AppResult;
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::campaign;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
};

/// The planner lock's keys: "nudg" and 2.
const PLANNER_LOCK: (i32, i32) = (0x6e75_6467, 2);

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Runs created by the planner.
    pub enrolled: u64,
    /// Runs the runner looked at.
    pub advanced: usize,
}

/// Plans and advances every active campaign at `now`.
pub async fn tick(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    store: &StoreSettings,
) -> AppResult<TickReport> {
    let started = std::time::Instant::now();
    let campaigns = active_campaigns(db, to_millis(now)).await?;
    if campaigns.is_empty() {
        return Ok(TickReport::default());
    }
    let enrolled = plan(db, now, store.time_zone).await?;
    let advanced = advance_due_runs(db, bus, to_millis(now), &campaigns, store).await?;
    metrics::histogram!("nudge_campaign_tick_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("nudge_campaign_runs_enrolled_total").increment(enrolled);
    metrics::counter!("nudge_campaign_runs_advanced_total").increment(advanced as u64);
    Ok(TickReport { enrolled, advanced })
}

/// The planner half of a tick: enrols the active campaigns' due anchors at `now` in one
/// transaction; returns the runs created.
pub async fn plan(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    store_zone: chrono_tz::Tz,
) -> AppResult<u64> {
    let txn = begin_write(db).await?;
    take_planner_turn(&txn).await?;
    // Read once the turn is ours: a planner that waited for another starts where that one
    // stopped instead of enrolling the same window again.
    let campaigns = active_campaigns(&txn, to_millis(now)).await?;
    let enrolled = plan_due_runs(&txn, to_millis(now), store_zone, &campaigns).await?;
    txn.commit().await?;
    Ok(enrolled)
}

/// Makes the caller's write transaction the only planner until it ends: on PostgreSQL an
/// advisory lock (other processes' planners wait for it); on SQLite the write transaction
/// already excludes every other writer.
pub async fn take_planner_turn(txn: &impl ConnectionTrait) -> AppResult<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let (class, object) = PLANNER_LOCK;
        txn.execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({class}, {object})"),
        ))
        .await?;
    }
    Ok(())
}

/// The active campaigns, oldest first. One whose stored definition no longer decodes is
/// paused with its reason ([`pause_broken`](super::pause_broken)) and left out.
pub async fn active_campaigns(db: &impl ConnectionTrait, now_ms: i64) -> AppResult<Vec<Campaign>> {
    let campaigns: Vec<Campaign> = campaign::Entity::find()
        .filter(campaign::Column::Status.eq(CampaignStatus::Active.as_str()))
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Campaign::decode)
        .collect();
    super::pause_broken(db, &campaigns, now_ms).await?;
    Ok(campaigns
        .into_iter()
        .filter(|c| c.broken.is_none())
        .collect())
}
