//! The processor's loop: at once when woken, every second otherwise, while this process
//! leads.

use super::leadership::Leadership;
use super::process_pending;
use crate::events::EventBus;
use sea_orm::DatabaseConnection;

/// The processor's task name.
pub const TASK: &str = "event processor";

/// How long the processor waits after a wake-up before it takes the pending events.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs the processor until the process stops: at once when woken, and every second.
/// With PostgreSQL only the process holding the processor lock runs it, so events are
/// handled once and in order even with several processes.
pub async fn run(
    db: DatabaseConnection,
    bus: EventBus,
    clock: crate::clock::SharedClock,
    wake: std::sync::Arc<tokio::sync::Notify>,
    settings: std::sync::Arc<crate::config::Settings>,
    dispatcher: std::sync::Arc<tokio::sync::Notify>,
    supervisor: crate::supervisor::Supervisor,
) {
    let mut leader = Leadership::new(settings.database_url.clone());
    loop {
        supervisor.check(TASK);
        if leader.holds().await {
            loop {
                match process_pending(&db, &bus, clock.now(), &settings.store, 500).await {
                    Ok(0) => break,
                    Ok(handled) => {
                        metrics::counter!("nudge_events_processed_total").increment(handled as u64);
                        // Effects may have queued messages: the dispatcher looks at once.
                        dispatcher.notify_one();
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "event processor failed");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {
                // Ingest commits often under load: let a round take what arrives meanwhile
                // rather than run one round per commit.
                tokio::time::sleep(GATHER).await;
            }
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}
