//! `/metrics`: Prometheus text on its own listener (`NUDGE_METRICS_LISTEN`), never on the
//! public one.

use crate::helpers::{ev, spawn_app_with};
use serde_json::json;
use std::time::Duration;

/// The value of the sample whose line starts with `prefix` (name and labels), if present.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_and_count_what_happened() {
    // Arrange: an action that mails on login (recorded locally), metrics on a second port.
    let app = spawn_app_with(|s| {
        s.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
        s.delivery.poll = Duration::from_millis(20);
        s.delivery.quiet_hours = None;
        s.delivery.email_cap = None;
    })
    .await;
    let metrics = app.metrics_address.clone().expect("metrics are served");
    app.create_customer(json!({ "externalId": "ann", "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    app.create_action(json!({ "name": "hi", "trigger": "LOGGED_IN",
        "effects": [{ "sendEmail": { "subject": "Hi", "bodyHtml": "<p>Hi</p>" } }] }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    // Act
    app.record(
        &storefront,
        json!([ev(
            "l1",
            "ann",
            "2026-11-22T11:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("l1").await;
    let named = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "query": "query WhoAmI { viewer { scope } }", "operationName": "WhoAmI" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(named.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = app
            .client
            .get(format!("{metrics}/metrics"))
            .send()
            .await
            .expect("scraped")
            .text()
            .await
            .expect("text");
        // Counters are the process's (other tests' servers count too); the outbox gauge is
        // read from this server's database, so it says when this server's mail went out.
        let at_least_one =
            |name, labels: &[(&str, &str)]| sample(&text, name, labels).is_some_and(|n| n >= 1.0);
        if at_least_one(
            "nudge_sends_total",
            &[("channel", "email"), ("outcome", "sent")],
        ) && at_least_one(
            "nudge_outbox_messages",
            &[("status", "sent"), ("channel", "email")],
        ) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let public = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("sent");

    // Assert
    assert_eq!(public.status(), 404, "never on the public listener");
    let requests = sample(
        &text,
        "nudge_http_requests_total",
        &[
            ("route", "/graphql"),
            ("operation", "WhoAmI"),
            ("status", "200"),
        ],
    );
    assert!(requests.is_some_and(|n| n >= 1.0), "{text}");
    assert!(
        text.contains("nudge_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        sample(&text, "nudge_events_ingested_total", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "nudge_events_processed_total", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "nudge_outbox_messages",
            &[("status", "sent"), ("channel", "email")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "nudge_task_running", &[("task", "dispatcher")]),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "nudge_processor_lag_seconds", &[]).is_some(),
        "{text}"
    );
    assert!(
        text.contains("nudge_provider_latency_seconds_bucket{channel=\"email\""),
        "{text}"
    );
}
