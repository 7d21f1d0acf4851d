//! The processor's loop: at once when woken, every second otherwise, on this process's share
//! of the events.

use super::partitions::Partitions;
use super::{PARTITIONS, Share, process_pending};
use crate::events::EventBus;
use sea_orm::DatabaseConnection;

/// The processor's task name.
pub const TASK: &str = "event processor";

/// How long the processor waits after a wake-up before it takes the pending events.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs the processor until the process stops: at once when woken, and every second.
/// With PostgreSQL each process handles the partitions it holds, so events are handled once
/// and in order per customer however many processes serve, and each adds capacity.
pub async fn run(
    db: DatabaseConnection,
    bus: EventBus,
    clock: crate::clock::SharedClock,
    wake: std::sync::Arc<tokio::sync::Notify>,
    settings: std::sync::Arc<crate::config::Settings>,
    dispatcher: std::sync::Arc<tokio::sync::Notify>,
    supervisor: crate::supervisor::Supervisor,
) {
    let mut partitions = Partitions::new(settings.database_url.clone());
    loop {
        supervisor.check(TASK);
        loop {
            let share = partitions.share().await;
            let held = match &share {
                Share::All => PARTITIONS,
                Share::Partitions(held) => held.len() as i64,
            };
            metrics::gauge!("nudge_processor_partitions").set(held as f64);
            match process_pending(&db, &bus, clock.now(), &settings.store, 500, &share).await {
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
