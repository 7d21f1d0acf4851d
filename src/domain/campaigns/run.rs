//! The runner: advances runs whose next step is due. A new run is first checked against the
//! entry audience; then, before every step, against the exit goal and its subject (a
//! cancelled order, a changed cart, renewed activity end it). Waits schedule the run's next
//! look; messages wait for the send window and become deliveries unique per (run, step).
//! Every run is advanced in a transaction of its own and logs what each step did.

use super::flow::{find, next_after};
use super::follow;
use super::log::{log_line, reason_of};
use super::window::next_allowed;
use super::{Anchor, Campaign, CampaignStatus, InactivityBasis, Step, StepAction, Wait};
use crate::config::StoreSettings;
use crate::db::{WriteTxn, begin_write, in_list};
use crate::domain::actions::{cart_items, order_subject_facts, roles_of, tags_of};
use crate::domain::conditions::{Condition, Facts, evaluate};
use crate::domain::deliveries::Purpose;
use crate::domain::deliveries::outbox::{self, NewDelivery, enqueue};
use crate::domain::membership;
use crate::domain::templates::Channel;
use crate::domain::time::{wait_until, zone};
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, MembershipChange};
use chrono_tz::Tz;
use entity::{campaign_run, customer, event, order, template};
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
    mut run: campaign_run::Model,
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
    log(
        txn,
        &run,
        run.step_id.as_deref(),
        now_ms,
        "failed",
        Some(reason.clone()),
        None,
    )
    .await?;
    run.status = "failed".into();
    run.end_reason = Some(reason);
    finish(txn, run, now_ms).await
}

/// Where a run stands after a step.
enum Next {
    /// Take the step with this id now. It starts at `at`: when the step just taken started
    /// (a filter, an effect, a message not sent), a wait's due time, or now after a message
    /// went out — so a run's first waits count from its anchor even when the fact was
    /// reported late, and the steps after a message from the message.
    Go { next: Option<String>, at: i64 },
    /// Look again at this instant, at the same step.
    WaitUntil(i64),
}

