//! A message step's effects follow its message: the runner keeps them with the queued
//! delivery (`message_effects`), and the dispatcher, as it writes the delivery's final
//! outcome, has them applied — when the message was sent — or dropped — when it was skipped,
//! failed or its fate is unknown. The run's log says which: `effectsApplied`,
//! `effectsNotApplied` (with the reason the message was not sent) or `effectsFailed` (the
//! message went out but an effect could not be applied, a role deleted since, say; the others
//! of the round are not held up).

use super::log::{log_line, reason_of};
use super::status::StepOutcome;
use crate::db::WriteTxn;
use crate::domain::actions::Effect;
use crate::domain::actions::batch::{EffectBatch, Owner};
use crate::domain::actions::effects::{EffectScope, apply_effects, references};
use crate::domain::deliveries::Status;
use crate::domain::deliveries::follow::{Follow, Settled};
use crate::domain::membership::{self, ChangeSource};
use crate::domain::segments;
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, MembershipChange};
use entity::{customer, message_effect};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use std::collections::HashMap;

/// Keeps a message step's effects until its message's outcome is final (once per delivery).
pub(super) async fn keep(
    txn: &impl ConnectionTrait,
    delivery_id: i64,
    run: (i64, i64),
    step_id: &str,
    effects: &[Effect],
    now_ms: i64,
) -> AppResult<()> {
    let (campaign_id, run_id) = run;
    message_effect::Entity::insert(message_effect::ActiveModel {
        delivery_id: ActiveValue::Set(delivery_id),
        run_id: ActiveValue::Set(run_id),
        campaign_id: ActiveValue::Set(campaign_id),
        step_id: ActiveValue::Set(step_id.to_owned()),
        effects: ActiveValue::Set(serde_json::to_value(effects).map_err(AppError::internal)?),
        created_at: ActiveValue::Set(now_ms),
    })
    .on_conflict(
        OnConflict::column(message_effect::Column::DeliveryId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// What the dispatcher tells of final outcomes: applies or drops the effects waiting for them.
pub struct StepEffects {
    staff_email: Option<String>,
    bus: EventBus,
}

impl StepEffects {
    /// Effects applied with the shop's staff address; their membership changes go on `bus`.
    pub fn new(staff_email: Option<String>, bus: EventBus) -> Self {
        StepEffects { staff_email, bus }
    }

    async fn follow(
        &self,
        txn: &WriteTxn,
        settled: Vec<Settled>,
    ) -> AppResult<Vec<MembershipChange>> {
        let ids: Vec<i64> = settled.iter().map(|s| s.delivery_id).collect();
        let waiting = message_effect::Entity::find()
            .filter(message_effect::Column::DeliveryId.is_in(ids.iter().copied()))
            .all(txn)
            .await?;
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        message_effect::Entity::delete_many()
            .filter(message_effect::Column::DeliveryId.is_in(waiting.iter().map(|w| w.delivery_id)))
            .exec(txn)
            .await?;
        let by_delivery: HashMap<i64, &Settled> =
            settled.iter().map(|s| (s.delivery_id, s)).collect();
        let mut changes = Vec::new();
        for row in waiting {
            let Some(outcome) = by_delivery.get(&row.delivery_id) else {
                continue;
            };
            let (result, detail) = if outcome.status == Status::Sent {
                match txn
                    .in_savepoint(async |savepoint| {
                        self.apply(savepoint, &row, outcome.at_ms).await
                    })
                    .await
                {
                    Ok(Some(applied)) => {
                        changes.extend(applied);
                        (
                            StepOutcome::EffectsApplied,
                            "the message was sent".to_owned(),
                        )
                    }
                    Ok(None) => (
                        StepOutcome::EffectsNotApplied,
                        "the customer is gone".to_owned(),
                    ),
                    Err(e) if e.is_database_failure() => return Err(e),
                    Err(e) => {
                        let reason = reason_of(&e);
                        tracing::warn!(
                            run.id = row.run_id,
                            delivery.id = row.delivery_id,
                            error = %reason,
                            "a sent message's step effects could not be applied"
                        );
                        (StepOutcome::EffectsFailed, reason)
                    }
                }
            } else {
                let why = outcome.reason.as_deref().unwrap_or("no reason given");
                let what = match outcome.status {
                    Status::Skipped => "was skipped",
                    Status::Unknown => "may not have gone out",
                    _ => "failed",
                };
                (
                    StepOutcome::EffectsNotApplied,
                    format!("the message {what}: {why}"),
                )
            };
            log_line(
                txn,
                row.run_id,
                Some(&row.step_id),
                outcome.at_ms,
                result,
                Some(detail),
                Some(row.delivery_id),
            )
            .await?;
        }
        Ok(changes)
    }

    /// Applies the kept effects; `None` when the customer is gone.
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        row: &message_effect::Model,
        at_ms: i64,
    ) -> AppResult<Option<Vec<MembershipChange>>> {
        let effects: Vec<Effect> = serde_json::from_value(row.effects.clone())
            .map_err(|e| AppError::internal(format!("the kept effects no longer decode: {e}")))?;
        let Some(customer) = customer_of_run(txn, row.run_id).await? else {
            return Ok(None);
        };
        let run = (row.campaign_id, row.run_id);
        let staff_email = self.staff_email.as_deref();
        let step = (row.step_id.as_str(), staff_email);
        apply_step_effects(txn, &customer, run, step, at_ms, &effects)
            .await
            .map(Some)
    }
}

/// Applies the effects of a run's step (`run` is (campaign, run), `step` its id and the staff
/// address) to the run's customer at `at_ms`, and the customer's segments follow what they
/// changed (reason `campaign:<id>`); returns the membership changes to announce.
pub(super) async fn apply_step_effects(
    txn: &impl ConnectionTrait,
    customer: &customer::Model,
    run: (i64, i64),
    step: (&str, Option<&str>),
    at_ms: i64,
    effects: &[Effect],
) -> AppResult<Vec<MembershipChange>> {
    let ((campaign_id, run_id), (step_id, staff_email)) = (run, step);
    let scope = EffectScope {
        now_ms: at_ms,
        customer,
        source: ChangeSource::Campaign(campaign_id),
        owner: Owner::Step {
            campaign_id,
            run_id,
            step_id: step_id.to_owned(),
        },
        staff_email,
    };
    // Effects write roles and tags; none reads the segments the customer is in.
    let mut batch =
        EffectBatch::load(txn, &[customer.id], false, references(effects), at_ms).await?;
    apply_effects(&mut batch, &scope, effects)?;
    let mut changes = batch.flush(txn).await?;
    if !changes.is_empty() {
        let before = membership::latest_id(txn).await?;
        let reason = format!("campaign:{campaign_id}");
        let followed = segments::follow_customers(txn, vec![(customer.id, reason)], at_ms).await?;
        if followed.logged_upto.is_some() {
            // A customer's few joins and leaves go on the bus one by one, with the rest.
            changes.extend(membership::changes_after(txn, before, FOLLOWED_AT_MOST).await?);
        }
    }
    Ok(changes)
}

/// The most segment changes one customer's step effects can make (one per segment, and a
/// join or a leave each).
const FOLLOWED_AT_MOST: u64 = 10_000;

async fn customer_of_run(
    txn: &impl ConnectionTrait,
    run_id: i64,
) -> AppResult<Option<customer::Model>> {
    let Some(run) = entity::campaign_run::Entity::find_by_id(run_id)
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    Ok(customer::Entity::find_by_id(run.customer_id)
        .one(txn)
        .await?)
}

impl Follow for StepEffects {
    fn settled<'a>(
        &'a self,
        txn: &'a WriteTxn,
        settled: Vec<Settled>,
    ) -> BoxFuture<'a, AppResult<Vec<MembershipChange>>> {
        Box::pin(self.follow(txn, settled))
    }

    fn announce(&self, changes: Vec<MembershipChange>) {
        membership::announce(&self.bus, changes);
    }
}
