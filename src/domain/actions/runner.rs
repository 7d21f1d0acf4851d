//! The processor's loop and its leadership among processes.

use super::processor::{ProcessorConfig, process_pending};
use crate::events::EventBus;
use sea_orm::{ConnectionTrait, DatabaseConnection};

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
    let config = ProcessorConfig {
        store_currency: &settings.currency,
        staff_email: settings.staff_email.as_deref(),
        store_zone: settings.default_timezone,
    };
    let mut leader = Leadership::new(settings.database_url.clone());
    loop {
        supervisor.check(TASK);
        if leader.holds().await {
            loop {
                match process_pending(&db, &bus, clock.now(), &config, 500).await {
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

/// The processor lock: always held with SQLite (one process); with PostgreSQL a session
/// advisory lock on a dedicated connection, checked before every round and retried until won.
struct Leadership {
    url: String,
    conn: Option<DatabaseConnection>,
}

/// The processor lock's two keys: "nudg" and 1.
const PROCESSOR_LOCK: (i32, i32) = (0x6e75_6467, 1);

impl Leadership {
    fn new(url: String) -> Self {
        Self { url, conn: None }
    }

    async fn holds(&mut self) -> bool {
        if !self.url.starts_with("postgres") {
            return true;
        }
        if self.conn.is_none() {
            self.conn = crate::db::connect_dedicated(&self.url).await.ok();
        }
        let Some(conn) = &self.conn else {
            return false;
        };
        let (class, object) = PROCESSOR_LOCK;
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = {class} \
             AND objid = {object} AND objsubid = 2 AND pid = pg_backend_pid() AND granted) \
             OR pg_try_advisory_lock({class}, {object}) AS won"
        );
        match conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await
        {
            Ok(row) => row
                .and_then(|row| row.try_get::<bool>("", "won").ok())
                .unwrap_or(false),
            Err(e) => {
                tracing::warn!(error = %e, "processor lock connection failed; reconnecting");
                self.conn = None;
                false
            }
        }
    }
}
