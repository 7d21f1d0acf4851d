//! What `/readyz` checks: the database answers, no supervised task is waiting to be restarted,
//! the event processor is within `NUDGE_READY_PROCESSOR_LAG_SECS` of the newest events, and —
//! where this process dispatches — no due message has waited longer than
//! `NUDGE_READY_DISPATCH_LAG_SECS`. Each failed check names itself and says what is wrong.

use crate::clock::to_millis;
use crate::domain::deliveries::query::oldest_due_at;
use crate::domain::ingest::oldest_pending_received_at;
use crate::state::AppState;
use sea_orm::ConnectionTrait;
use serde::Serialize;

/// One check that failed.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// `database`, `task`, `processor` or `dispatcher`.
    pub check: &'static str,
    pub message: String,
}

/// Every check that fails now; empty when the process is ready.
pub async fn problems(state: &AppState) -> Vec<Problem> {
    let mut found = Vec::new();
    if let Err(e) = state.db.execute_unprepared("SELECT 1").await {
        tracing::warn!(error = %e, "readiness: the database does not answer");
        found.push(Problem {
            check: "database",
            message: "the database does not answer".into(),
        });
        // The lags cannot be read either.
        return found;
    }
    let mut tasks: Vec<_> = state.supervisor.tasks().into_iter().collect();
    tasks.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, task) in tasks.into_iter().filter(|(_, t)| !t.running) {
        found.push(Problem {
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
        Ok(Some(received)) if now_ms - received > bounds.processor_lag.as_millis() as i64 => {
            found.push(Problem {
                check: "processor",
                message: format!(
                    "the oldest unprocessed event is {} s old (bound {} s)",
                    (now_ms - received) / 1000,
                    bounds.processor_lag.as_secs()
                ),
            });
        }
        Ok(_) => {}
        Err(e) => found.push(Problem {
            check: "processor",
            message: format!("the processor's lag cannot be read: {}", e.public_message()),
        }),
    }
    if state.settings.delivery.dispatch {
        match oldest_due_at(&state.db, now_ms).await {
            Ok(Some(due)) if now_ms - due > bounds.dispatch_lag.as_millis() as i64 => {
                found.push(Problem {
                    check: "dispatcher",
                    message: format!(
                        "the oldest due message has waited {} s (bound {} s)",
                        (now_ms - due) / 1000,
                        bounds.dispatch_lag.as_secs()
                    ),
                });
            }
            Ok(_) => {}
            Err(e) => found.push(Problem {
                check: "dispatcher",
                message: format!(
                    "the dispatcher's lag cannot be read: {}",
                    e.public_message()
                ),
            }),
        }
    }
    found
}
