//! Prometheus metrics, on the `metrics` crate and its Prometheus exporter, served at
//! `/metrics` on `NUDGE_METRICS_LISTEN` only (off unless set: keep that address off the
//! public network). Counters and histograms are recorded where the work happens; the gauges
//! that describe the database (lags, outbox depth) and the tasks are read when scraped.
//!
//! | metric | labels |
//! |---|---|
//! | `nudge_http_requests_total`, `nudge_http_request_duration_seconds` | `route`, `operation`, `status` |
//! | `nudge_events_ingested_total` | |
//! | `nudge_ingest_held_milliseconds_total` | |
//! | `nudge_events_processed_total` | |
//! | `nudge_processor_lag_seconds`, `nudge_dispatch_lag_seconds` | |
//! | `nudge_campaign_tick_duration_seconds`, `nudge_campaign_runs_enrolled_total`, `nudge_campaign_runs_advanced_total` | |
//! | `nudge_outbox_messages` | `status`, `channel` |
//! | `nudge_sends_total` | `channel`, `outcome` |
//! | `nudge_provider_latency_seconds` | `channel` |
//! | `nudge_webhook_messages_waiting`, `nudge_webhook_lag_seconds` | |
//! | `nudge_webhook_attempts_total` | `outcome` |
//! | `nudge_webhook_latency_seconds` | |
//! | `nudge_task_restarts_total`, `nudge_task_running` | `task` |
//! | `nudge_websocket_cut_offs_total` | |
//! | `nudge_database_statements_total`, `nudge_database_statement_duration_seconds` | `pool`, `outcome` |

use crate::clock::to_millis;
use crate::domain::deliveries::query::{oldest_due_at, outbox_depth};
use crate::domain::ingest::oldest_pending_received_at;
use crate::domain::webhooks;
use crate::state::AppState;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Seconds buckets of the latency histograms: 1 ms to 30 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histogram samples are folded into their buckets.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// Installs the process's recorder once (later calls return the same handle), with a thread
/// that keeps it small; `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            keep_up(handle.clone());
            Some(handle)
        })
        .clone()
}

/// Folds the histograms' samples into their buckets every [`UPKEEP`], for the life of the
/// process. The recorder keeps every sample a histogram records until then — the latency of
/// every request and statement — so between two scrapes (or with none) memory would grow with
/// the traffic: measured, 140 MB over four minutes of 20,000 storefront reads a second. A
/// thread, not a task: the recorder serves the whole process, whatever runtime started it.
fn keep_up(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                // Nothing here should panic; if something does, the next round tries again.
                let kept =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.run_upkeep()));
                if kept.is_err() {
                    tracing::error!("metrics: the histograms' upkeep panicked");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "metrics: the upkeep thread could not start");
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "nudge_http_requests_total",
        "HTTP requests, by route pattern, GraphQL operation and status"
    );
    describe_histogram!(
        "nudge_http_request_duration_seconds",
        "HTTP request latency"
    );
    describe_counter!(
        "nudge_events_ingested_total",
        "storefront events stored (duplicates not counted)"
    );
    describe_counter!(
        "nudge_ingest_held_milliseconds_total",
        "time ingest writers held calls while the processor's backlog was over its bound"
    );
    describe_counter!(
        "nudge_events_processed_total",
        "events the processor handled"
    );
    describe_gauge!(
        "nudge_processor_lag_seconds",
        "age of the oldest unprocessed event"
    );
    describe_gauge!(
        "nudge_dispatch_lag_seconds",
        "how long the oldest due message has waited"
    );
    describe_histogram!(
        "nudge_campaign_tick_duration_seconds",
        "campaign tick duration"
    );
    describe_counter!(
        "nudge_campaign_runs_enrolled_total",
        "campaign runs enrolled by ticks"
    );
    describe_counter!(
        "nudge_campaign_runs_advanced_total",
        "campaign runs advanced by ticks"
    );
    describe_gauge!(
        "nudge_outbox_messages",
        "deliveries in the outbox, by status and channel"
    );
    describe_counter!("nudge_sends_total", "send attempts, by channel and outcome");
    describe_gauge!(
        "nudge_webhook_messages_waiting",
        "webhook messages to enabled endpoints waiting or in flight"
    );
    describe_gauge!(
        "nudge_webhook_lag_seconds",
        "how long the oldest due webhook message to an enabled endpoint has waited"
    );
    describe_counter!(
        "nudge_webhook_attempts_total",
        "webhook attempts, by outcome (succeeded, failed)"
    );
    describe_histogram!(
        "nudge_webhook_latency_seconds",
        "time an endpoint took per webhook attempt"
    );
    describe_histogram!(
        "nudge_provider_latency_seconds",
        "time the SMTP server or SMS API took per attempt"
    );
    describe_counter!(
        "nudge_websocket_cut_offs_total",
        "WebSocket clients cut off for taking no message within NUDGE_SOCKET_SEND_TIMEOUT_MS"
    );
    describe_counter!(
        "nudge_task_restarts_total",
        "restarts of each supervised task"
    );
    describe_gauge!(
        "nudge_task_running",
        "1 while a supervised task runs, 0 while it waits to be restarted"
    );
    describe_counter!(
        "nudge_database_statements_total",
        "statements run, by pool (api or background) and outcome (ok or failed)"
    );
    describe_histogram!(
        "nudge_database_statement_duration_seconds",
        "statement latency, by pool"
    );
}

