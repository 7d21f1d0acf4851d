//! Cron wiring only: the clock ticks on `NUDGE_TICK_SCHEDULE` (every minute by default) —
//! segments whose members cross a time boundary, then the campaign engine — and old message texts are forgotten hourly (`NUDGE_RETENTION_DAYS`).
//! tokio-cron-scheduler serves as a local UTC ticker; a tick still running when the next one
//! is due makes that one skip. Correctness lives in the domain and the database: a
//! tick is idempotent, and several processes ticking at once plan and send nothing twice.

use crate::domain::{clockwork, deliveries, webhooks};
use crate::state::AppState;
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler};

/// When old message texts are forgotten: every hour, at minute 17.
const RETENTION_SCHEDULE: &str = "0 17 * * * *";

/// Starts the ticker (when a schedule is configured) and the hourly retention job (when
/// `NUDGE_RETENTION_DAYS` is not 0); nothing when neither runs.
pub async fn start(
    state: AppState,
) -> Result<Option<JobScheduler>, Box<dyn std::error::Error + Send + Sync>> {
    let mut jobs = Vec::new();
    if let Some(schedule) = state.settings.tick_schedule.clone() {
        let (state, running) = (state.clone(), Arc::new(tokio::sync::Mutex::new(())));
        let tick = Job::new_async(schedule.as_str(), move |_, _| {
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
        jobs.push(tick);
    }
    if state.settings.retention_days > 0 {
        jobs.push(Job::new_async(RETENTION_SCHEDULE, move |_, _| {
            let state = state.clone();
            Box::pin(async move { run_retention(&state).await })
        })?);
    }
    if jobs.is_empty() {
        return Ok(None);
    }
    let scheduler = JobScheduler::new().await?;
    for job in jobs {
        scheduler.add(job).await?;
    }
    scheduler.start().await?;
    Ok(Some(scheduler))
}

/// One tick at the clock's instant ([`clockwork::tick`]); each part's failure is logged and
/// the next tick tries it again.
pub async fn run_tick(state: &AppState) {
    let (store, now) = (&state.settings.store, state.clock.now());
    let ticked = clockwork::tick(&state.work_db, &state.bus, now, store).await;
    match ticked.segments {
        Ok(crossed) if crossed.joined > 0 || crossed.left > 0 => tracing::info!(
            segment.joined = crossed.joined,
            segment.left = crossed.left,
            "segments crossed a time boundary"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "segment tick failed"),
    }
    match ticked.carts {
        Ok(collected) if collected.carts > 0 => {
            tracing::info!(
                replenishment.carts = collected.carts,
                replenishment.lines = collected.lines,
                "predicted carts collected"
            );
            // Campaigns and actions listening to gathered carts have events to take.
            state.processor_wake.notify_one();
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "predicted cart collection failed"),
    }
    match ticked.campaigns {
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

/// Forgets the texts of messages, and finished webhook messages, older than the retention
/// period; a failure is logged and the
/// next hour tries again.
pub async fn run_retention(state: &AppState) {
    let (now, days) = (state.clock.now(), state.settings.retention_days);
    match deliveries::retention::forget_texts(&state.work_db, now, days).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(deliveries.purged = purged, "old message texts forgotten"),
        Err(e) => tracing::error!(error = %e, "forgetting old message texts failed"),
    }
    if days == 0 {
        return;
    }
    let cutoff = crate::clock::to_millis(now - chrono::Duration::days(i64::from(days)));
    match webhooks::messages::forget_before(&state.work_db, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(webhooks.forgotten = n, "old webhook messages forgotten"),
        Err(e) => tracing::error!(error = %e, "forgetting old webhook messages failed"),
    }
}
