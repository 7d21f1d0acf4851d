//! Taking one step of a run: a wait schedules the run's next look, a filter picks a branch,
//! a message waits for the send window and becomes a delivery unique per (run, step) — its
//! effects follow it — and an effect step applies its effects at once.

use super::context::{Ctx, holds};
use super::flow::next_after;
use super::follow;
use super::log::log;
use super::status::StepOutcome;
use super::window::next_allowed;
use super::{Step, StepAction, Wait};
use crate::domain::actions::Effect;
use crate::domain::deliveries::Purpose;
use crate::domain::deliveries::outbox::{self, NewDelivery, enqueue};
use crate::domain::templates::Channel;
use crate::domain::time::wait_until;
use crate::error::AppResult;
use crate::events::MembershipChange;
use entity::{campaign_run, template};
use sea_orm::{ConnectionTrait, EntityTrait};

/// Where a run stands after a step.
pub(super) enum Next {
    /// Take the step with this id now. It starts at `at`: when the step just taken started
    /// (a filter, an effect, a message not sent), a wait's due time, or now after a message
    /// went out — so a run's first waits count from its anchor even when the fact was
    /// reported late, and the steps after a message from the message.
    Go { next: Option<String>, at: i64 },
    /// Look again at this instant, at the same step.
    WaitUntil(i64),
}

/// Takes one step.
pub(super) async fn take(
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
                        StepOutcome::Waiting,
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
            let (branch, outcome) = if holds {
                (yes, StepOutcome::Yes)
            } else {
                (no, StepOutcome::No)
            };
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
                            StepOutcome::OutsideWindow,
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
                    StepOutcome::NotInAudience,
                    None,
                    None,
                )
                .await?;
                return Ok(after());
            }
            if channel.contact_of(&ctx.customer).is_none() {
                let detail = Some(format!("the customer has no {} contact", channel.as_str()));
                log(
                    txn,
                    run,
                    Some(&step.id),
                    now_ms,
                    StepOutcome::Skipped,
                    detail,
                    None,
                )
                .await?;
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
                StepOutcome::Queued,
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
            log(
                txn,
                run,
                Some(&step.id),
                now_ms,
                StepOutcome::Applied,
                None,
                None,
            )
            .await?;
            Ok(after())
        }
    }
}

pub(super) fn iso(ms: i64) -> String {
    crate::clock::from_millis(ms).to_rfc3339()
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
        step_id: Some(step_id.to_owned()),
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
    effects: &[Effect],
) -> AppResult<Vec<MembershipChange>> {
    if effects.is_empty() {
        return Ok(Vec::new());
    }
    let owner = (ctx.campaign.model.id, run.id);
    let step = (step_id, ctx.store.staff_email.as_deref());
    follow::apply_step_effects(txn, &ctx.customer, owner, step, ctx.now_ms, effects).await
}
