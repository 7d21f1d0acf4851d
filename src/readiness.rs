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
    let (lag, problem) = judge(
        "processor",
        oldest_pending_received_at(&state.db).await,
        now_ms,
        bounds.processor_lag,
        |s, bound| format!("the oldest unprocessed event is {s} s old (bound {bound} s)"),
    );
    report.processor_lag_ms = lag;
    report.problems.extend(problem);
    if state.settings.delivery.dispatch {
        let (lag, problem) = judge(
            "dispatcher",
            oldest_due_at(&state.db, now_ms).await,
            now_ms,
            bounds.dispatch_lag,
            |s, bound| format!("the oldest due message has waited {s} s (bound {bound} s)"),
        );
        report.dispatcher_lag_ms = lag;
        report.problems.extend(problem);
    }
    report
}

/// The lag since `oldest` (when something waits), and the problem `check` has when it is past
/// `bound` (said by `too_old` with the seconds and the bound) or could not be read.
fn judge(
    check: &'static str,
    oldest: crate::error::AppResult<Option<i64>>,
    now_ms: i64,
    bound: std::time::Duration,
    too_old: impl Fn(i64, u64) -> String,
) -> (Option<i64>, Option<Problem>) {
    match oldest {
        Ok(oldest) => {
            let lag = oldest.map(|at| (now_ms - at).max(0));
            let problem = lag
                .filter(|lag| *lag > bound.as_millis() as i64)
                .map(|lag| Problem {
                    check,
                    message: too_old(lag / 1000, bound.as_secs()),
                });
            (lag, problem)
        }
        Err(e) => (
            None,
            Some(Problem {
                check,
                message: format!("the {check}'s lag cannot be read: {}", e.public_message()),
            }),
        ),
    }
}
