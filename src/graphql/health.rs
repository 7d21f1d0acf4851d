//! `health`: what `/readyz` checks, with the lags and the supervised tasks behind it.

use super::auth::Require;
use super::context::state;
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// The engine as the process that answers sees it.
#[derive(SimpleObject)]
pub struct Health {
    /// Whether `/readyz` would answer 200 now.
    ready: bool,
    /// Every check that fails now (empty when ready).
    problems: Vec<HealthProblem>,
    /// How long the oldest unprocessed event has waited, in seconds (null: none waits).
    processor_lag_seconds: Option<f64>,
    /// How long the oldest due message has waited, in seconds (null: none is due, or this
    /// process does not dispatch).
    dispatcher_lag_seconds: Option<f64>,
    /// The bound on the processor's lag before the process reports itself not ready.
    processor_lag_bound_seconds: f64,
    /// The bound on the dispatcher's lag.
    dispatcher_lag_bound_seconds: f64,
    /// Whether this process sends messages (`NUDGE_DISPATCH`).
    dispatching: bool,
    /// The process's supervised tasks, by name.
    tasks: Vec<SupervisedTask>,
    checked_at: DateTime<Utc>,
}

/// One check that failed.
#[derive(SimpleObject)]
pub struct HealthProblem {
    /// `database`, `task`, `processor` or `dispatcher`.
    check: String,
    message: String,
}

/// A long-running task of the process, restarted when it fails.
#[derive(SimpleObject)]
pub struct SupervisedTask {
    name: String,
    /// False while it waits to be restarted.
    running: bool,
    /// Times it was started again after a failure.
    restarts: u64,
    /// Why it last failed, if it ever did.
    last_failure: Option<String>,
}

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Readiness, the processor's and the dispatcher's lag and the supervised tasks of the
    /// process that answers (each server process answers for itself).
    #[graphql(guard = "Require::READ")]
    async fn health(&self, ctx: &Context<'_>) -> async_graphql::Result<Health> {
        let state = state(ctx)?;
        let report = crate::readiness::report(state).await;
        let seconds = |ms: i64| ms as f64 / 1000.0;
        Ok(Health {
            ready: report.problems.is_empty(),
            problems: report
                .problems
                .into_iter()
                .map(|p| HealthProblem {
                    check: p.check.to_owned(),
                    message: p.message,
                })
                .collect(),
            processor_lag_seconds: report.processor_lag_ms.map(seconds),
            dispatcher_lag_seconds: report.dispatcher_lag_ms.map(seconds),
            processor_lag_bound_seconds: state.settings.readiness.processor_lag.as_secs_f64(),
            dispatcher_lag_bound_seconds: state.settings.readiness.dispatch_lag.as_secs_f64(),
            dispatching: state.settings.delivery.dispatch,
            tasks: report
                .tasks
                .into_iter()
                .map(|(name, task)| SupervisedTask {
                    name,
                    running: task.running,
                    restarts: task.restarts,
                    last_failure: task.last_failure,
                })
                .collect(),
            checked_at: state.clock.now(),
        })
    }
}
