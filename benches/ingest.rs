//! Ingest benchmark: storefront events over HTTP against a real server with the event
//! processor running. Not a test: it prints figures.
//!
//!     cargo bench --bench ingest                       # embedded SQLite (a temp file)
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench ingest
//!
//! Knobs: NUDGE_BENCH_SINGLES (default 20000 requests of one event), NUDGE_BENCH_BATCHES
//! (default 400 requests of 100 events), NUDGE_BENCH_CONCURRENCY (default 32).

use nudge::clock::{SharedClock, SystemClock};
use nudge::config::Settings;
use nudge::domain::api_keys::{self, Scope};
use nudge::startup::Application;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The same allocator as the `nudge` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORD: &str =
    "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }";
const CUSTOMERS: usize = 2000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(n: usize, run: &str) -> Value {
    let customer = format!("bench-{}", n % CUSTOMERS);
    let payload = match n % 3 {
        0 => json!({ "loggedIn": true }),
        1 => {
            json!({ "pageVisited": { "url": format!("https://shop.example/p/{n}"), "referrer": "https://www.facebook.com/ads/1" } })
        }
        _ => json!({ "profileUpdated": { "locale": "en" } }),
    };
    json!({ "eventId": format!("{run}-{n}"), "customerExternalId": customer, "payload": payload })
}

struct Phase {
    name: &'static str,
    requests: usize,
    /// 0: not an ingest request but the baseline `{ viewer { scope } }` query.
    events_per_request: usize,
}

async fn run_phase(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    phase: &Phase,
    concurrency: usize,
    run: &str,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, key, next, run) = (
            client.clone(),
            url.to_owned(),
            key.to_owned(),
            next.clone(),
            run.to_owned(),
        );
        let (requests, per) = (phase.requests, phase.events_per_request);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let events: Vec<Value> = (0..per).map(|j| event(i * per + j, &run)).collect();
                let body = if per == 0 {
                    json!({ "query": "{ viewer { scope } }" })
                } else {
                    json!({ "query": RECORD, "variables": { "e": events } })
                };
                let sent = Instant::now();
                let response: Value = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .expect("sent")
                    .json()
                    .await
                    .expect("json");
                latencies.push(sent.elapsed());
                assert!(
                    response.get("errors").is_none()
                        && (per == 0
                            || response["data"]["recordEvents"]["userErrors"] == json!([])),
                    "refused: {response}"
                );
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let events = phase.requests * phase.events_per_request.max(1);
    println!(
        "{:<22} {:>7} events in {:>6.2} s = {:>8.0} events/s ({:>6.0} requests/s); latency p50 {:>6.1} ms, p99 {:>6.1} ms",
        phase.name,
        events,
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        phase.requests as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}

async fn wait_for_processor(db: &sea_orm::DatabaseConnection, total: u64, since: Instant) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    loop {
        let pending = entity::event::Entity::find()
            .filter(entity::event::Column::ProcessedAt.is_null())
            .count(db)
            .await
            .expect("count");
        if pending == 0 {
            let secs = since.elapsed().as_secs_f64();
            println!(
                "processor drained {total} events {secs:.2} s after ingest began ({:.0} events/s overall)",
                total as f64 / secs
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let temp = std::env::temp_dir().join(format!("nudge-bench-{}.db", std::process::id()));
        let url = std::env::var("NUDGE_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", temp.display()));
        let mut settings = Settings::from_env().expect("settings");
        settings.database_url = url.clone();
        settings.listen = "127.0.0.1:0".parse().expect("address");
        let clock: SharedClock = Arc::new(SystemClock);
        let app = Application::build(settings, clock.clone())
            .await
            .expect("server");
        let db = app.state.db.clone();
        let key = api_keys::create(
            &db,
            clock.now(),
            Scope::Storefront,
            "bench",
            api_keys::Verification::ServerSide,
        )
        .await
        .expect("key")
        .secret;
        let endpoint = format!("http://127.0.0.1:{}/graphql", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("client");
        let concurrency = env_usize("NUDGE_BENCH_CONCURRENCY", 32);
        let run = format!("r{}", std::process::id());
        println!(
            "database: {}; concurrency {concurrency}; {} customers",
            if url.starts_with("sqlite") {
                "SQLite"
            } else {
                "PostgreSQL"
            },
            CUSTOMERS
        );

        let warmup = Phase {
            name: "warm-up (creates customers)",
            requests: CUSTOMERS / 100,
            events_per_request: 100,
        };
        run_phase(&client, &endpoint, &key, &warmup, 4, &format!("{run}w")).await;
        let baseline = Phase {
            name: "baseline viewer query",
            requests: env_usize("NUDGE_BENCH_SINGLES", 20_000) / 2,
            events_per_request: 0,
        };
        run_phase(&client, &endpoint, &key, &baseline, concurrency, &run).await;
        let started = Instant::now();
        let singles = Phase {
            name: "single events",
            requests: env_usize("NUDGE_BENCH_SINGLES", 20_000),
            events_per_request: 1,
        };
        run_phase(
            &client,
            &endpoint,
            &key,
            &singles,
            concurrency,
            &format!("{run}s"),
        )
        .await;
        let batches = Phase {
            name: "batches of 100",
            requests: env_usize("NUDGE_BENCH_BATCHES", 400),
            events_per_request: 100,
        };
        run_phase(
            &client,
            &endpoint,
            &key,
            &batches,
            concurrency.min(8),
            &format!("{run}b"),
        )
        .await;
        let total = (singles.requests + batches.requests * 100 + CUSTOMERS) as u64;
        wait_for_processor(&db, total, started).await;
        for suffix in ["", "-wal", "-shm", ".setup-lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
        }
    });
}
