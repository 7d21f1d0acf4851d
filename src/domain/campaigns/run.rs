//! The runner: advances runs whose next step is due. A new run is first checked against the
//! entry audience; then, before every step, against the exit goal and its subject
//! ([`super::exit`]); then the step is taken ([`super::step`]). Every run is advanced in a
//! transaction of its own (or a savepoint of the processor's) and logs what each step did.

use super::context::{Ctx, holds, run_ref};
use super::exit::ended;
use super::flow::find;
use super::log::{log, reason_of};
use super::status::{RunStatus, StepOutcome};
use super::step::{Next, iso, take};
use super::{Campaign, CampaignStatus};
use crate::config::StoreSettings;
use crate::db::{WriteTxn, begin_write, in_list};
use crate::domain::deliveries::Status;
use crate::domain::membership;
use crate::domain::stats::{self, Dims, Fact, Metric};
use crate::domain::time::zone;
use crate::domain::webhooks::event::EventType;
use crate::domain::webhooks::outbox::{Outgoing, customer_refs, enqueue};
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, MembershipChange};
use entity::{campaign_run, customer, delivery};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::collections::HashMap;

/// Runs taken per round.
const ROUND: u64 = 200;
/// Steps one run may take in one go (a flow without waits ends well before).
const MAX_STEPS_AT_ONCE: usize = 64;

/// The active campaigns by id.
fn active_by_id(campaigns: &[Campaign]) -> HashMap<i64, &Campaign> {
    campaigns
        .iter()
        .filter(|c| c.status == CampaignStatus::Active)
        .map(|c| (c.model.id, c))
        .collect()
}

/// Runs due at `now_ms`, by due time, through its partial index: runs of paused campaigns are
/// not due (pausing clears their due time), so no other filter is needed in the database.
fn due_runs(now_ms: i64) -> sea_orm::Select<campaign_run::Entity> {
    campaign_run::Entity::find()
        .filter(campaign_run::Column::NextDueAt.lte(now_ms))
        .order_by_asc(campaign_run::Column::NextDueAt)
        .order_by_asc(campaign_run::Column::Id)
}

/// Advances every run of an active campaign that is due at `now_ms`, each in a transaction of
/// its own; returns how many runs it looked at.
pub async fn advance_due_runs(
    db: &DatabaseConnection,
    bus: &EventBus,
    now_ms: i64,
    campaigns: &[Campaign],
    store: &StoreSettings,
) -> AppResult<usize> {
    let active = active_by_id(campaigns);
    if active.is_empty() {
        return Ok(0);
    }
    let mut looked = 0;
    loop {
        let due = due_runs(now_ms).limit(ROUND).all(db).await?;
        let count = due.len();
        let mut advanced = 0;
        for run in due {
            let Some(campaign) = active.get(&run.campaign_id) else {
                continue;
            };
            let txn = begin_write(db).await?;
            let taken = advance_locked(&txn, campaign, run.id, now_ms, store).await;
            let changes = match taken {
                Ok(changes) => {
                    txn.commit().await?;
                    changes
                }
                // The database itself failed: this tick stops, the next one tries again.
                Err(e) if e.is_database_failure() => return Err(e),
                // The run cannot go on (its definition or its data refuse it): it ends
                // `failed` with the reason, and the others go on.
                Err(e) => {
                    txn.rollback().await?;
                    let txn = begin_write(db).await?;
                    fail_run(&txn, run, now_ms, &e).await?;
                    txn.commit().await?;
                    Some(Vec::new())
                }
            };
            if let Some(changes) = changes {
                membership::announce(bus, changes);
                advanced += 1;
            }
        }
        looked += advanced;
        // A short round is the last; so is one where every run was another process's.
        if (count as u64) < ROUND || advanced == 0 {
            return Ok(looked);
        }
    }
}

