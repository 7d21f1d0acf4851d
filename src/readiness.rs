//! What `/readyz` checks: the database answers, no supervised task is waiting to be restarted,
//! the event processor is within `NUDGE_READY_PROCESSOR_LAG_SECS` of the newest events, and —
//! where this process dispatches — no due message has waited longer than
//! `NUDGE_READY_DISPATCH_LAG_SECS`. Each failed check names itself and says what is wrong.
//! The GraphQL `health` query (and the console's health page) reads the same [`Report`].

use crate::clock::to_millis;
use crate::domain::deliveries::query::oldest_due_at;
use crate::domain::ingest::oldest_pending_received_at;
use crate::state::AppState;
use crate::supervisor::TaskState;
use sea_orm::ConnectionTrait;
use serde::Serialize;

/// One check that failed.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// `database`, `task`, `processor` or `dispatcher`.
    pub check: &'static str,
    pub message: String,
}

/// What this process sees of the engine now.
pub struct Report {
    /// Every check that fails; empty when the process is ready.
    pub problems: Vec<Problem>,
    /// How long the oldest unprocessed event has waited, in ms (`None`: none waits, or it
    /// could not be read).
    pub processor_lag_ms: Option<i64>,
    /// How long the oldest due message has waited (`None`: none is due, it could not be
    /// read, or this process does not dispatch).
    pub dispatcher_lag_ms: Option<i64>,
    /// The supervised tasks, by name.
    pub tasks: Vec<(String, TaskState)>,
}

/// Every check that fails now; empty when the process is ready.
pub async fn problems(state: &AppState) -> Vec<Problem> {
    report(state).await.problems
}

/// The checks, the lags and the tasks.
pub async fn report(state: &AppState) -> Report {
    let mut tasks: Vec<_> = state.supervisor.tasks().into_iter().collect();
    tasks.sort_by(|a, b| a.0.cmp(&b.0));
    let mut report = Report {
        problems: Vec::new(),
        processor_lag_ms: None,
        dispatcher_lag_ms: None,
        tasks,
    };
    if let Err(e) = state.db.execute_unprepared("SELECT 1").await {
        tracing::warn!(error = %e, "readiness: the database does not answer");
        report.problems.push(Problem {
            check: "database",
            message: "the database does not answer".into(),
        });
        // The lags cannot be read either.
        return report;
    }
    for (name, task) in report.tasks.iter().filter(|(_, t)| !t.running) {
        report.problems.push(Problem {
            check: "task",
            message: format!(
                "{name} is waiting to be restarted after {} restarts: {}",
                task.restarts,
                task.last_failure
                    .as_deref()
                    .unwrap_or("no failure recorded")
            ),
        });
    }
    let now_ms = to_millis(state.clock.now());
    let bounds = state.settings.readiness;
    match oldest_pending_received_at(&state.db).await {
        Ok(received) => {
            let lag = received.map(|at| (now_ms - at).max(0));
            report.processor_lag_ms = lag;
            if let Some(lag) = lag.filter(|lag| *lag > bounds.processor_lag.as_millis() as i64) {
                report.problems.push(Problem {
                    check: "processor",
                    message: format!(
                        "the oldest unprocessed event is {} s old (bound {} s)",
                        lag / 1000,
                        bounds.processor_lag.as_secs()
                    ),
                });
            }
        }
        Err(e) => report.problems.push(Problem {
            check: "processor",
            message: format!("the processor's lag cannot be read: {}", e.public_message()),
        }),
    }
    if state.settings.delivery.dispatch {
        match oldest_due_at(&state.db, now_ms).await {
            Ok(due) => {
                let lag = due.map(|at| (now_ms - at).max(0));
                report.dispatcher_lag_ms = lag;
                if let Some(lag) = lag.filter(|lag| *lag > bounds.dispatch_lag.as_millis() as i64) {
                    report.problems.push(Problem {
                        check: "dispatcher",
                        message: format!(
                            "the oldest due message has waited {} s (bound {} s)",
                            lag / 1000,
                            bounds.dispatch_lag.as_secs()
                        ),
                    });
                }
            }
            Err(e) => report.problems.push(Problem {
                check: "dispatcher",
                message: format!(
                    "the dispatcher's lag cannot be read: {}",
                    e.public_message()
                ),
            }),
        }
    }
    report
}