/// Counts and times every statement of the pool `db` as `pool` (nothing is recorded while no
/// recorder is installed).
pub fn measure_statements(db: &mut sea_orm::DatabaseConnection, pool: &'static str) {
    db.set_metric_callback(move |info| {
        let outcome = if info.failed { "failed" } else { "ok" };
        metrics::counter!("nudge_database_statements_total", "pool" => pool, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("nudge_database_statement_duration_seconds", "pool" => pool)
            .record(info.elapsed.as_secs_f64());
    });
}

/// The label of a request's GraphQL operations: their names (client-chosen, so only the
/// first 200 distinct ones of a process get a label of their own; later ones are `other`).
pub fn operation_label(names: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let names: String = names.chars().take(100).collect();
    let Ok(mut seen) = SEEN.get_or_init(Mutex::default).lock() else {
        return "other".into();
    };
    if seen.contains(&names) || seen.len() < 200 {
        seen.insert(names.clone());
        names
    } else {
        "other".into()
    }
}

/// The text `/metrics` answers: the gauges read now, then everything recorded.
pub async fn render(state: &AppState, handle: &PrometheusHandle) -> String {
    let now_ms = to_millis(state.clock.now());
    let age = |at: Option<i64>| at.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0);
    match oldest_pending_received_at(&state.db).await {
        Ok(at) => metrics::gauge!("nudge_processor_lag_seconds").set(age(at)),
        Err(e) => tracing::warn!(error = %e, "metrics: the processor lag cannot be read"),
    }
    match oldest_due_at(&state.db, now_ms).await {
        Ok(at) => metrics::gauge!("nudge_dispatch_lag_seconds").set(age(at)),
        Err(e) => tracing::warn!(error = %e, "metrics: the dispatch lag cannot be read"),
    }
    match outbox_depth(&state.db).await {
        Ok(rows) => {
            for (status, channel, count) in rows {
                metrics::gauge!("nudge_outbox_messages", "status" => status.as_str(), "channel" => channel.as_str())
                    .set(count as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the outbox depth cannot be read"),
    }
    match webhooks::messages::backlog(&state.db, now_ms).await {
        Ok((waiting, oldest)) => {
            metrics::gauge!("nudge_webhook_messages_waiting").set(waiting as f64);
            metrics::gauge!("nudge_webhook_lag_seconds").set(age(oldest));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the webhook backlog cannot be read"),
    }
    for (task, state) in state.supervisor.tasks() {
        metrics::counter!("nudge_task_restarts_total", "task" => task.clone())
            .absolute(state.restarts);
        metrics::gauge!("nudge_task_running", "task" => task).set(if state.running {
            1.0
        } else {
            0.0
        });
    }
    handle.render()
}
