//! A run's log: one line per thing a step did, or why the run entered, waited or ended.

use super::status::StepOutcome;
use crate::error::{AppError, AppResult};
use entity::{campaign_run, campaign_run_step};
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait};

/// The reason a run's log gives for an error: the cause itself, for an admin to read.
pub(super) fn reason_of(error: &AppError) -> String {
    match error {
        AppError::Internal(cause) => cause.to_string(),
        other => other.public_message(),
    }
}

/// Adds a line to the log of run `run_id`.
pub(super) async fn log_line(
    txn: &impl ConnectionTrait,
    run_id: i64,
    step_id: Option<&str>,
    at: i64,
    outcome: StepOutcome,
    detail: Option<String>,
    delivery_id: Option<i64>,
) -> AppResult<()> {
    campaign_run_step::ActiveModel {
        id: ActiveValue::NotSet,
        run_id: ActiveValue::Set(run_id),
        step_id: ActiveValue::Set(step_id.map(str::to_owned)),
        at: ActiveValue::Set(at),
        outcome: ActiveValue::Set(outcome.as_str().to_owned()),
        detail: ActiveValue::Set(detail),
        delivery_id: ActiveValue::Set(delivery_id),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Adds a line to the log of `run`.
pub(super) async fn log(
    txn: &impl ConnectionTrait,
    run: &campaign_run::Model,
    step_id: Option<&str>,
    at: i64,
    outcome: StepOutcome,
    detail: Option<String>,
    delivery_id: Option<i64>,
) -> AppResult<()> {
    log_line(txn, run.id, step_id, at, outcome, detail, delivery_id).await
}
