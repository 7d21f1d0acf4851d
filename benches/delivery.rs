//! Delivery benchmark: the dispatcher sends 10,000 marketing emails to a local SMTP server
//! and 10,000 SMS to a local mock of the SMS API, each rendered from a template for its
//! customer, and prints messages per second. Not a test: it prints figures.
//!
//!     cargo bench --bench delivery                        # embedded SQLite (a temp file)
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench delivery
//!
//! `NUDGE_BENCH_MESSAGES` changes the number per channel (default 10,000); the server's
//! `NUDGE_SMTP_POOL_SIZE`, `NUDGE_DELIVERY_CONCURRENCY` and `NUDGE_DELIVERY_BATCH` apply.

#[path = "../tests/api/smtp_sink.rs"]
#[allow(dead_code)]
mod smtp_sink;

use nudge::clock::{SharedClock, SystemClock, to_millis};
use nudge::config::Settings;
use nudge::db::{connect, raw_statement};
use nudge::delivery::SmsSettings;
use nudge::domain::deliveries::Dispatcher;
use nudge::startup::{Bootstrap, build_senders, prepare_database};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) {
    db.execute_raw(raw_statement(db.get_database_backend(), sql, values))
        .await
        .expect("statement");
}

fn numbers(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "SELECT generate_series(1, ?) AS i",
        _ => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT i FROM n"
        }
    }
}

/// `n` consenting customers with an email address and a phone number.
async fn seed_customers(db: &DatabaseConnection, n: i64, now_ms: i64) {
    let json = if db.get_database_backend() == DbBackend::Postgres {
        "'{}'::json"
    } else {
        "'{}'"
    };
    let sql = format!(
        "INSERT INTO customers (external_id, customer_type, wholesale, email, phone, first_name, \
         email_consent, sms_consent, orders_count, total_spent, attributes, created_at, updated_at) \
         SELECT 'bench-' || i, 'person', false, 'c' || i || '@example.com', \
         '+1415' || (2000000 + i), 'Customer' || i, true, true, 0, 0, {json}, ?, ? \
         FROM ({}) s",
        numbers(db)
    );
    exec(db, &sql, vec![now_ms.into(), now_ms.into(), n.into()]).await;
}

/// One queued marketing delivery on `channel` per customer, due now.
async fn queue(db: &DatabaseConnection, channel: &str, now_ms: i64) {
    let (subject, html, text) = if channel == "sms" {
        (
            "NULL",
            "NULL",
            "'Hi {{ customer.first_name }}, 10% off today'",
        )
    } else {
        (
            "'Hi {{ customer.first_name }}'",
            "'<p>Hello {{ customer.first_name }}</p><a href=\"https://shop.example/sale\">Sale</a> <a href=\"{{ links.unsubscribe }}\">Unsubscribe</a>'",
            "'Hello {{ customer.first_name }}'",
        )
    };
    let sql = format!(
        "INSERT INTO deliveries (dedupe_key, channel, purpose, customer_id, subject, body_html, \
         body_text, status, created_at, due_at) \
         SELECT 'bench:{channel}:' || id, '{channel}', 'marketing', id, {subject}, {html}, {text}, \
         'queued', ?, ? FROM customers"
    );
    exec(db, &sql, vec![now_ms.into(), now_ms.into()]).await;
}

async fn count(db: &DatabaseConnection, channel: &str, status: &str) -> i64 {
    let row = db
        .query_one_raw(raw_statement(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM deliveries WHERE channel = ? AND status = ?",
            vec![channel.into(), status.into()],
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

/// Runs dispatcher rounds until nothing is due; prints the rate.
async fn drain(dispatcher: &Dispatcher, db: &DatabaseConnection, channel: &str, n: i64) {
    let started = Instant::now();
    loop {
        let claimed = dispatcher.dispatch_once().await.expect("round");
        if claimed == 0 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let sent = count(db, channel, "sent").await;
    println!(
        "{channel}: {sent} of {n} sent in {seconds:.2} s = {:.0} messages/s",
        sent as f64 / seconds
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let n: i64 = std::env::var("NUDGE_BENCH_MESSAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let temp = std::env::temp_dir().join(format!("nudge-delivery-{}.db", std::process::id()));
        let url = std::env::var("NUDGE_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", temp.display()));
        let sink = smtp_sink::SmtpSink::start().await;
        let api = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(serde_json::json!({ "sid": "SM1" })),
            )
            .mount(&api)
            .await;

        // Other NUDGE_* variables (pool size, concurrency, batch) apply as in the server.
        let mut settings = Settings::from_env().expect("settings");
        settings.database_url = url.clone();
        settings.delivery.email.smtp_url = Some(sink.url().into());
        settings.delivery.sms = Some(SmsSettings {
            api_url: api.uri(),
            account_sid: "AC1".into(),
            auth_token: "token".into(),
            from: Some("+14155550100".into()),
            messaging_service_sid: None,
            timeout: Duration::from_secs(10),
        });
        settings.delivery.quiet_hours = None;
        let clock: SharedClock = Arc::new(SystemClock);
        prepare_database(&settings, &clock, Bootstrap::MigrateOnly)
            .await
            .expect("migrated");
        let db = connect(&url, settings.database_max_connections)
            .await
            .expect("database");
        let senders = build_senders(&settings, &db, &clock)
            .await
            .expect("senders");
        println!(
            "database: {}; {n} messages per channel; batch {}, concurrency {}, SMTP pool {}",
            if url.starts_with("sqlite") {
                "SQLite"
            } else {
                "PostgreSQL"
            },
            settings.delivery.batch,
            settings.delivery.concurrency,
            settings.delivery.email.pool_size
        );
        let now_ms = to_millis(clock.now());
        seed_customers(&db, n, now_ms).await;
        let dispatcher = Dispatcher::new(
            db.clone(),
            clock.clone(),
            senders,
            Arc::new(settings),
            Arc::new(nudge::domain::deliveries::follow::Nothing),
        );

        queue(&db, "email", now_ms).await;
        drain(&dispatcher, &db, "email", n).await;
        println!("the SMTP server received {} messages", sink.count());

        queue(&db, "sms", now_ms).await;
        drain(&dispatcher, &db, "sms", n).await;
        let requests = api.received_requests().await.map_or(0, |r| r.len());
        println!("the SMS API received {requests} requests");
        let _ = std::fs::remove_file(&temp);
    });
}
