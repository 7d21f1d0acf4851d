//! Runs on the API: who a tick would enroll, the runs of a campaign or a customer with their
//! logs, and a tick on demand.

use crate::clock::from_millis;
use crate::domain::campaigns::{self, preview::preview_audience};
use crate::domain::clockwork;
use crate::error::ErrorCode;
use crate::graphql::auth::Require;
use crate::graphql::context::state;
use crate::graphql::errors::{coded, to_graphql};
use crate::graphql::loaders::{Loaders, rows_of};
use crate::graphql::scalars::{id_arg, opt_id_arg};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// One customer a tick would enroll, and what would happen to them.
#[derive(SimpleObject)]
pub struct AudiencePreview {
    pub customer_id: ID,
    pub subject: String,
    pub anchor_at: DateTime<Utc>,
    /// Whether the entry audience admits them (a run not admitted ends as skipped).
    pub in_audience: bool,
    /// The first message step they would get, if any.
    pub step_id: Option<String>,
    /// When that message would go out: waits and the send window included.
    pub sends_at: Option<DateTime<Utc>>,
}

/// What one tick of the campaign engine did.
#[derive(SimpleObject)]
pub struct TickResult {
    pub at: DateTime<Utc>,
    /// Runs the planner created.
    pub enrolled: i64,
    /// Runs the runner looked at.
    pub advanced: i64,
    /// Customers who joined a segment because time passed one of its boundaries.
    pub segment_joins: i64,
    /// Customers who left a segment because time passed one of its boundaries.
    pub segment_leaves: i64,
    /// Predicted carts the replenishment collection made (its time came in some zones).
    pub predicted_carts: i64,
}

#[derive(Default)]
pub struct CampaignRunQuery;

#[Object]
impl CampaignRunQuery {
    /// Who a tick at `at` would enroll (anchors set by events: whose event came in the day
    /// before), whether they are in the audience, and which message would go out first, and
    /// when. Writes nothing.
    #[graphql(guard = "Require::READ")]
    async fn preview_audience(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
        at: DateTime<Utc>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<AudiencePreview>> {
        let state = state(ctx)?;
        let id = id_arg("campaignId", &campaign_id)?;
        let campaign = campaigns::find(&state.db, id)
            .await
            .map_err(to_graphql)?
            .ok_or_else(|| coded(ErrorCode::NotFound, format!("campaign {id} does not exist")))?;
        let entries = preview_audience(
            &state.db,
            &campaign,
            crate::clock::to_millis(at),
            &state.settings.store,
            first as usize,
        )
        .await
        .map_err(to_graphql)?;
        Ok(entries
            .into_iter()
            .map(|e| AudiencePreview {
                customer_id: ID(e.customer_id.to_string()),
                subject: e.subject_key,
                anchor_at: from_millis(e.anchor_at),
                in_audience: e.in_audience,
                step_id: e.step_id,
                sends_at: e.sends_at.map(from_millis),
            })
            .collect())
    }

    /// Runs, newest first, of one campaign and/or one customer (at most 100).
    #[graphql(guard = "Require::READ")]
    async fn campaign_runs(
        &self,
        ctx: &Context<'_>,
        campaign_id: Option<ID>,
        customer_id: Option<ID>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<CampaignRun>> {
        let state = state(ctx)?;
        let rows = campaigns::runs(
            &state.db,
            opt_id_arg("campaignId", campaign_id)?,
            opt_id_arg("customerId", customer_id)?,
            first as u64,
        )
        .await
        .map_err(to_graphql)?;
        Ok(rows.into_iter().map(CampaignRun).collect())
    }
}

/// One line of a run's log: what a step did, or why the run entered, waited or ended.
#[derive(SimpleObject)]
pub struct RunLogEntry {
    /// The step, for step outcomes.
    pub step_id: Option<String>,
    pub at: DateTime<Utc>,
    /// entered, notInAudience, waiting, outsideWindow, yes, no, queued, skipped, applied,
    /// effectsApplied, effectsNotApplied, effectsFailed (what came of a message step's
    /// effects once its message was sent or not), anchorMoved, completed, converted, exited
    /// or failed.
    pub outcome: String,
    pub detail: Option<String>,
    /// The delivery a message step queued.
    pub delivery_id: Option<ID>,
}

/// One customer going through one campaign for one subject.
pub struct CampaignRun(pub entity::campaign_run::Model);

#[Object]
impl CampaignRun {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn campaign_id(&self) -> ID {
        ID(self.0.campaign_id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    /// What the run is about: `order:<id>`, `cart:<time>`, `birthday:<year>`, `registered` …
    async fn subject(&self) -> &str {
        &self.0.subject_key
    }
    /// pending (not yet checked against the audience), active, completed, converted, exited
    /// or skipped (not in the audience).
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// The instant the run is timed from.
    async fn anchor_at(&self) -> DateTime<Utc> {
        from_millis(self.0.anchor_at)
    }
    /// The step the run is at.
    async fn step_id(&self) -> Option<&str> {
        self.0.step_id.as_deref()
    }
    async fn next_due_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_due_at.map(from_millis)
    }
    async fn entered_at(&self) -> DateTime<Utc> {
        from_millis(self.0.entered_at)
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at.map(from_millis)
    }
    async fn end_reason(&self) -> Option<&str> {
        self.0.end_reason.as_deref()
    }
    /// What happened, oldest first.
    async fn log(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RunLogEntry>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = rows_of(&loaders.run_logs, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|r| RunLogEntry {
                step_id: r.step_id,
                at: from_millis(r.at),
                outcome: r.outcome,
                detail: r.detail,
                delivery_id: r.delivery_id.map(|id| ID(id.to_string())),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct CampaignRunMutation;

#[Object(guard = "Require::ADMIN")]
impl CampaignRunMutation {
    /// Runs the clock's work once at `at` (the server's clock when omitted): segments whose
    /// members cross a time boundary, then the campaign planner and runner, as the scheduler
    /// does every minute. For tests and demos: refused with
    /// `FORBIDDEN` unless `NUDGE_TICK_MUTATION` is on.
    async fn run_campaign_tick(
        &self,
        ctx: &Context<'_>,
        at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<TickResult> {
        let state = state(ctx)?;
        let settings = &state.settings;
        if !settings.tick_mutation {
            return Err(coded(
                ErrorCode::Forbidden,
                "runCampaignTick is switched off; set NUDGE_TICK_MUTATION=true to allow it",
            ));
        }
        let at = at.unwrap_or_else(|| state.clock.now());
        let ticked = clockwork::tick(&state.db, &state.bus, at, &settings.store).await;
        let crossed = ticked.segments.map_err(to_graphql)?;
        let collected = ticked.carts.map_err(to_graphql)?;
        let report = ticked.campaigns.map_err(to_graphql)?;
        state.senders.wake.notify_one();
        if collected.carts > 0 {
            state.processor_wake.notify_one();
        }
        Ok(TickResult {
            at,
            enrolled: i64::try_from(report.enrolled).unwrap_or(i64::MAX),
            advanced: i64::try_from(report.advanced).unwrap_or(i64::MAX),
            segment_joins: i64::try_from(crossed.joined).unwrap_or(i64::MAX),
            segment_leaves: i64::try_from(crossed.left).unwrap_or(i64::MAX),
            predicted_carts: i64::try_from(collected.carts).unwrap_or(i64::MAX),
        })
    }
}
