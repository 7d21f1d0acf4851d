//! The event processor shared by several processes on one PostgreSQL database: the events'
//! partitions spread over the live processes, a process killed with `kill -9` has its
//! partitions taken over within seconds, and every event is processed exactly once and in
//! order per customer. (SQLite serves one process: nothing to share.)

use crate::helpers::TestDatabase;
use crate::process::{Server, TempDir, free_port, metric, post};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 20;
const EVENTS_EACH: usize = 30;

/// A server of the shared database with its metrics on a port of its own.
struct Member {
    server: Server,
    metrics: String,
    _dir: TempDir,
}

async fn member(url: &str, key_from: Option<&TempDir>) -> Member {
    let dir = TempDir::new();
    if let Some(first) = key_from {
        std::fs::copy(first.path().join("key.txt"), dir.path().join("key.txt")).expect("key");
    }
    let port = free_port();
    let server = Server::start(
        url,
        dir.path(),
        &[("NUDGE_METRICS_LISTEN", format!("127.0.0.1:{port}"))],
    )
    .await;
    Member {
        server,
        metrics: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// Waits (20 s at most) until the members hold every partition between them, each some.
async fn spread(members: &[&Member]) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut held = Vec::new();
        for m in members {
            held.push(metric(&m.metrics, "nudge_processor_partitions", "").await);
        }
        if held.iter().sum::<f64>() == 16.0 && held.iter().all(|&h| h > 0.0) {
            return held;
        }
        assert!(Instant::now() < deadline, "partitions held: {held:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn view(customer: usize, n: usize) -> Value {
    json!({ "eventId": format!("c{customer}-{n}"), "customerExternalId": format!("c{customer}"),
        "occurredAt": format!("2026-11-22T10:{:02}:{:02}Z", n / 60, n % 60),
        "payload": { "productViewed": { "productExternalId": "p1" } } })
}

#[tokio::test]
async fn three_servers_share_the_processor_and_a_killed_one_loses_and_repeats_nothing() {
    // Arrange: three servers on one PostgreSQL database; an action fires on every view.
    let database = TestDatabase::create().await;
    if !database.url.starts_with("postgres") {
        return;
    }
    let first = member(&database.url, None).await;
    let admin = first.server.admin.clone();
    post(
        &first.server,
        &admin,
        "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
        json!({ "p": [{ "externalId": "p1", "name": "One", "price": "1.00", "currency": "USD" }] }),
    )
    .await;
    let created = post(
        &first.server,
        &admin,
        "mutation($i: CustomerActionInput!) { createCustomerAction(input: $i) { action { id } userErrors { message } } }",
        json!({ "i": { "name": "seen", "trigger": "PRODUCT_VIEWED", "repeat": { "kind": "EVERY_TIME" },
            "effects": [{ "showBanner": { "title": "Hi", "bodyHtml": "<p>Hi</p>" } }] } }),
    )
    .await;
    let action = created["createCustomerAction"]["action"]["id"].clone();
    let storefront = first.server.storefront_key().await;
    let second = member(&database.url, Some(&first._dir)).await;
    let third = member(&database.url, Some(&first._dir)).await;
    let held = spread(&[&first, &second, &third]).await;

    // Act: each customer's views in order, a request at a time to the servers in turn; the
    // second server is killed (SIGKILL) half way.
    let mut second = Some(second);
    for n in 0..EVENTS_EACH {
        if n == EVENTS_EACH / 2 {
            drop(second.take());
        }
        let batch: Vec<Value> = (0..CUSTOMERS).map(|c| view(c, n)).collect();
        let to = match (n % 3, &second) {
            (1, Some(s)) => &s.server,
            (2, _) => &third.server,
            _ => &first.server,
        };
        post(
            to,
            &storefront,
            "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }",
            json!({ "e": batch }),
        )
        .await;
    }
    let killed_at = Instant::now();
    let after_kill = spread(&[&first, &third]).await;
    let taken_over = killed_at.elapsed();

    // Assert: the partitions were spread over three, then over the two left within seconds.
    assert_eq!(held.iter().sum::<f64>(), 16.0, "{held:?}");
    assert_eq!(after_kill.iter().sum::<f64>(), 16.0, "{after_kill:?}");
    assert!(taken_over < Duration::from_secs(10), "{taken_over:?}");
    // Every event fired once, and each customer's in the order they were sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    for c in 0..CUSTOMERS {
        let customer = post(
            &first.server,
            &admin,
            "query($x: String!) { customer(externalId: $x) { id } }",
            json!({ "x": format!("c{c}") }),
        )
        .await["customer"]["id"]
            .clone();
        let mut ids = Vec::new();
        for n in 0..EVENTS_EACH {
            let id = post(
                &first.server,
                &admin,
                "query($x: String!) { event(eventId: $x) { id } }",
                json!({ "x": format!("c{c}-{n}") }),
            )
            .await["event"]["id"]
                .clone();
            ids.push(id.as_str().expect("stored").parse::<i64>().expect("an id"));
        }
        let fired = loop {
            let data = post(
                &first.server,
                &admin,
                "query($a: ID!, $c: ID!) { actionFirings(actionId: $a, customerId: $c, first: 100) { eventId } }",
                json!({ "a": action, "c": customer }),
            )
            .await;
            let mut fired: Vec<i64> = data["actionFirings"]
                .as_array()
                .expect("firings")
                .iter()
                .map(|f| f["eventId"].as_str().expect("id").parse().expect("an id"))
                .collect();
            // Newest first: the processing order is the reverse.
            fired.reverse();
            if fired.len() >= EVENTS_EACH || Instant::now() > deadline {
                break fired;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            fired, ids,
            "customer c{c}: fired on these events, in this order"
        );
    }
    let outcomes = post(
        &first.server,
        &admin,
        "query($x: String!) { event(eventId: $x) { outcome } }",
        json!({ "x": format!("c0-{}", EVENTS_EACH - 1) }),
    )
    .await;
    assert_eq!(
        outcomes["event"]["outcome"]["actions"][0]["fired"],
        json!(true),
        "{outcomes}"
    );
}
