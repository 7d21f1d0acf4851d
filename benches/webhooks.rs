//! Webhooks benchmark: 10,000 membership changes (2,500 customers, 4 tag changes each)
//! fanned out to 3 endpoints on a local receiver — 30,000 signed messages — and how fast the
//! webhook sender delivers them, with each customer's changes checked to arrive in order at
//! every endpoint. Not a test: it prints figures, beside a floor measured in the same run.
//!
//! 1. Writing the changes through the domain (each in its transaction, with its messages).
//! 2. The floor: the same 30,000 bodies signed and posted with the same client and
//!    concurrency, no database.
//! 3. The sender draining the outbox: messages per second, and against the floor.
//!
//! Run it with:
//!
//!     cargo bench --bench webhooks
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench webhooks
//!
//! `NUDGE_BENCH_CHANGES` changes the number of changes (default 10,000); the server's
//! `NUDGE_WEBHOOK_CONCURRENCY` and `NUDGE_WEBHOOK_BATCH` apply.

#[path = "bench_db.rs"]
#[allow(dead_code)]
mod bench_db;

#[path = "../tests/api/webhooks/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use bench_db::{BenchDb, exec, numbers, scalar, size};
use futures_util::StreamExt;
use nudge::clock::to_millis;
use nudge::delivery::webhook::WebhookClient;
use nudge::domain::webhook_sender::WebhookSender;
use nudge::domain::webhooks::endpoints::{self, Access, EndpointInput, UrlPolicy};
use nudge::domain::webhooks::signature::{Secret, header};
use nudge::events::{BusMode, EventBus};
use receiver::Receiver;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Changes per customer.
const STEPS: i64 = 4;
const ENDPOINTS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let changes = size("NUDGE_BENCH_CHANGES", 10_000);
        let customers = (changes / STEPS).max(1);
        let mut opened = BenchDb::open("webhooks", 8).await;
        opened.settings.webhooks.allow_http = true;
        opened.settings.webhooks.allow_private = true;
        let (clock, db) = (opened.clock.clone(), opened.db.clone());
        let now_ms = to_millis(clock.now());
        exec(
            &db,
            &format!(
                "INSERT INTO customers (external_id, customer_type, wholesale, email_consent, \
                 sms_consent, orders_count, total_spent, attributes, created_at, updated_at) \
                 SELECT 'hook-' || i, 'person', false, false, false, 0, 0, {}, {now_ms}, {now_ms} \
                 FROM ({}) s",
                if opened.label() == "PostgreSQL" {
                    "CAST('{}' AS json)"
                } else {
                    "'{}'"
                },
                numbers(&db, customers)
            ),
        )
        .await;
        let bus = EventBus::new(BusMode::InProcess);
        let tag = nudge::domain::tags::create(&db, clock.now(), "step")
            .await
            .expect("tag");
        let receiver = Receiver::start().await;
        let policy = UrlPolicy {
            allow_http: true,
            allow_private: true,
        };
        for n in 0..ENDPOINTS {
            let input = EndpointInput {
                url: Some(receiver.url(&format!("/e{n}"))),
                ..Default::default()
            };
            endpoints::create(&db, clock.now(), Access::All, input, policy)
                .await
                .expect("endpoint");
        }
        println!(
            "database: {}; {customers} customers × {STEPS} changes × {ENDPOINTS} endpoints",
            opened.label()
        );

        // 1: the changes, four writers at once, each customer's in order.
        let first_customer = scalar(&db, "SELECT MIN(id) AS n FROM customers").await;
        let started = Instant::now();
        futures_util::stream::iter(0..customers)
            .map(|offset| {
                let (db, bus, clock) = (db.clone(), bus.clone(), clock.clone());
                async move {
                    for step in 0..STEPS {
                        nudge::domain::tags::set_on_customer(
                            &db,
                            &bus,
                            clock.now(),
                            first_customer + offset,
                            tag.id,
                            Some(step.to_string()),
                        )
                        .await
                        .expect("a change");
                    }
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<()>>()
            .await;
        let written = started.elapsed().as_secs_f64();
        let messages = scalar(&db, "SELECT COUNT(*) AS n FROM webhook_messages").await;
        println!(
            "{} changes written with their {messages} messages in {written:.1} s ({:.0} changes/s)",
            customers * STEPS,
            (customers * STEPS) as f64 / written
        );

        // 2: the floor.
        let hooks = &opened.settings.webhooks;
        let client = WebhookClient::new(hooks.connect_timeout, hooks.timeout, true)
            .expect("a client");
        let secret = [Secret::generate()];
        let body = format!(
            r#"{{"type":"tag.set","timestamp":"2026-12-07T00:00:00.000Z","data":{{"changeId":"1","customer":{{"id":"1","externalId":"hook-1"}},"source":"admin","tag":{{"id":"{}","name":"step"}},"value":"0","previousValue":null}}}}"#,
            tag.id
        );
        let floor_url = receiver.url("/floor");
        let started = Instant::now();
        futures_util::stream::iter(0..messages)
            .map(|n| {
                let (client, body, url, secret) = (&client, body.clone(), &floor_url, &secret);
                async move {
                    let id = format!("msg_floor{n}");
                    let headers = [
                        ("webhook-id", id.clone()),
                        ("webhook-timestamp", "1765065600".to_owned()),
                        ("webhook-signature", header(secret, &id, 1_765_065_600, body.as_bytes())),
                    ];
                    assert!(client.post(url, &headers, body).await.succeeded());
                }
            })
            .buffer_unordered(hooks.concurrency)
            .collect::<Vec<()>>()
            .await;
        let floor = started.elapsed().as_secs_f64();
        println!(
            "floor: {messages} signed POSTs to the receiver, {} at once, no database: {floor:.2} s ({:.0}/s)",
            hooks.concurrency,
            messages as f64 / floor
        );

        // 3: the sender.
        let settings = Arc::new(opened.settings.clone());
        let sender = WebhookSender::new(
            db.clone(),
            clock.clone(),
            settings,
            Arc::new(tokio::sync::Notify::new()),
        )
        .expect("a sender");
        let before = receiver.calls().len();
        let started = Instant::now();
        loop {
            let claimed = sender.send_once().await.expect("a round");
            if claimed == 0 {
                let left = scalar(
                    &db,
                    "SELECT COUNT(*) AS n FROM webhook_messages WHERE status <> 'succeeded'",
                )
                .await;
                if left == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let sent = started.elapsed().as_secs_f64();
        let calls = receiver.calls();
        println!(
            "sender: {messages} messages in {sent:.2} s = {:.0} messages/s ({:.1}x the floor's time)",
            messages as f64 / sent,
            sent / floor
        );

        // Order: every endpoint saw each customer's values 0, 1, 2, 3, once each, in order.
        let mut seen: HashMap<(String, String), Vec<String>> = HashMap::new();
        for call in &calls[before..] {
            let body = call.json();
            let customer = body["data"]["customer"]["externalId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let value = body["data"]["value"].as_str().unwrap_or_default().to_owned();
            seen.entry((call.path.clone(), customer)).or_default().push(value);
        }
        let expected: Vec<String> = (0..STEPS).map(|n| n.to_string()).collect();
        let in_order = seen.values().filter(|values| **values == expected).count();
        println!(
            "order: {in_order} of {} (endpoint, customer) streams arrived complete and in order",
            customers as usize * ENDPOINTS
        );
        assert_eq!(in_order, customers as usize * ENDPOINTS, "order was not kept");
        assert_eq!(calls.len() - before, messages as usize, "a message was sent twice");
        opened.remove();
    });
}
