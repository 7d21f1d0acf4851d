//! Deleting a customer erases them: personal data goes, the message history stays without
//! it, staff messages stay with their own recipient, unsent messages are never sent.

use crate::helpers::{TestApp, ev, spawn_app_with};
use chrono::TimeZone;
use serde_json::{Value, json};
use std::time::Duration;

const HISTORY: &str = "{ deliveries(first: 50) { edges { node { id purpose status reason customerId recipient subject bodyHtml bodyText providerId attempts { outcome detail } } } } }";

async fn history(app: &TestApp) -> Vec<Value> {
    let data = app.admin_data(HISTORY, json!({})).await;
    data["deliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn settled(app: &TestApp, count: usize, queued: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = history(app).await;
        let waiting = list.iter().filter(|d| d["status"] == "QUEUED").count();
        let done = list
            .iter()
            .filter(|d| d["status"] == "SENT" || d["status"] == "QUEUED")
            .count();
        if list.len() == count && done == count && waiting == queued {
            return list;
        }
        assert!(std::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn deleting_a_customer_erases_personal_data_and_keeps_history_without_it() {
    let app = spawn_app_with(|s| {
        s.delivery.poll = Duration::from_millis(20);
        s.delivery.email_cap = None;
        s.delivery.sms_cap = None;
        s.store.staff_email = Some("staff@shop.example".into());
    })
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let customer = app
        .create_customer(json!({
            "externalId": "ann",
            "email": "ann@example.com",
            "firstName": "Ann",
            "emailConsent": { "granted": true, "source": "checkout" }
        }))
        .await;
    app.create_action(json!({
        "name": "On login",
        "trigger": "LOGGED_IN",
        "effects": [
            { "sendEmail": { "subject": "Hi {{ customer.first_name }}", "bodyHtml": "<p>Hello {{ customer.email }}</p>", "bodyText": "Hello {{ customer.email }}" } },
            { "notifyStaff": { "subject": "{{ customer.email }} logged in", "bodyText": "{{ customer.first_name }}" } }
        ],
        "repeat": { "kind": "EVERY_TIME" }
    }))
    .await;
    // At noon both go out; at 23:00 (quiet hours) the marketing email waits for the morning.
    let login = |id: &str, at: &str| ev(id, "ann", at, json!({ "loggedIn": true }));
    app.record(&storefront, json!([login("e-1", "2026-11-22T12:00:00Z")]))
        .await;
    app.processed("e-1").await;
    settled(&app, 2, 0).await;
    app.clock.set(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 23, 0, 0)
            .unwrap(),
    );
    app.record(&storefront, json!([login("e-2", "2026-11-22T23:00:00Z")]))
        .await;
    app.processed("e-2").await;
    let before = settled(&app, 4, 1).await;
    assert!(before.iter().any(|d| {
        d["bodyText"]
            .as_str()
            .is_some_and(|t| t.contains("ann@example.com"))
    }));
    app.admin_data(
        "mutation($c: String!) { addSuppression(channel: EMAIL, address: $c) { userErrors { code } } }",
        json!({ "c": "ann@example.com" }),
    )
    .await;

    let deleted = app
        .admin_data(
            "mutation($id: ID!) { deleteCustomer(id: $id) { deletedCustomerId userErrors { code } } }",
            json!({ "id": customer }),
        )
        .await;
    // The morning comes: nothing more is sent to the erased customer.
    app.clock
        .set(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = history(&app).await;
    let event = app
        .admin_data("{ event(eventId: \"e-1\") { eventId } }", json!({}))
        .await;
    let suppressed = app
        .admin_data(
            "{ suppressions(channel: EMAIL) { edges { node { address } } } }",
            json!({}),
        )
        .await;

    assert_eq!(
        deleted["deleteCustomer"]["deletedCustomerId"],
        json!(customer)
    );
    assert_eq!(after.len(), 4, "the history stays: {after:?}");
    let text = serde_json::to_string(&after).expect("json");
    assert!(!text.contains("ann@example.com"), "{text}");
    assert!(!text.contains("Ann"), "{text}");
    for delivery in &after {
        assert_eq!(delivery["customerId"], Value::Null);
        assert_eq!(delivery["subject"], Value::Null);
        assert_eq!(delivery["bodyText"], Value::Null);
        assert_eq!(delivery["providerId"], Value::Null);
    }
    let staff: Vec<&Value> = after.iter().filter(|d| d["purpose"] == "staff").collect();
    assert_eq!(staff.len(), 2);
    assert!(
        staff
            .iter()
            .all(|d| d["recipient"] == "staff@shop.example" && d["status"] == "SENT")
    );
    let marketing: Vec<(&str, Value)> = after
        .iter()
        .filter(|d| d["purpose"] == "marketing")
        .map(|d| {
            (
                d["status"].as_str().unwrap_or_default(),
                d["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        marketing,
        vec![
            ("SENT", Value::Null),
            ("SKIPPED", json!("the customer was erased"))
        ]
    );
    assert_eq!(event["event"], Value::Null);
    assert_eq!(
        suppressed["suppressions"]["edges"][0]["node"]["address"], "ann@example.com",
        "an unsubscribe outlives the erasure"
    );
}