/// Advances the due runs of `customers` inside the caller's transaction (the event
/// processor's pass, so a run an event started is advanced when the event is processed), each
/// in a savepoint: one that cannot go on ends `failed` with the reason, the others go on.
/// Returns the membership changes to announce after the commit.
pub async fn advance_runs_of(
    txn: &WriteTxn,
    customers: &[i64],
    now_ms: i64,
    campaigns: &[Campaign],
    store: &StoreSettings,
) -> AppResult<Vec<MembershipChange>> {
    let active = active_by_id(campaigns);
    let mut changes = Vec::new();
    if active.is_empty() || customers.is_empty() {
        return Ok(changes);
    }
    let due = due_runs(now_ms)
        .filter(campaign_run::Column::CustomerId.is_in(in_list(customers.iter().copied())))
        .all(txn)
        .await?;
    for run in due {
        let Some(campaign) = active.get(&run.campaign_id) else {
            continue;
        };
        let taken = txn
            .in_savepoint(async |sp| advance_locked(sp, campaign, run.id, now_ms, store).await)
            .await;
        match taken {
            Ok(advanced) => changes.extend(advanced.into_iter().flatten()),
            Err(e) if e.is_database_failure() => return Err(e),
            Err(e) => fail_run(txn, run, now_ms, &e).await?,
        }
    }
    Ok(changes)
}

/// Advances one run inside `txn` once it holds it; `None` when another process advanced it
/// since it was read, or holds it now.
async fn advance_locked(
    txn: &impl ConnectionTrait,
    campaign: &Campaign,
    run_id: i64,
    now_ms: i64,
    store: &StoreSettings,
) -> AppResult<Option<Vec<MembershipChange>>> {
    let Some(run) = campaign_run::Entity::find_by_id(run_id)
        .filter(campaign_run::Column::NextDueAt.lte(now_ms))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(txn)
        .await?
        .pop()
    else {
        return Ok(None);
    };
    advance(txn, campaign, run, now_ms, store).await.map(Some)
}

/// Ends a run that failed, with the reason in its log (what did not change stays as before:
/// the failed step's writes were rolled back).
async fn fail_run(
    txn: &impl ConnectionTrait,
    run: campaign_run::Model,
    now_ms: i64,
    error: &AppError,
) -> AppResult<()> {
    let reason = reason_of(error);
    tracing::warn!(
        run.id = run.id,
        campaign.id = run.campaign_id,
        error = %reason,
        "a campaign run failed and was ended"
    );
    let failed = StepOutcome::Ended(RunStatus::Failed);
    let step = run.step_id.as_deref();
    log(txn, &run, step, now_ms, failed, Some(reason.clone()), None).await?;
    close(txn, run, RunStatus::Failed, Some(reason), now_ms).await
}

async fn advance(
    txn: &impl ConnectionTrait,
    campaign: &Campaign,
    mut run: campaign_run::Model,
    now_ms: i64,
    store: &StoreSettings,
) -> AppResult<Vec<MembershipChange>> {
    let Some(customer) = customer::Entity::find_by_id(run.customer_id)
        .one(txn)
        .await?
    else {
        let reason = Some("the customer is gone".into());
        return close(txn, run, RunStatus::Exited, reason, now_ms)
            .await
            .map(|()| Vec::new());
    };
    let tz = zone(customer.time_zone.as_deref(), store.time_zone);
    let ctx = Ctx {
        campaign,
        store,
        now_ms,
        customer,
        tz,
        order_id: run.order_id,
        run: Some(run_ref(&run)),
    };
    let mut changes = Vec::new();
    if RunStatus::from_stored(&run.status) == Some(RunStatus::Pending) {
        if !holds(txn, &ctx, &campaign.audience).await? {
            log(
                txn,
                &run,
                None,
                now_ms,
                StepOutcome::NotInAudience,
                None,
                None,
            )
            .await?;
            run.entry_key = None;
            let reason = Some("not in the entry audience".into());
            return close(txn, run, RunStatus::Skipped, reason, now_ms)
                .await
                .map(|()| changes);
        }
        log(txn, &run, None, now_ms, StepOutcome::Entered, None, None).await?;
        run.status = RunStatus::Active.as_str().into();
        run.step_id = campaign.steps.first().map(|s| s.id.clone());
        let mut facts = vec![
            run_fact(&run, Metric::Entered, None, now_ms),
            run_fact(&run, Metric::Active, None, now_ms),
        ];
        facts.extend(
            run.step_id
                .as_deref()
                .map(|s| run_fact(&run, Metric::Reached, Some(s), now_ms)),
        );
        stats::note(txn, facts).await?;
        let started = campaign.run_starts_at(run.anchor_at, run.entered_at, now_ms);
        run.step_started_at = Some(started);
    }
    for _ in 0..MAX_STEPS_AT_ONCE {
        if let Some((status, reason)) = ended(txn, &ctx, &mut run).await? {
            return end_run(txn, run, status, Some(reason), now_ms)
                .await
                .map(|()| changes);
        }
        let Some(step_id) = run.step_id.clone() else {
            return end_run(txn, run, RunStatus::Completed, None, now_ms)
                .await
                .map(|()| changes);
        };
        let Some(step) = find(&campaign.steps, &step_id) else {
            let reason = format!("step {step_id:?} was removed from the campaign");
            return end_run(txn, run, RunStatus::Exited, Some(reason), now_ms)
                .await
                .map(|()| changes);
        };
        match take(txn, &ctx, &run, step, &mut changes).await? {
            Next::Go { next, at } => {
                if let Some(step) = next.as_deref() {
                    stats::note_one(txn, run_fact(&run, Metric::Reached, Some(step), now_ms))
                        .await?;
                }
                run.step_id = next;
                run.step_started_at = Some(at.min(now_ms));
            }
            Next::WaitUntil(at) => {
                run.next_due_at = Some(at);
                run.updated_at = now_ms;
                save(txn, run).await?;
                return Ok(changes);
            }
        }
    }
    // A flow this long without a wait continues at the next tick.
    run.next_due_at = Some(now_ms);
    save(txn, run).await?;
    Ok(changes)
}

