//! What ending many runs at once counts (a campaign archived or deleted, a customer erased):
//! the runs going stop being active and, when they end with a reason, count as exited — a
//! statement for all of them, grouped by campaign and entry, never a fact per run.

use super::status::RunStatus;
use crate::domain::stats::{self, Dims, Fact, Metric};
use crate::error::AppResult;
use entity::campaign_run;
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

/// Counts the active runs that `filter` selects as ending now: no longer active, and exited
/// for `exit_reason` when one is given (runs deleted with their campaign or customer are not
/// exits). Call it before the runs change.
pub(crate) async fn note_runs_ending(
    txn: &impl ConnectionTrait,
    filter: Condition,
    exit_reason: Option<&str>,
    now_ms: i64,
) -> AppResult<()> {
    let groups: Vec<(i64, i64, i64)> = campaign_run::Entity::find()
        .select_only()
        .column(campaign_run::Column::CampaignId)
        .column(campaign_run::Column::EnteredAt)
        .column_as(Expr::col(campaign_run::Column::Id).count(), "runs")
        .filter(filter)
        .filter(campaign_run::Column::Status.eq(RunStatus::Active.as_str()))
        .group_by(campaign_run::Column::CampaignId)
        .group_by(campaign_run::Column::EnteredAt)
        .into_tuple()
        .all(txn)
        .await?;
    let mut facts = Vec::with_capacity(groups.len() * 2);
    for (campaign_id, entered_at, runs) in groups {
        let fact = |metric| Fact::one(metric, Dims::of_run(campaign_id, None), now_ms, entered_at);
        facts.push(fact(Metric::Active).times(-runs));
        if let Some(reason) = exit_reason {
            facts.push(fact(Metric::Exited).keyed(reason).times(runs));
        }
    }
    stats::note(txn, facts).await
}