/// What a step is taken with: the campaign, the instant and the run's customer.
pub(super) struct Ctx<'a> {
    pub campaign: &'a Campaign,
    pub store: &'a StoreSettings,
    pub now_ms: i64,
    pub customer: customer::Model,
    pub tz: Tz,
    /// The order the run is about, if any: conditions see it as the event's order.
    pub order_id: Option<i64>,
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
        run.status = "exited".into();
        run.end_reason = Some("the customer is gone".into());
        return finish(txn, run, now_ms).await.map(|()| Vec::new());
    };
    let tz = zone(customer.time_zone.as_deref(), store.time_zone);
    let ctx = Ctx {
        campaign,
        store,
        now_ms,
        customer,
        tz,
        order_id: run.order_id,
    };
    let mut changes = Vec::new();
    if run.status == "pending" {
        if !holds(txn, &ctx, &campaign.audience).await? {
            log(txn, &run, None, now_ms, "notInAudience", None, None).await?;
            run.status = "skipped".into();
            run.entry_key = None;
            run.end_reason = Some("not in the entry audience".into());
            return finish(txn, run, now_ms).await.map(|()| changes);
        }
        log(txn, &run, None, now_ms, "entered", None, None).await?;
        run.status = "active".into();
        run.step_id = campaign.steps.first().map(|s| s.id.clone());
        let started = campaign.run_starts_at(run.anchor_at, run.entered_at, now_ms);
        run.step_started_at = Some(started);
    }
    for _ in 0..MAX_STEPS_AT_ONCE {
        if let Some((status, reason)) = ended(txn, &ctx, &mut run).await? {
            log(txn, &run, None, now_ms, status, Some(reason.clone()), None).await?;
            run.status = status.into();
            run.end_reason = Some(reason);
            return finish(txn, run, now_ms).await.map(|()| changes);
        }
        let Some(step_id) = run.step_id.clone() else {
            log(txn, &run, None, now_ms, "completed", None, None).await?;
            run.status = "completed".into();
            return finish(txn, run, now_ms).await.map(|()| changes);
        };
        let Some(step) = find(&campaign.steps, &step_id) else {
            let reason = format!("step {step_id:?} was removed from the campaign");
            log(
                txn,
                &run,
                None,
                now_ms,
                "exited",
                Some(reason.clone()),
                None,
            )
            .await?;
            run.status = "exited".into();
            run.end_reason = Some(reason);
            return finish(txn, run, now_ms).await.map(|()| changes);
        };
        match take(txn, &ctx, &run, step, &mut changes).await? {
            Next::Go { next, at } => {
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

/// Takes one step.
async fn take(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    run: &campaign_run::Model,
    step: &Step,
    changes: &mut Vec<MembershipChange>,
) -> AppResult<Next> {
    let steps = &ctx.campaign.steps;
    let now_ms = ctx.now_ms;
    let started = run.step_started_at.unwrap_or(now_ms);
    let after = || Next::Go {
        next: next_after(steps, &step.id).map(|s| s.id.clone()),
        at: started,
    };
    match &step.action {
        StepAction::Wait(wait) => {
            let due = match wait {
                Wait::Duration { minutes } => started + minutes * 60_000,
                Wait::Until {
                    offset_days,
                    hour,
                    minute,
                } => wait_until(run.anchor_at, ctx.tz, *offset_days, *hour, *minute),
            };
            if due > now_ms {
                if run.next_due_at != Some(due) {
                    log(
                        txn,
                        run,
                        Some(&step.id),
                        now_ms,
                        "waiting",
                        Some(iso(due)),
                        None,
                    )
                    .await?;
                }
                return Ok(Next::WaitUntil(due));
            }
            Ok(Next::Go {
                next: next_after(steps, &step.id).map(|s| s.id.clone()),
                at: due.max(started),
            })
        }
        StepAction::Filter { condition, yes, no } => {
            let holds = holds(txn, ctx, condition).await?;
            let (branch, outcome) = if holds { (yes, "yes") } else { (no, "no") };
            log(txn, run, Some(&step.id), now_ms, outcome, None, None).await?;
            match branch.first() {
                Some(first) => Ok(Next::Go {
                    next: Some(first.id.clone()),
                    at: started,
                }),
                None => Ok(after()),
            }
        }
        StepAction::Message {
            channel,
            template_id,
            audience,
            effects,
        } => {
            if let Some(window) = &ctx.campaign.send_window {
                let allowed = next_allowed(window, ctx.tz, now_ms);
                if allowed > now_ms {
                    if run.next_due_at != Some(allowed) {
                        let detail = Some(format!("waits for {}", iso(allowed)));
                        log(
                            txn,
                            run,
                            Some(&step.id),
                            now_ms,
                            "outsideWindow",
                            detail,
                            None,
                        )
                        .await?;
                    }
                    return Ok(Next::WaitUntil(allowed));
                }
            }
            if let Some(audience) = audience
                && !holds(txn, ctx, audience).await?
            {
                log(
                    txn,
                    run,
                    Some(&step.id),
                    now_ms,
                    "notInAudience",
                    None,
                    None,
                )
                .await?;
                return Ok(after());
            }
            if channel.contact_of(&ctx.customer).is_none() {
                let detail = Some(format!("the customer has no {} contact", channel.as_str()));
                log(txn, run, Some(&step.id), now_ms, "skipped", detail, None).await?;
                return Ok(after());
            }
            let delivery_id = queue_message(txn, ctx, run, &step.id, *template_id).await?;
            // The step's effects follow the message: applied when it is sent, not when it
            // is skipped or fails ([`super::follow`]).
            let detail = match delivery_id {
                Some(id) if !effects.is_empty() => {
                    let owner = (ctx.campaign.model.id, run.id);
                    follow::keep(txn, id, owner, &step.id, effects, now_ms).await?;
                    Some("its effects wait for the message to be sent".to_owned())
                }
                _ => None,
            };
            log(
                txn,
                run,
                Some(&step.id),
                now_ms,
                "queued",
                detail,
                delivery_id,
            )
            .await?;
            // The steps after a message count from when it went out, so two messages are
            // never closer than the waits between them, even after a pause.
            Ok(Next::Go {
                next: next_after(steps, &step.id).map(|s| s.id.clone()),
                at: now_ms,
            })
        }
        StepAction::Effect { effects } => {
            changes.extend(step_effects(txn, ctx, run, &step.id, effects).await?);
            log(txn, run, Some(&step.id), now_ms, "applied", None, None).await?;
            Ok(after())
        }
    }
}

fn iso(ms: i64) -> String {
    crate::clock::from_millis(ms).to_rfc3339()
}

/// Whether the condition holds for the run's customer now.
pub(super) async fn holds(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    condition: &Condition,
) -> AppResult<bool> {
    if *condition == Condition::always() {
        return Ok(true);
    }
    let roles = roles_of(txn, ctx.customer.id).await?;
    let tags = tags_of(txn, ctx.customer.id).await?;
    let cart = cart_items(txn, ctx.customer.id).await?;
    let order = match ctx.order_id {
        Some(id) => order_subject_facts(txn, id).await?,
        None => None,
    };
    Ok(evaluate(
        condition,
        &Facts {
            now_ms: ctx.now_ms,
            store_currency: ctx.store.currency.as_str(),
            customer: &ctx.customer,
            role_ids: &roles,
            tags: &tags,
            cart: &cart,
            event: order.as_ref(),
        },
    ))
}

/// Why the run must end before its next step, if it must: its exit goal was reached, or its
/// subject is gone (a cancelled order, a changed cart, renewed activity). A planned delivery
/// that moved is followed.
async fn ended(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    run: &mut campaign_run::Model,
) -> AppResult<Option<(&'static str, String)>> {
    if let Some(goal) = &ctx.campaign.exit_goal
        && !goal.events.is_empty()
    {
        let kinds: Vec<&str> = goal.events.iter().map(|k| k.as_str()).collect();
        let reached = event::Entity::find()
            .select_only()
            .column(event::Column::Kind)
            .filter(event::Column::CustomerId.eq(run.customer_id))
            .filter(event::Column::Kind.is_in(kinds))
            .filter(event::Column::OccurredAt.gt(run.entered_at))
            .into_tuple::<String>()
            .all(txn)
            .await?;
        if let Some(kind) = reached.first()
            && match &goal.condition {
                Some(condition) => holds(txn, ctx, condition).await?,
                None => true,
            }
        {
            return Ok(Some(("converted", format!("exit goal reached: {kind}"))));
        }
    }
    let customer = &ctx.customer;
    let after_anchor = |fact: Option<i64>| fact.is_some_and(|at| at > run.anchor_at);
    match &ctx.campaign.anchor {
        Anchor::Inactive { basis, .. } => {
            let fact = match basis {
                InactivityBasis::LastLogin => customer.last_login_at,
                InactivityBasis::LastOrder => customer.last_order_at,
            };
            if after_anchor(fact) {
                return Ok(Some(("exited", "active again".into())));
            }
        }
        Anchor::CartAbandoned { .. } => {
            if after_anchor(customer.last_order_at) {
                return Ok(Some(("converted", "ordered".into())));
            }
            if customer.cart_updated_at != Some(run.anchor_at) {
                return Ok(Some(("exited", "the cart changed".into())));
            }
        }
        _ => {}
    }
    if run.subject_key.starts_with("order:") {
        let found = match run.order_id {
            Some(id) => order::Entity::find_by_id(id).one(txn).await?,
            None => None,
        };
        let Some(order) = found else {
            return Ok(Some(("exited", "the order is gone".into())));
        };
        if order.status == "cancelled" {
            return Ok(Some(("exited", "the order was cancelled".into())));
        }
        match &ctx.campaign.anchor {
            Anchor::OrderUnpaid { .. } if order.paid_at.is_some() => {
                return Ok(Some(("converted", "paid".into())));
            }
            Anchor::PlannedDelivery {} => match order.planned_delivery_at {
                Some(planned) => run.anchor_at = planned,
                None => return Ok(Some(("exited", "no delivery is planned".into()))),
            },
            _ => {}
        }
    }
    Ok(None)
}

/// Queues the message of a step once: the delivery is unique per (run, step). The template's
/// text is copied as it is; rendering happens when it is sent.
async fn queue_message(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    run: &campaign_run::Model,
    step_id: &str,
    template_id: i64,
) -> AppResult<Option<i64>> {
    let template = template::Entity::find_by_id(template_id).one(txn).await?;
    let key = format!("run:{}:step:{step_id}", run.id);
    let new = NewDelivery {
        dedupe_key: key.clone(),
        channel: template
            .as_ref()
            .map_or(Channel::Email, |t| Channel::from_stored(&t.channel)),
        purpose: Purpose::Marketing,
        customer_id: Some(ctx.customer.id),
        recipient: None,
        subject: template.as_ref().and_then(|t| t.subject.clone()),
        body_html: template.as_ref().and_then(|t| t.body_html.clone()),
        body_text: template.as_ref().and_then(|t| t.body_text.clone()),
        action_id: None,
        firing_id: None,
        campaign_id: Some(ctx.campaign.model.id),
        run_id: Some(run.id),
        template_id: Some(template_id),
    };
    enqueue(txn, new, ctx.now_ms).await?;
    outbox::id_of(txn, &key).await
}

async fn step_effects(
    txn: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    run: &campaign_run::Model,
    step_id: &str,
    effects: &[crate::domain::actions::Effect],
) -> AppResult<Vec<MembershipChange>> {
    if effects.is_empty() {
        return Ok(Vec::new());
    }
    let owner = (ctx.campaign.model.id, run.id);
    let step = (step_id, ctx.store.staff_email.as_deref());
    follow::apply_step_effects(txn, &ctx.customer, owner, step, ctx.now_ms, effects).await
}

async fn log(
    txn: &impl ConnectionTrait,
    run: &campaign_run::Model,
    step_id: Option<&str>,
    at: i64,
    outcome: &str,
    detail: Option<String>,
    delivery_id: Option<i64>,
) -> AppResult<()> {
    log_line(txn, run.id, step_id, at, outcome, detail, delivery_id).await
}

/// Ends the run: nothing more is due.
async fn finish(
    txn: &impl ConnectionTrait,
    mut run: campaign_run::Model,
    now_ms: i64,
) -> AppResult<()> {
    run.next_due_at = None;
    run.ended_at = Some(now_ms);
    run.updated_at = now_ms;
    save(txn, run).await
}

async fn save(txn: &impl ConnectionTrait, run: campaign_run::Model) -> AppResult<()> {
    let active: campaign_run::ActiveModel = run.into();
    active.reset_all().update(txn).await?;
    Ok(())
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
    };
    let anchor_before = run.anchor_at;
    if let Some((status, reason)) = ended(txn, &ctx, &mut run).await? {
        log(txn, &run, None, now_ms, status, Some(reason.clone()), None).await?;
        run.status = status.into();
        run.end_reason = Some(reason);
        return finish(txn, run, now_ms).await.map(|()| false);
    }
    if run.anchor_at != anchor_before {
        log(
            txn,
            &run,
            None,
            now_ms,
            "anchorMoved",
            Some(iso(run.anchor_at)),
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
