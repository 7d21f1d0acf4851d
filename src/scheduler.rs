//! Cron wiring only: the campaign engine ticks on `NUDGE_TICK_SCHEDULE` (every minute by
//! default). tokio-cron-scheduler serves as a local UTC ticker; a tick still running when the
//! next one is due makes that one skip. Correctness lives in the domain and the database: a
//! tick is idempotent, and several processes ticking at once plan and send nothing twice.

use crate::domain::campaigns;
use crate::state::AppState;
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Starts the ticker, or nothing when no schedule is configured.
pub async fn start(
    state: AppState,
) -> Result<Option<JobScheduler>, Box<dyn std::error::Error + Send + Sync>> {
    let Some(schedule) = state.settings.tick_schedule.clone() else {
        return Ok(None);
    };
    let running = Arc::new(tokio::sync::Mutex::new(()));
    let job = Job::new_async(schedule.as_str(), move |_, _| {
        let (state, running) = (state.clone(), running.clone());
        Box::pin(async move {
            let Ok(_turn) = running.try_lock() else {
                tracing::warn!("campaign tick skipped: the previous one is still running");
                return;
            };
            run_tick(&state).await;
        })
    })
    .map_err(|e| format!("NUDGE_TICK_SCHEDULE {schedule:?} is not a cron expression: {e}"))?;
    let scheduler = JobScheduler::new().await?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(Some(scheduler))
}

/// One tick at the clock's instant; a failure is logged and the next tick tries again.
pub async fn run_tick(state: &AppState) {
    let store = &state.settings.store;
    match campaigns::tick(&state.work_db, &state.bus, state.clock.now(), store).await {
        Ok(report) if report.enrolled > 0 || report.advanced > 0 => {
            tracing::info!(
                campaign.enrolled = report.enrolled,
                campaign.advanced = report.advanced,
                "campaign tick"
            );
            // Advanced runs may have queued messages.
            state.senders.wake.notify_one();
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "campaign tick failed"),
    }
}
