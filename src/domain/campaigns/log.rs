//! A run's log: one line per thing a step did, or why the run entered, waited or ended.

use crate::error::{AppError, AppResult};
use entity::campaign_run_step;
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
    outcome: &str,
    detail: Option<String>,
    delivery_id: Option<i64>,
) -> AppResult<()> {
    campaign_run_step::ActiveModel {
        id: ActiveValue::NotSet,
        run_id: ActiveValue::Set(run_id),
        step_id: ActiveValue::Set(step_id.map(str::to_owned)),
        at: ActiveValue::Set(at),
        outcome: ActiveValue::Set(outcome.to_owned()),
        detail: ActiveValue::Set(detail),
        delivery_id: ActiveValue::Set(delivery_id),
    }
    .insert(txn)
    .await?;
    Ok(())
}