/// Checks an open run against its exit goal and subject now (the event processor calls this
/// on every event of the customer): ends it when it is over; when its planned delivery moved,
/// makes it due at once so its wait is computed again. Returns whether it made it due.
pub async fn check_open_run(
    txn: &impl ConnectionTrait,
    campaign: &Campaign,
    mut run: campaign_run::Model,
    now_ms: i64,
    store: &StoreSettings,
) -> AppResult<bool> {
    let Some(customer) = customer::Entity::find_by_id(run.customer_id)
        .one(txn)
        .await?
    else {
        return Ok(false);
    };
    let ctx = Ctx {
        campaign,
        store,
        now_ms,
        tz: zone(customer.time_zone.as_deref(), store.time_zone),
        customer,
        order_id: run.order_id,
        run: Some(run_ref(&run)),
    };
    let anchor_before = run.anchor_at;
    if let Some((status, reason)) = ended(txn, &ctx, &mut run).await? {
        return end_run(txn, run, status, Some(reason), now_ms)
            .await
            .map(|()| false);
    }
    if run.anchor_at != anchor_before {
        let moved = Some(iso(run.anchor_at));
        log(
            txn,
            &run,
            None,
            now_ms,
            StepOutcome::AnchorMoved,
            moved,
            None,
        )
        .await?;
        run.next_due_at = Some(now_ms);
        run.updated_at = now_ms;
        save(txn, run).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Ends the run with `status` (and the reason, if any), which its log's last line tells.
async fn end_run(
    txn: &impl ConnectionTrait,
    run: campaign_run::Model,
    status: RunStatus,
    reason: Option<String>,
    now_ms: i64,
) -> AppResult<()> {
    let ended = StepOutcome::Ended(status);
    log(txn, &run, None, now_ms, ended, reason.clone(), None).await?;
    close(txn, run, status, reason, now_ms).await
}

/// Ends the run with `status` without a line in its log (the caller wrote one, or there is
/// nobody to write it for): nothing more is due.
async fn close(
    txn: &impl ConnectionTrait,
    mut run: campaign_run::Model,
    status: RunStatus,
    reason: Option<String>,
    now_ms: i64,
) -> AppResult<()> {
    let facts = end_facts(txn, &run, status, reason.as_deref(), now_ms).await?;
    stats::note(txn, facts).await?;
    if status == RunStatus::Converted {
        tell_converted(txn, &run, reason.as_deref(), now_ms).await?;
    }
    run.status = status.as_str().into();
    run.end_reason = reason;
    run.next_due_at = None;
    run.ended_at = Some(now_ms);
    run.updated_at = now_ms;
    save(txn, run).await
}

/// Tells endpoints that want `campaign_run.converted`: `data` is `{ run: { id, campaignId,
/// orderId, reason }, customer }`.
async fn tell_converted(
    txn: &impl ConnectionTrait,
    run: &campaign_run::Model,
    reason: Option<&str>,
    now_ms: i64,
) -> AppResult<()> {
    let customers = customer_refs(txn, [run.customer_id]).await?;
    let data = serde_json::json!({
        "run": {
            "id": run.id.to_string(),
            "campaignId": run.campaign_id.to_string(),
            "orderId": run.order_id.map(|id| id.to_string()),
            "reason": reason,
        },
        "customer": customers.get(&run.customer_id),
    });
    let converted = Outgoing {
        event_type: EventType::RunConverted,
        customer_id: Some(run.customer_id),
        object_id: None,
        occurred_at: now_ms,
        data,
    };
    enqueue(txn, vec![converted], now_ms).await
}

/// Writes the run back as it stands.
async fn save(txn: &impl ConnectionTrait, run: campaign_run::Model) -> AppResult<()> {
    let active: campaign_run::ActiveModel = run.into();
    active.reset_all().update(txn).await?;
    Ok(())
}

/// A fact about `run` (at `step`, for a step's figure), in the cohort of its entry.
fn run_fact(run: &campaign_run::Model, metric: Metric, step: Option<&str>, now_ms: i64) -> Fact {
    Fact::one(
        metric,
        Dims::of_run(run.campaign_id, step),
        now_ms,
        run.entered_at,
    )
}

/// What ending `run` with `status` counts. A run that never entered (still pending) counts
/// only as not in the audience, or as failed; one that was going stops being active. A
/// conversion is credited to the step whose message went out last (the campaign's figure
/// counts it once), never to every step.
async fn end_facts(
    txn: &impl ConnectionTrait,
    run: &campaign_run::Model,
    status: RunStatus,
    reason: Option<&str>,
    now_ms: i64,
) -> AppResult<Vec<Fact>> {
    let was_active = RunStatus::from_stored(&run.status) == Some(RunStatus::Active);
    let mut facts = Vec::new();
    if was_active {
        facts.push(run_fact(run, Metric::Active, None, now_ms).times(-1));
    }
    match status {
        RunStatus::Skipped => facts.push(run_fact(run, Metric::NotInAudience, None, now_ms)),
        RunStatus::Failed => facts.push(run_fact(run, Metric::RunFailed, None, now_ms)),
        _ if !was_active => {}
        RunStatus::Completed => facts.push(run_fact(run, Metric::Completed, None, now_ms)),
        RunStatus::Exited => facts.push(
            run_fact(run, Metric::Exited, None, now_ms).keyed(exit_key(reason.unwrap_or_default())),
        ),
        RunStatus::Converted => {
            let step = last_sending_step(txn, run.id).await?;
            facts.push(run_fact(run, Metric::Converted, step.as_deref(), now_ms));
        }
        RunStatus::Pending | RunStatus::Active => {}
    }
    Ok(facts)
}

/// An exit's reason as counted: the sentence, with what varies taken out.
fn exit_key(reason: &str) -> &str {
    if reason.starts_with("step ") && reason.ends_with("was removed from the campaign") {
        "a step was removed from the campaign"
    } else {
        reason
    }
}

/// The step of the run's message that went out last, if any did.
async fn last_sending_step(txn: &impl ConnectionTrait, run_id: i64) -> AppResult<Option<String>> {
    let sent = [Status::Sent, Status::Delivered, Status::Unknown].map(Status::as_str);
    Ok(delivery::Entity::find()
        .select_only()
        .column(delivery::Column::StepId)
        .filter(delivery::Column::RunId.eq(run_id))
        .filter(delivery::Column::Status.is_in(sent))
        .filter(delivery::Column::StepId.is_not_null())
        .order_by_desc(delivery::Column::SentAt)
        .order_by_desc(delivery::Column::Id)
        .limit(1)
        .into_tuple::<Option<String>>()
        .one(txn)
        .await?
        .flatten())
}
