//! Nothing dies silently: a fault injected into each long-running task fails it, the
//! supervisor starts it again, and the work it does goes on.

use crate::helpers::{TestApp, ev, spawn_app_with};
use serde_json::json;
use std::time::Duration;

/// Waits (10 s at most) until `task` was restarted `times` and runs again.
async fn restarted(app: &TestApp, task: &str, times: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = app.supervisor.tasks();
        if tasks
            .get(task)
            .is_some_and(|t| t.restarts >= times && t.running)
        {
            let failure = tasks[task].last_failure.clone().unwrap_or_default();
            assert!(failure.contains("fault injected"), "{failure}");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{task}: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn login(id: &str) -> serde_json::Value {
    json!([ev(
        id,
        "ann",
        "2026-11-22T12:00:00Z",
        json!({ "loggedIn": true })
    )])
}

#[tokio::test]
async fn a_failed_ingest_writer_answers_its_callers_and_comes_back() {
    let app = spawn_app_with(|_| {}).await;
    let storefront = app.create_key("STOREFRONT").await;

    app.supervisor.inject_fault("ingest writer 1");
    let failed = app
        .graphql(
            Some(&storefront),
            "mutation($e: [EventInput!]!) { recordEvents(events: $e) { results { duplicate } } }",
            json!({ "e": login("e-1") }),
        )
        .await;
    restarted(&app, "ingest writer 1", 1).await;
    let recorded = app.record(&storefront, login("e-2")).await;

    assert_eq!(crate::helpers::error_code(&failed), "INTERNAL", "{failed}");
    assert_eq!(recorded["results"][0]["duplicate"], false);
    app.processed("e-2").await;
}

#[tokio::test]
async fn a_failed_event_processor_comes_back_and_handles_what_arrived() {
    let app = spawn_app_with(|_| {}).await;
    let storefront = app.create_key("STOREFRONT").await;

    app.supervisor.inject_fault("event processor");
    restarted(&app, "event processor", 1).await;
    app.record(&storefront, login("e-1")).await;

    app.processed("e-1").await;
}

#[tokio::test]
async fn a_failed_dispatcher_comes_back_and_sends() {
    let app = spawn_app_with(|s| {
        s.delivery.poll = Duration::from_millis(20);
        s.delivery.quiet_hours = None;
    })
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.create_customer(json!({
        "externalId": "ann",
        "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" }
    }))
    .await;
    app.create_action(json!({
        "name": "Hello",
        "trigger": "LOGGED_IN",
        "effects": [{ "sendEmail": { "subject": "Hi", "bodyHtml": "<p>Hi</p>" } }]
    }))
    .await;

    app.supervisor.inject_fault("dispatcher");
    restarted(&app, "dispatcher", 1).await;
    app.record(&storefront, login("e-1")).await;
    app.processed("e-1").await;

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let data = app
            .admin_data(
                "{ deliveries(first: 5) { edges { node { status } } } }",
                json!({}),
            )
            .await;
        if data["deliveries"]["edges"][0]["node"]["status"] == "SENT" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{data}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failed_revocation_watcher_comes_back() {
    let app = spawn_app_with(|_| {}).await;

    app.supervisor.inject_fault("revocation watcher");

    restarted(&app, "revocation watcher", 1).await;
}

/// PostgreSQL only (SQLite is a file in the process): every connection of the database is
/// cut again and again for two seconds; afterwards the engine takes events and handles them.
#[tokio::test]
async fn the_engine_goes_on_after_the_database_was_unreachable_for_a_while() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app_with(|_| {}).await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let storefront = app.create_key("STOREFRONT").await;
    app.record(&storefront, login("e-1")).await;
    app.processed("e-1").await;

    let admin = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    let cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
               WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        admin
            .execute_unprepared(cut)
            .await
            .expect("connections cut");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = app
            .graphql(
                Some(&storefront),
                "mutation($e: [EventInput!]!) { recordEvents(events: $e) { results { duplicate } } }",
                json!({ "e": login("e-2") }),
            )
            .await;
        if response.get("errors").is_none() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{response}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.processed("e-2").await;
    assert!(app.supervisor.tasks().values().all(|t| t.running));
}
